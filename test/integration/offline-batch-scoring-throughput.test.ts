import assert from 'node:assert/strict';
import { loadStage, runBatch } from '../../offline/batch/batch-pipeline.js';
import { ComputePool } from '../../offline/batch/compute-pool.js';
import type { ScoreResult } from '../../offline/batch/compute-tasks.js';
import { getModel } from '../../offline/models/registry.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { benchOffline } from '../../scripts/bench/offline-bench.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const AS_OF = '2026-03-08T00:00:00.000Z';

// Issue 3: scoring throughput measured on its own (not the pipelined write rate), and the write
// stage against a bare bulk upsert of as many documents, bracketing the run in the same server.
describe('offline batch: scoring throughput and the write-stage ceiling', function () {
  this.timeout(120_000);
  let cosmos: TestCosmos;
  let store: PredictionStore;
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let lakeData: Awaited<ReturnType<typeof writeSyntheticLake>>;
  let customers: string[];

  before(async () => {
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    fx = await tempLake();
    lakeData = await writeSyntheticLake(fx.lake, fx.dir, { customers: 500, vehicles: 150, days: 7, asOf: AS_OF });
    customers = [...new Set(lakeData.events.filter((e) => e.customerId && e.vehicleId).map((e) => e.customerId!))].sort();
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  for (const threads of [2, 0]) {
    it(`records the scoring work in the run's counts (threads: ${threads})`, async () => {
      const topN = 15;
      const r = await runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN, threads, runId: `scoring-${threads}`, activate: false });
      const c = r.run.counts;
      assert.equal(c.customers, customers.length);
      assert.equal(c.scoreThreads, threads === 0 ? 1 : threads);
      assert.ok(c.scoreTaskMs !== undefined && c.scoreTaskMs >= 0, `scoreTaskMs ${c.scoreTaskMs}`);
      assert.ok(c.scoreInitMs !== undefined && c.scoreInitMs >= 0);
      if (process.platform === 'linux') {
        assert.ok(c.scoreCpuMs !== undefined, 'thread CPU time recorded on Linux');
        // One thread's CPU time within a task cannot exceed the task's elapsed time, up to the
        // scheduler's accounting granularity: a running thread's schedstat is brought up to date at
        // ticks and switches, so a read can include a few ms of the slice before the task began.
        assert.ok(c.scoreCpuMs <= c.scoreTaskMs! + 15, `cpu ${c.scoreCpuMs} ≤ elapsed ${c.scoreTaskMs} (+ 15 ms of accounting granularity)`);
      }
      const basis = c.scoreInitMs! + (c.scoreCpuMs ?? c.scoreTaskMs!);
      // Customers per second of that work (the formula itself: test/unit/offline-throughput.test.ts).
      assert.ok(Math.abs(c.scoringPerSec! * Math.max(1, basis) - c.customers! * 1000) <= Math.max(1, basis) / 2, `${c.scoringPerSec}/s for ${c.customers} customers in ${basis} ms`);
      assert.ok(c.scoringPerSec! > 0 && Number.isFinite(c.scoringPerSec));
      // The write window lies within the pipelined stage.
      assert.ok(c.writeWindowMs !== undefined && c.writeWindowMs > 0 && c.writeWindowMs <= c.scoreWriteMs!, `window ${c.writeWindowMs} of ${c.scoreWriteMs}`);
      // predictionItems is the sum of the stored lists' lengths.
      let items = 0;
      for (const customerId of customers) items += (await store.getPrediction('item-knn', r.run.runId, customerId))?.items.length ?? 0;
      assert.equal(c.predictionItems, items);
      assert.ok(items > 0 && items <= customers.length * topN);
    });
  }

  it('times each score task in its worker thread (elapsed and CPU)', async () => {
    const data = await loadStage(fx.lake, AS_OF, 7);
    const model = getModel('item-knn');
    const artefact = model.train(data, model.defaultParams);
    const pool = new ComputePool(1);
    try {
      await pool.run(0, { op: 'initScorer', model: model.name, modules: model.module ? [model.module] : [], artefact, data, params: model.defaultParams });
      const all = Int32Array.from(data.customerIds, (_, i) => i);
      const res = await pool.run<ScoreResult>(0, { op: 'score', customers: all, k: 10 });
      assert.equal(res.counts.length, all.length);
      assert.ok(res.ms > 0, `elapsed ${res.ms}`);
      if (process.platform === 'linux') {
        assert.ok(res.cpuMs !== undefined && res.cpuMs > 0, `cpu ${res.cpuMs}`);
        assert.ok(res.cpuMs <= res.ms, `cpu ${res.cpuMs} ≤ elapsed ${res.ms}`);
      }
    } finally {
      await pool.close();
    }
  });

  it('benchOffline: scoring on its own, bare upsert of as many documents bracketing the run', async () => {
    const stages: string[] = [];
    const vehicleIds = lakeData.vehicles.map((v) => v.vehicleId);
    const b = await benchOffline({ lake: fx.lake, store, asOf: AS_OF, runId: 'bench-h3', customerIds: customers, vehicleIds, topN: 20, onStage: (s) => stages.push(s) });
    assert.equal(b.activated, true);
    assert.equal(b.predictionsWritten, customers.length);
    assert.equal(b.bareDocuments, customers.length, 'the bare upsert writes as many documents as the run');
    const runAt = stages.indexOf('batch run');
    assert.ok(stages.findIndex((s) => s.startsWith('bare bulk upsert, first half')) < runAt);
    assert.ok(stages.findIndex((s) => s.startsWith('bare bulk upsert, second half')) > runAt);
    assert.ok(b.bareBeforePerSec > 0 && b.bareAfterPerSec > 0 && b.bareUpsertPerSec > 0);
    // Both halves are stored (ids `<runId>-bare`), first and last customer.
    assert.ok(await store.getPrediction('item-knn', 'bench-h3-bare', customers[0]!));
    assert.ok(await store.getPrediction('item-knn', 'bench-h3-bare', customers[customers.length - 1]!));
    assert.ok(b.scoringPerSec > 0);
    assert.equal(b.scoringBasis, process.platform === 'linux' ? 'thread-cpu' : 'task-elapsed');
    assert.equal(b.scoringThreads, 2);
    assert.ok(b.scoringElapsedPerSec > 0 && b.scoringElapsedPerSec <= b.scoringPerSec + 1);
    assert.ok(b.documentsPerSec >= b.customersPerSec, 'the write window is within the score + write stage');
    // The ratio of the two reported rates, to 3 decimals (not the bench's rounding recomputed).
    assert.ok(Math.abs(b.writeRatio - b.documentsPerSec / b.bareUpsertPerSec) <= 0.0005 + 1e-9, `ratio ${b.writeRatio} of ${b.documentsPerSec}/${b.bareUpsertPerSec}`);
    assert.ok(b.itemsPerDocument > 0 && b.itemsPerDocument <= 20);
    assert.ok(b.documentBytes.run !== undefined && b.documentBytes.bare > 0);
  });
});
