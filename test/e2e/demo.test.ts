import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** tsx's loader as an absolute URL, so the child resolves it whatever its working directory. */
const tsxLoader = pathToFileURL(createRequire(path.join(root, 'package.json')).resolve('tsx')).href;

describe('showroom demo (e2e)', function () {
  this.timeout(240_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'showroom-demo-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates data, runs a batch, serves recommendations and stops cleanly on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, path.join(root, 'scripts/cli.ts'), 'demo', '--customers', '400', '--vehicles', '150', '--days', '4', '--json'],
      {
        cwd: dir,
        env: {
          ...process.env,
          PORT: '0',
          SHOWROOM_DATA_DIR: path.join(dir, 'data'),
          LAKE_URL: `file://${path.join(dir, 'data', 'lake')}`,
          SHOWROOM_REDIS_PREFIX: `e2e-demo-${process.pid}-${Date.now()}:`,
          SHOWROOM_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 200_000;
      while (!stdout.includes('\n')) {
        if (child.exitCode !== null) assert.fail(`demo exited early (${child.exitCode}): ${stderr.slice(-2000)}`);
        if (Date.now() > deadline) assert.fail(`demo not ready: ${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const summary = JSON.parse(stdout.split('\n')[0]!) as { ok: boolean; url: string; runId: string; generated: boolean };
      assert.equal(summary.ok, true);
      assert.equal(summary.generated, true);
      assert.ok(summary.runId);

      const health = await fetch(`${summary.url}/healthz`);
      assert.equal(health.status, 200);
      const board = await fetch(`${summary.url}/admin/queues`);
      assert.equal(board.status, 200);
      assert.match(await board.text(), /showroom queues|bull/i);
      const recs = await fetch(`${summary.url}/v1/customers/c-001/recommendations?limit=5`);
      assert.equal(recs.status, 200);
      const body = (await recs.json()) as { runId: string; items: { vehicleId: string }[] };
      assert.equal(body.runId, summary.runId);
      assert.equal(body.items.length, 5);
    } finally {
      child.kill('SIGINT');
      // Wait for the exit either way, so the data folder is not removed under a running demo.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    assert.equal(await exited, 0, stderr.slice(-2000));
  });
});
