import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { FreshnessAccumulator, gainAt } from '../../scripts/evaluate-online/freshness-metrics.js';
import { formatOnlineEvaluation, type OnlineEvaluationReport } from '../../scripts/evaluate-online/evaluate-online.js';

const run = promisify(execFile);

describe('showroom evaluate --online (freshness lift)', function () {
  this.timeout(180_000); // a batch run and a replay through the API; slow on a shared machine
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
    // Rank 2 (0-based 1): 1 / log2(3) = 0.6309297535714575, worked out by hand, not by the code's formula.
    assert.ok(Math.abs(gainAt(['a', 'b', 'c'], 'b', 10) - 0.6309297535714575) < 1e-12);
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
    assert.ok(r.rows.every((x) => x.measure === 're-engagement'));

    // Discovery (the headline): requests for vehicles the customer never engaged with, a subset of all requests.
    const discovery = new Map(r.discovery.map((x) => [x.type, x]));
    const d = discovery.get('all')!;
    assert.ok(r.discovery.every((x) => x.measure === 'discovery'));
    assert.ok(d.requests > 0 && d.requests < all.requests, `discovery requests ${d.requests} of ${all.requests}`);
    assert.equal(d.requests, (discovery.get('engaged')?.requests ?? 0) + (discovery.get('view')?.requests ?? 0));
    for (const x of [d.precomputed, d.reranked, d.asServed]) assert.ok(x.hitRate >= 0 && x.hitRate <= 1 && x.ndcg >= 0 && x.ndcg <= x.hitRate);
    assert.ok(d.reranked.hitRate > d.precomputed.hitRate, `discovery hit@10: re-ranked ${d.reranked.hitRate} vs precomputed ${d.precomputed.hitRate}`);
    // As served, already-engaged vehicles can only take places of the top 10.
    assert.ok(d.asServed.hitRate <= d.reranked.hitRate);
    // The served share of already-engaged vehicles: at most the policy's cap (2 by default) per list (each
    // customer's profile starts with their earlier events, so the re-ranker knows what they engaged with).
    assert.ok(r.servedEngaged !== null && r.servedEngaged.mean > 0 && r.servedEngaged.mean <= 2, JSON.stringify(r.servedEngaged));
    for (const x of [...r.rows, ...r.discovery]) assert.ok(x.requests === 0 || (x.servedEngaged !== null && x.servedEngaged <= 2), `${x.measure} ${x.type}: ${x.servedEngaged}`);
    assert.ok(r.earlierEvents > 0);
    assert.equal(r.servedEngaged.share, r.servedEngaged.mean / 10);
    assert.ok(d.servedEngaged !== null && all.servedEngaged !== null);
  });

  it('prints the discovery rows first, then the re-engagement rows, with the served share', () => {
    const row = (measure: 'discovery' | 're-engagement', type: string) => ({ measure, type, requests: 4, coldStart: 0, precomputed: { hitRate: 0.25, ndcg: 0.25 }, reranked: { hitRate: 0.5, ndcg: 0.5 }, asServed: { hitRate: 0.5, ndcg: 0.4 }, lift: { hitRate: 2, ndcg: 2 }, servedEngaged: 1.5 });
    const text = formatOnlineEvaluation({ model: 'item-knn', runId: 'r', trainDay: '2026-03-03', testDay: '2026-03-04', k: 10, url: 'http://x', embedded: true, customers: 1, events: 4, earlierEvents: 0, inventoryEvents: 0, requests: 4, discovery: [row('discovery', 'all')], rows: [row('re-engagement', 'all')], servedEngaged: { mean: 1.5, share: 0.15 }, seconds: 1 });
    const lines = text.split('\n');
    const first = lines.findIndex((l) => l.startsWith('discovery '));
    const second = lines.findIndex((l) => l.startsWith('re-engagement '));
    assert.ok(first > 0 && second > first, text);
    assert.match(text, /1\.50 of 10 \(15\.0 %\)/);
  });
});
