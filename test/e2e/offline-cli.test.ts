import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const run = promisify(execFile);
const AS_OF = '2026-03-08';

describe('showroom import / evaluate / batch run / runs (CLI)', function () {
  this.timeout(90_000);
  let cosmos: TestCosmos;
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    cosmos = await startTestCosmos();
    fx = await tempLake();
    await writeSyntheticLake(fx.lake, fx.dir, { customers: 300, vehicles: 100, days: 7, asOf: `${AS_OF}T00:00:00Z`, seed: 5 });
    env = { ...process.env, LAKE_URL: `file://${fx.lake.root}`, COSMOS_ENDPOINT: cosmos.endpoint, COSMOS_KEY: cosmos.key, SHOWROOM_COSMOS_DATABASE: cosmos.database, SHOWROOM_LOG_LEVEL: 'warn' };
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  const cli = (args: string[]) => run('npx', ['tsx', 'scripts/cli.ts', ...args], { env, maxBuffer: 1 << 24 });

  it('batch run --json activates a run that runs list shows as active; bad flags exit 2', async () => {
    const { stdout } = await cli(['batch', 'run', '--as-of', AS_OF, '--lookback-days', '7', '--top-n', '10', '--threads', '0', '--json']);
    const result = JSON.parse(stdout) as { activated: boolean; run: { runId: string; status: string } };
    assert.equal(result.activated, true);
    assert.equal(result.run.status, 'succeeded');
    const list = JSON.parse((await cli(['runs', 'list', '--json'])).stdout) as { runId: string; active: boolean }[];
    assert.deepEqual(list.map((r) => [r.runId, r.active]), [[result.run.runId, true]]);
    await assert.rejects(cli(['batch', 'run', '--shard', '3/2']), (e: { code?: number; stderr?: string }) => e.code === 2 && /--shard/.test(e.stderr ?? ''));
  });

  it('import reports rejected lines and evaluate prints metrics for both models', async () => {
    const file = join(fx.dir, 'more.csv');
    await writeFile(file, 'user,item,ts\nc000001,v00001,1772841600\nc000002,,1772841600\n');
    const imp = await cli(['import', file, '--map', 'customerId=user,vehicleId=item,occurredAt=ts:unix', '--type', 'view', '--json']).catch((e: { stdout: string }) => e);
    const report = JSON.parse(imp.stdout) as { imported: number; rejects: { line: number }[] };
    assert.equal(report.imported, 1);
    assert.deepEqual(report.rejects.map((r) => r.line), [3]);
    const ev = JSON.parse((await cli(['evaluate', '--protocol', 'stratified', '--as-of', AS_OF, '--lookback-days', '7', '--json'])).stdout) as { results: { model: string; metrics: { ndcg: number } }[] };
    assert.deepEqual(ev.results.map((r) => r.model), ['item-knn', 'popularity']);
    assert.ok(ev.results[0]!.metrics.ndcg > ev.results[1]!.metrics.ndcg);
  });
});
