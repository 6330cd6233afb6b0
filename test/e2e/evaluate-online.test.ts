import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { FreshnessAccumulator, gainAt } from '../../scripts/evaluate-online/freshness-metrics.js';
import type { OnlineEvaluationReport } from '../../scripts/evaluate-online/evaluate-online.js';

const run = promisify(execFile);

describe('showroom evaluate --online (freshness lift)', function () {
  this.timeout(90_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'showroom-eval-online-'));
    await generateDataset({ customers: 200, vehicles: 80, days: 3, seed: 11, end: '2026-03-04', lake: new LocalLake(join(dir, 'lake')), stagingDir: dir });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('metrics: gain at rank, hit rate, lift, warm rows', () => {
    assert.equal(gainAt(['a', 'b', 'c'], 'a', 10), 1);
    assert.equal(gainAt(['a', 'b', 'c'], 'b', 10), 1 / Math.log2(3));
    assert.equal(gainAt(['a', 'b', 'c'], 'c', 2), 0);
    const acc = new FreshnessAccumulator(2);
    acc.add('lead', 'x', ['x'], ['x'], false);
    acc.add('lead', 'y', [], ['z', 'y'], true);
    acc.add('view', 'y', ['a'], ['b'], false);
    const rows = new Map(acc.rows().map((r) => [r.type, r]));
    assert.equal(rows.get('lead')!.requests, 2);
    assert.equal(rows.get('lead')!.precomputed.hitRate, 0.5);
    assert.equal(rows.get('lead')!.reranked.hitRate, 1);
    assert.equal(rows.get('engaged')!.lift.hitRate, 2);
    assert.equal(rows.get('engaged, warm')!.requests, 1);
    assert.equal(rows.get('all')!.requests, 3);
    assert.equal(rows.get('view')!.lift.hitRate, null);
  });

  it('runs unassisted on the embedded stack and reports the lift with request counts', async () => {
    const env = { ...process.env, LAKE_URL: `file://${join(dir, 'lake')}`, SHOWROOM_DATA_DIR: join(dir, 'data'), SHOWROOM_LOG_LEVEL: 'error' };
    const { stdout } = await run('npx', ['tsx', 'scripts/cli.ts', 'evaluate', '--online', '--k', '10', '--max-customers', '25', '--lookback-days', '30', '--json'], { env, maxBuffer: 1 << 24 });
    const r = JSON.parse(stdout) as OnlineEvaluationReport;
    assert.equal(r.trainDay, '2026-03-03');
    assert.equal(r.testDay, '2026-03-04');
    assert.equal(r.embedded, true);
    assert.ok(r.customers > 0 && r.customers <= 25);
    const rows = new Map(r.rows.map((x) => [x.type, x]));
    const engaged = rows.get('engaged')!;
    const all = rows.get('all')!;
    assert.ok(engaged.requests > 0, 'engaged requests');
    assert.equal(all.requests, r.requests);
    assert.ok(engaged.reranked.hitRate > engaged.precomputed.hitRate, `engaged hit@10: re-ranked ${engaged.reranked.hitRate} vs precomputed ${engaged.precomputed.hitRate}`);
    assert.ok(all.reranked.ndcg > all.precomputed.ndcg);
  });
});
