import assert from 'node:assert/strict';
import { Unavailable } from '../../shared/errors/app-error.js';
import { prediction } from '../contract/prediction-store-contract.js';
import type { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { isBulkRequest, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

describe('Cosmos bulk writes through a fault-injecting proxy', function () {
  this.timeout(30_000);
  let cosmos: TestCosmos;
  let direct: CosmosPredictionStore;
  let proxy: FaultProxy;

  before(async function () {
    cosmos = await startTestCosmos();
    direct = await cosmos.openStore();
  });
  afterEach(async function () {
    await proxy?.stop();
  });
  after(async function () {
    await cosmos?.stop();
  });

  const docs = (model: string, n: number, items = 20) => Array.from({ length: n }, (_, i) => prediction(model, 'r1', `c${i}`, items));

  it('completes with every document written under 429s and dropped connections', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleRate: 0.25, retryAfterMs: 20, resetBeforeRate: 0.1, resetAfterRate: 0.1, seed: 7 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 20 });
    const input = docs('faults', 3000, 5);
    const res = await store.upsertPredictions(input, { concurrency: 4 });
    assert.deepEqual(res.failed, []);
    assert.equal(res.written, 3000);
    assert.ok(proxy.stats.throttled > 0 && proxy.stats.resets > 0, JSON.stringify({ ...proxy.stats, log: undefined }));
    assert.equal(res.throttled, proxy.stats.throttled, 'every 429 answer is counted');
    assert.ok(res.retries >= 100 * (proxy.stats.throttled + proxy.stats.resets) / 2, `retries ${res.retries}`);
    assert.equal(await direct.countPredictions('faults', 'r1'), 3000);
    assert.deepEqual(await direct.getPrediction('faults', 'r1', 'c2999'), input[2999]);
  });

  it('re-submits the operations Azure throttles one by one inside a 207 answer, and only those', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleOperationsRate: 0.3, operationRetryAfterMs: 20, seed: 11 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 20 });
    const input = docs('op-throttle', 1000, 5);
    const res = await store.upsertPredictions(input, { concurrency: 4 });
    assert.deepEqual(res.failed, []);
    assert.equal(res.written, 1000);
    assert.ok(proxy.stats.throttledOperations > 200, JSON.stringify({ ...proxy.stats, log: undefined }));
    assert.equal(res.retries, proxy.stats.throttledOperations, 'each throttled operation is re-sent once per 429, the done ones never');
    assert.equal(res.throttled, proxy.stats.log.filter((l) => l.outcome === 'operations-throttled').length, 'each answer with throttled operations is counted');
    assert.equal(await direct.countPredictions('op-throttle', 'r1'), 1000);
    assert.deepEqual(await direct.getPrediction('op-throttle', 'r1', 'c999'), input[999]);
  });

  it('waits an operation’s retryAfterMilliseconds before re-submitting it', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleOperationsRate: 0.5, operationRetryAfterMs: 250, seed: 3 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 20 });
    const res = await store.upsertPredictions(docs('op-retry-after', 40), { concurrency: 1 });
    assert.equal(res.written, 40);
    assert.deepEqual(res.failed, []);
    const log = proxy.stats.log;
    assert.ok(log.length >= 2 && log[0]?.outcome === 'operations-throttled', JSON.stringify(log));
    for (let i = 1; i < log.length; i += 1) {
      const gap = (log[i]!.at) - (log[i - 1]!.at);
      if (log[i - 1]!.outcome === 'operations-throttled') assert.ok(gap >= 240, `operations re-sent ${gap} ms after their 429`);
    }
  });

  it('waits the server’s x-ms-retry-after-ms before retrying', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleFirst: 3, retryAfterMs: 250 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint });
    const res = await store.upsertPredictions(docs('retry-after', 50), { concurrency: 1 });
    assert.equal(res.written, 50);
    assert.equal(res.throttled, 3);
    assert.equal(res.retries, 150);
    const at = proxy.stats.log.map((l) => l.at);
    assert.equal(at.length, 4);
    for (let i = 1; i < at.length; i += 1) {
      const gap = (at[i] as number) - (at[i - 1] as number);
      assert.ok(gap >= 240, `retry ${i} came ${gap} ms after the 429`);
    }
  });

  it('returns every document as failed, without hanging, when the server keeps failing', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, failStatus: 503 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 3, maxRetryWaitMs: 100 });
    const t0 = Date.now();
    const res = await store.upsertPredictions(docs('down', 250), { concurrency: 2 });
    assert.equal(res.written, 0);
    assert.equal(res.failed.length, 250);
    assert.ok(res.failed.every((f) => f.status === 503), JSON.stringify(res.failed[0]));
    assert.equal(proxy.stats.failed, 3 * 4, 'one first attempt and 3 retries per chunk');
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  });

  it('returns failures, without hanging, when the server stops answering', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, blackhole: true });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, maxRetries: 1, requestTimeoutMs: 400, maxRetryWaitMs: 50 });
    const t0 = Date.now();
    const res = await store.upsertPredictions(docs('silent', 150));
    assert.equal(res.written, 0);
    assert.equal(res.failed.length, 150);
    assert.ok(res.failed.every((f) => f.status === 408), JSON.stringify(res.failed[0]));
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  });

  it('stops at the abort signal and reports the unwritten documents', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, throttleRate: 1, retryAfterMs: 10_000 });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('test abort')), 300);
    const t0 = Date.now();
    const res = await store.upsertPredictions(docs('abort', 200), { signal: controller.signal });
    assert.equal(res.written, 0);
    assert.equal(res.failed.length, 200);
    assert.match(res.failed[0]?.message ?? '', /aborted/);
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
  });

  it('abandons a request in flight at the abort signal', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, match: isBulkRequest, blackhole: true });
    const store = await cosmos.openStore({ endpoint: proxy.endpoint, requestTimeoutMs: 10_000 });
    const t0 = Date.now();
    const res = await store.upsertPredictions(docs('abort-inflight', 100), { signal: AbortSignal.timeout(300) });
    assert.equal(res.failed.length, 100);
    assert.match(res.failed[0]?.message ?? '', /aborted/);
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
  });

  it('init fails fast with Unavailable when the endpoint accepts connections but never answers', async function () {
    proxy = await startFaultProxy({ target: cosmos.endpoint, blackhole: true });
    const t0 = Date.now();
    await assert.rejects(cosmos.openStore({ endpoint: proxy.endpoint, probeTimeoutMs: 500 }), (err: unknown) => err instanceof Unavailable && /did not answer within 500 ms/.test(err.message));
    assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
  });
});
