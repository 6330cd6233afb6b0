import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCommandResult } from '../../scripts/commands/bench-command.js';

/** What CI runs: `showroom bench --size small --check` — a broken benchmark fails, the numbers are not judged. */
describe('showroom bench --size small --check (CLI)', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'showroom-bench-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures every figure next to its ceiling, prints JSON and writes the results files', async () => {
    const out = join(dir, 'results');
    const { stdout } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/cli.ts', 'bench', '--size', 'small', '--check', '--json', '--out', out],
        { env: { ...process.env, SHOWROOM_DATA_DIR: join(dir, 'data'), SHOWROOM_LOG_LEVEL: 'warn' }, maxBuffer: 1 << 26 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(-3000)}`)) : resolve({ stdout, stderr })),
      );
    });
    const r = JSON.parse(stdout) as BenchCommandResult;
    assert.deepEqual(r.missing, []);
    assert.equal(r.size, 'small');
    for (const group of ['serving', 'ingest', 'event log', 'sink', 'offline', 'freshness', 'memory']) {
      assert.ok(r.rows.some((x) => x.group === group), `a ${group} row`);
    }
    for (const row of r.rows) assert.ok(Number.isFinite(row.value), `${row.measure}: ${row.value}`);
    const withCeiling = r.rows.filter((x) => x.ceiling !== undefined);
    assert.ok(withCeiling.length >= 5);
    for (const row of withCeiling) assert.ok(row.ceiling! > 0 && Number.isFinite(row.ratio!), row.measure);
    assert.ok(r.raw.serving.recommendationsMax.total > 0 && r.raw.serving.recommendationsMax.non2xx === 0, 'recommendations answered 200');
    assert.ok(r.raw.offline.activated && r.raw.offline.predictionsWritten > 0, 'the batch run wrote and activated');
    assert.ok(r.machine.cores > 0 && r.machine.cpuModel.length > 0 && r.machine.node.startsWith('v'));
    const files = (await readdir(out)).sort();
    assert.equal(files.length, 2);
    assert.match(files[0]!, /^\d{4}-\d{2}-\d{2}-.+-small\.json$/);
    assert.match(await readFile(join(out, files[1]!), 'utf8'), /\| serving \| GET recommendations p99/);
    // the lake is cached for the next run
    assert.ok((await readdir(join(dir, 'data', 'bench', 'lake-small'))).includes('bench-lake.json'));
  });
});
