import assert from 'node:assert/strict';
import { BatchFailed, defaultRunId, discardRun, runBatch, activateRunChecked, qualityGate, type BatchResult } from '../../offline/batch/batch-pipeline.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const AS_OF = '2026-03-08T00:00:00.000Z';

describe('offline batch pipeline (local lake → embedded Cosmos)', function () {
  this.timeout(60_000);
  let cosmos: TestCosmos;
  let store: PredictionStore;
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let lakeData: Awaited<ReturnType<typeof writeSyntheticLake>>;
  let first: BatchResult;
  const firstStages = new Set<string>();

  before(async () => {
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    fx = await tempLake();
    lakeData = await writeSyntheticLake(fx.lake, fx.dir, { customers: 600, vehicles: 200, days: 7, asOf: AS_OF });
    // The active run every test starts from, made here (not by a test: each test runs on its own).
    first = await runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 20, threads: 2, verifyStoredCount: true, onProgress: (s) => firstStages.add(s) });
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  it('runs read → train → evaluate → score → write → gate → activate, one doc per customer', async () => {
    const r = first;
    const stages = firstStages;
    assert.equal(r.activated, true);
    assert.equal(r.run.status, 'succeeded');
    assert.deepEqual([...stages], ['read', 'train', 'evaluate', 'score', 'write', 'gate', 'activate']);
    assert.equal((await store.getActiveRun('item-knn'))?.runId, r.run.runId);
    const customers = new Set(lakeData.events.filter((e) => e.customerId && e.vehicleId).map((e) => e.customerId!));
    assert.equal(r.run.counts.customers, customers.size);
    assert.equal(await store.countPredictions('item-knn', r.run.runId), customers.size);
    assert.equal(r.run.counts.predictionsStored, customers.size);
    assert.ok(r.run.metrics && r.run.metrics.customers > 0 && r.run.metrics.ndcg > 0);
    assert.ok(r.run.baselineMetrics);
    assert.ok(r.run.popularity && r.run.popularity.overall.length > 0);
    for (const k of ['read', 'train', 'evaluate', 'score', 'write', 'gate', 'activate'] as const) assert.equal(typeof r.run.timings[k], 'number', k);
    // No sold vehicle, nothing the customer bought or hid, no duplicates.
    const blocked = new Map<string, Set<string>>();
    for (const e of lakeData.events) {
      if ((e.type === 'purchase' || e.type === 'hide') && e.customerId) {
        const s = blocked.get(e.customerId) ?? new Set();
        s.add(e.vehicleId!);
        blocked.set(e.customerId, s);
      }
    }
    let checked = 0;
    for (const c of [...customers].slice(0, 80)) {
      const doc = await store.getPrediction('item-knn', r.run.runId, c);
      assert.ok(doc, `doc for ${c}`);
      assert.equal(doc.items.length, 20);
      assert.equal(new Set(doc.items.map((i) => i.vehicleId)).size, 20);
      for (const it of doc.items) {
        assert.ok(!lakeData.sold.has(it.vehicleId), `${c} got sold ${it.vehicleId}`);
        assert.ok(!blocked.get(c)?.has(it.vehicleId), `${c} got bought/hidden ${it.vehicleId}`);
      }
      checked++;
    }
    assert.equal(checked, 80);
    const nb = await store.listNeighbors('item-knn', r.run.runId);
    assert.ok(nb.length >= 200 - lakeData.sold.size);
    const withAttrs = nb.find((d) => d.neighbors.length > 0)!;
    assert.ok(withAttrs.vehicle?.make && withAttrs.neighbors.length <= 50);
  });

  it('is idempotent by runId: a re-run of a succeeded run changes nothing', async () => {
    const r = await runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 20, threads: 0 });
    assert.equal(r.alreadyDone, true);
    assert.equal(r.run.runId, first.run.runId);
    assert.match(r.run.runId, /^2026-03-08-[0-9a-f]{8}$/);
    assert.notEqual(defaultRunId('item-knn', AS_OF, 7, 20, { similarity: 'jaccard' }), defaultRunId('item-knn', AS_OF, 7, 20, {}));
  });

  it('a run failing the quality gate is not activated; the previous run stays active', async () => {
    // Make the active run look much better than any candidate can be.
    await store.putRun({ ...first.run, metrics: { ...first.run.metrics!, ndcg: 0.99 } });
    await assert.rejects(
      runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 20, threads: 0, runId: 'gate-fail' }),
      (e) => e instanceof BatchFailed && /quality gate failed: nDCG/.test(e.message),
    );
    const failed = await store.getRun('item-knn', 'gate-fail');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.gate?.passed, false);
    assert.equal((await store.getActiveRun('item-knn'))?.runId, first.run.runId);
    await assert.rejects(activateRunChecked(store, 'item-knn', 'gate-fail'), /only a succeeded run/);
    await store.putRun(first.run);
    const d = await discardRun(store, 'item-knn', 'gate-fail');
    assert.ok(d.deleted > 0);
    assert.equal((await store.getRun('item-knn', 'gate-fail'))?.status, 'discarded');
    assert.equal(await store.countPredictions('item-knn', 'gate-fail'), 0);
    await assert.rejects(runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 20, threads: 0, runId: 'gate-fail' }), /discarded/);
  });

  it('an empty window fails with a clear message and activates nothing', async () => {
    await assert.rejects(
      runBatch({ lake: fx.lake, store, asOf: '2026-01-01T00:00:00Z', lookbackDays: 7, threads: 0, runId: 'empty' }),
      (e) => e instanceof BatchFailed && /no vehicle catalog|no event files/.test(e.message),
    );
    assert.equal((await store.getRun('item-knn', 'empty'))?.status, 'failed');
    assert.equal((await store.getActiveRun('item-knn'))?.runId, first.run.runId);
  });

  it('a candidate that evaluated nobody fails the gate against an active run with metrics; force activates it and records so', async () => {
    const base = { lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 20, threads: 0, runId: 'no-eval', evaluationCustomers: 0 } as const;
    await assert.rejects(runBatch(base), (e) => e instanceof BatchFailed && /quality gate failed: the candidate evaluated no customer/.test(e.message));
    const failed = await store.getRun('item-knn', 'no-eval');
    assert.equal(failed?.metrics?.customers, 0, 'the candidate evaluated nobody');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.gate?.passed, false);
    assert.equal(failed?.gate?.forced, undefined);
    assert.match(failed?.gate?.reasons.join('; ') ?? '', new RegExp(`customers = 0\\) but the active run ${first.run.runId} did \\(${first.run.metrics!.customers}\\): nDCG and coverage cannot be compared`));
    assert.match(failed?.error ?? '', /quality gate failed/);
    assert.equal((await store.getActiveRun('item-knn'))?.runId, first.run.runId, 'the previous run stays active');

    const forced = await runBatch({ ...base, force: { reason: 'held-out day empty after the outage' } });
    assert.equal(forced.activated, true);
    const record = await store.getRun('item-knn', 'no-eval');
    assert.equal(record?.status, 'succeeded');
    assert.deepEqual(record?.gate, { passed: false, reasons: failed?.gate?.reasons, forced: true, reason: 'held-out day empty after the outage' });
    assert.equal((await store.getActiveRun('item-knn'))?.runId, 'no-eval');
    await activateRunChecked(store, 'item-knn', first.run.runId);
  });

  it('shards: each shard writes its customers, the last one finalizes', async () => {
    const base = { lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 10, threads: 0, model: 'popularity', runId: 'sharded' } as const;
    const a = await runBatch({ ...base, shard: { k: 1, n: 2 } });
    assert.equal(a.waitingForShards, true);
    assert.equal(await store.getActiveRun('popularity'), undefined);
    const b = await runBatch({ ...base, shard: { k: 0, n: 2 } });
    assert.equal(b.waitingForShards, false);
    assert.equal(b.activated, true);
    assert.equal(await store.countPredictions('popularity', 'sharded'), b.run.counts.customers);
  });

  it('shards run at the same time: none of their run-record updates is lost and exactly one finalizes', async () => {
    const base = { lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 10, threads: 0, model: 'popularity', runId: 'sharded-together' } as const;
    const results = await Promise.all([0, 1, 2].map((k) => runBatch({ ...base, shard: { k, n: 3 } })));
    assert.equal(results.filter((r) => !r.waitingForShards).length, 1, JSON.stringify(results.map((r) => r.run.shards)));
    const record = await store.getRun('popularity', 'sharded-together');
    assert.deepEqual(record?.shards, { total: 3, done: [0, 1, 2] });
    assert.equal(record?.status, 'succeeded');
    assert.equal(record?.counts.predictionsWritten, record?.counts.customers);
    assert.equal([0, 1, 2].reduce((s, k) => s + (record?.counts[`predictions_shard${k}`] ?? 0), 0), record?.counts.customers);
    assert.ok((record?.counts.neighboursWritten ?? 0) > 0 && record?.popularity, 'shard 0’s neighbours and popularity lists kept');
  });

  it('the gate compares with the active run within tolerances', () => {
    const m = (ndcg: number, coverage: number) => ({ k: 10, precision: 0, recall: 0, ndcg, map: 0, coverage, customers: 5 });
    const run = (ndcg: number, coverage: number) => ({ ...first.run, runId: 'x', counts: { predictionsWritten: 5, distinctRecommended: 3, forSale: 10 }, metrics: m(ndcg, coverage) });
    const tol = { gateNdcgTolerance: 0.1, gateCoverageTolerance: 0.2 };
    assert.equal(qualityGate(run(0.091, 0.5), run(0.1, 0.5), tol).passed, true);
    assert.equal(qualityGate(run(0.089, 0.5), run(0.1, 0.5), tol).passed, false);
    assert.equal(qualityGate(run(0.1, 0.39), run(0.1, 0.5), tol).passed, false);
    assert.equal(qualityGate(run(0, 0), undefined, tol).passed, true, 'first run: sanity only');
    assert.equal(qualityGate({ ...run(0.1, 0.5), counts: { predictionsWritten: 0 } }, undefined, tol).passed, false);
    // A candidate that evaluated nobody cannot be compared with an active run that did.
    const { metrics: _m, ...unevaluated } = run(0.1, 0.5);
    assert.deepEqual(qualityGate(unevaluated, run(0.1, 0.5), tol), { passed: false, reasons: ['the candidate evaluated no customer (no metrics) but the active run x did (5): nDCG and coverage cannot be compared'] });
    assert.equal(qualityGate({ ...run(0.1, 0.5), metrics: { ...m(0, 0), customers: 0 } }, run(0.1, 0.5), tol).passed, false);
    assert.equal(qualityGate(unevaluated, { ...run(0.1, 0.5), metrics: { ...m(0.1, 0.5), customers: 0 } }, tol).passed, true, 'neither evaluated anybody: sanity only');
    assert.equal(qualityGate(unevaluated, unevaluated, tol).passed, true);
  });
});
