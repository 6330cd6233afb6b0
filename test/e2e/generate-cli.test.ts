import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';

const run = promisify(execFile);

describe('showroom generate (CLI)', function () {
  this.timeout(90_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'showroom-generate-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cli = (args: string[]) => run('npx', ['tsx', 'scripts/cli.ts', 'generate', ...args], { env: { ...process.env, SHOWROOM_LOG_LEVEL: 'warn' }, maxBuffer: 1 << 24 });

  it('--json writes the lake under --out and prints counts that DuckDB confirms', async () => {
    const out = join(dir, 'lake');
    const { stdout } = await cli(['--customers', '300', '--vehicles', '80', '--days', '2', '--seed', '3', '--end', '2026-03-02', '--out', out, '--json']);
    const r = JSON.parse(stdout) as { customers: number; events: number; eventsByType: Record<string, number>; files: number; bytes: number; seconds: number; start: string; end: string };
    assert.equal(r.customers, 300);
    assert.equal(r.start, '2026-03-01');
    assert.equal(r.end, '2026-03-02');
    assert.ok(r.events > 1000 && r.bytes > 0 && r.seconds >= 0, stdout);
    assert.deepEqual(await readdir(join(out, 'vehicles')), ['date=2026-03-01', 'date=2026-03-02', 'date=2026-03-03']);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const n = (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${out}/events/*/*/*.parquet', hive_partitioning = false)`)).getRowObjectsJson();
      assert.equal(n[0]!.n, r.events);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });

  it('exits 2 naming the flag on a bad --end', async () => {
    await assert.rejects(cli(['--end', '2026-02-30T10:00:00Z', '--out', join(dir, 'bad')]), (e: { code?: number; stderr?: string }) => e.code === 2 && /--end/.test(e.stderr ?? ''));
  });
});
