import assert from 'node:assert/strict';
import { BatchFailed, runBatch } from '../../offline/batch/batch-pipeline.js';
import type { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { isBulkRequest, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { tempLake, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const AS_OF = '2026-03-08T00:00:00.000Z';

describe('offline batch run under Cosmos faults (429, dropped connections)', function () {
  this.timeout(60_000);
  let cosmos: TestCosmos;
  let direct: CosmosPredictionStore;
  let proxy: FaultProxy | undefined;
  let fx: Awaited<ReturnType<typeof tempLake>>;

  before(async () => {
    cosmos = await startTestCosmos();
    direct = await cosmos.openStore();
    fx = await tempLake();
    await writeSyntheticLake(fx.lake, fx.dir, { customers: 300, vehicles: 120, days: 7, asOf: AS_OF, seed: 11 });
  });
  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  const base = { asOf: AS_OF, lookbackDays: 7, topN: 10, threads: 0 };

  it('retries 429s and resets mid-write and completes: every document written, run active', async () => {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleRate: 0.3, retryAfterMs: 20, resetBeforeRate: 0.1, resetAfterRate: 0.1, seed: 3 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 30, maxRetryWaitMs: 200 });
    const r = await runBatch({ ...base, lake: fx.lake, store, runId: 'faulty-ok' });
    assert.equal(r.activated, true);
    assert.ok(proxy.stats.throttled > 0 && proxy.stats.resets > 0, JSON.stringify({ ...proxy.stats, log: undefined }));
    assert.ok((r.run.counts.writeThrottled ?? 0) > 0, 'throttling recorded in the run');
    assert.equal(await direct.countPredictions('item-knn', 'faulty-ok'), r.run.counts.customers);
    assert.equal((await direct.getActiveRun('item-knn'))?.runId, 'faulty-ok');
  });

  it('fails with the reason recorded when writes keep failing; the previous run stays active', async () => {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, failStatus: 503 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 2, maxRetryWaitMs: 50 });
    await assert.rejects(runBatch({ ...base, lake: fx.lake, store, runId: 'faulty-down', params: { shrink: 5 } }), (e) => e instanceof BatchFailed && /not written/.test(e.message));
    const run = await direct.getRun('item-knn', 'faulty-down');
    assert.equal(run?.status, 'failed');
    assert.match(run?.error ?? '', /score: .*prediction documents not written/);
    assert.equal((await direct.getActiveRun('item-knn'))?.runId, 'faulty-ok');
    // Once the server is healthy again, the same run id resumes (artefact and metrics reused) and activates.
    await proxy.stop();
    proxy = undefined;
    const r = await runBatch({ ...base, lake: fx.lake, store: direct, runId: 'faulty-down', params: { shrink: 5 } });
    assert.equal(r.activated, true);
    assert.equal(await direct.countPredictions('item-knn', 'faulty-down'), r.run.counts.customers);
    assert.equal((await direct.getActiveRun('item-knn'))?.runId, 'faulty-down');
  });
});
