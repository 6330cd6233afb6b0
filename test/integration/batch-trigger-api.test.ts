import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { loadConfig, type Config } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { LocalLake } from '../../shared/lake/local-lake.js';
import type { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { createBatchQueue, createRunTrigger, waitForRun, type BatchQueue } from '../../shared/queue/batch-queue.js';
import { createQueuesBoard } from '../../shared/queue/queues-board.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { startWorker, type BatchWorkerHandle } from '../../offline/worker/batch-worker.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake } from '../support/offline-lake-fixture.js';

const MODEL = 'item-knn';
const ADMIN_KEY = 'admin-key-batch-0123456789';
const READ_KEY = 'read-key-batch-0123456789';
const DAY_MS = 86_400_000;
const TODAY = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS);
const yesterday = new Date(TODAY.getTime() - DAY_MS).toISOString().slice(0, 10);

describe('batch runs through the HTTP API (trigger, 409, serving, failure visible) and Bull Board', function () {
  this.timeout(60_000);
  let cosmos: TestCosmos;
  let store: CosmosPredictionStore;
  let lake: LocalLake;
  let cleanupLake: () => Promise<void>;
  let config: Config;
  let redis: Redis;
  let eventLog: EventLog;
  let batch: BatchQueue;
  let worker: BatchWorkerHandle;
  let server: RunningServer;
  let prefix: string;
  const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  const get = (path: string, key = ADMIN_KEY) => fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } });

  before(async () => {
    prefix = `test:batch-api:${randomUUID().slice(0, 8)}:`;
    config = loadConfig({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      SHOWROOM_REDIS_PREFIX: prefix,
      SHOWROOM_API_KEYS: READ_KEY,
      SHOWROOM_ADMIN_KEYS: ADMIN_KEY,
      SHOWROOM_EVENT_LOG_PARTITIONS: '1',
      SHOWROOM_HOST: '127.0.0.1',
      PORT: '0',
    });
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    ({ lake, cleanup: cleanupLake } = await tempLake());
    await generateDataset({ customers: 150, vehicles: 80, days: 5, seed: 5, end: yesterday, lake });
    redis = createRedis(config.redisUrl, 'test-batch-api');
    await waitForRedis(redis);
    eventLog = createEventLog(config);
    batch = createBatchQueue(config.redisUrl, prefix, { policy: { backoffMs: 100, trainAttempts: 1 } });
    worker = await startWorker({ config, logger: silentLogger(), store, lake, batch, registerSchedules: false, threads: 0, tuning: { concurrency: 2 } });
    server = await startServer({
      config,
      logger: silentLogger(),
      registry: createMetricsRegistry({ defaultMetrics: false }),
      store,
      eventLog,
      redis,
      profileConsumer: false,
      triggerRun: createRunTrigger(batch),
      servingOptions: { pointerTtlMs: 50, pointerMaxAgeMs: 100 },
    });
  });

  after(async () => {
    await server?.close();
    await worker?.close();
    await batch?.close();
    await eventLog?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await cosmos?.stop();
    await cleanupLake?.();
  });

  it('POST /v1/models/:model/runs queues a run (202), a second one answers 409 with its id, and the API then serves the run', async () => {
    const first = await post(`/v1/models/${MODEL}/runs`, { shards: 2 });
    assert.equal(first.status, 202, await first.clone().text());
    const { runId } = (await first.json()) as { runId: string };
    const second = await post(`/v1/models/${MODEL}/runs`, {});
    assert.equal(second.status, 409);
    const problem = (await second.json()) as { details?: { runId?: string } };
    assert.equal(problem.details?.runId, runId);

    const run = await waitForRun(store, MODEL, runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'succeeded', run.error);
    const runs = (await (await get(`/v1/models/${MODEL}/runs`)).json()) as { activeRunId: string; runs: { runId: string; status: string }[] };
    assert.equal(runs.activeRunId, runId);
    await new Promise((r) => setTimeout(r, 150));
    const recs = await get(`/v1/customers/c-000000/recommendations?limit=5`, READ_KEY);
    assert.equal(recs.status, 200);
    const body = (await recs.json()) as { runId: string; items: unknown[] };
    assert.equal(body.runId, runId, 'the API serves the run the trigger produced');
    assert.ok(body.items.length > 0);
  });

  it('a failing run shows status and reason in GET /v1/models/:model/runs while the previous run stays active', async () => {
    const before = (await store.getActiveRun(MODEL))?.runId;
    assert.ok(before);
    // No events before this instant: the run fails in its first stage.
    const res = await post(`/v1/models/${MODEL}/runs`, { asOf: '2001-01-01T00:00:00.000Z' });
    assert.equal(res.status, 202);
    const { runId } = (await res.json()) as { runId: string };
    await waitForRun(store, MODEL, runId, { intervalMs: 100, timeoutMs: 30_000 });
    const runs = (await (await get(`/v1/models/${MODEL}/runs`)).json()) as { activeRunId: string; runs: { runId: string; status: string; error?: string }[] };
    const failed = runs.runs.find((r) => r.runId === runId);
    assert.equal(failed?.status, 'failed');
    assert.match(failed?.error ?? '', /train failed/);
    assert.equal(runs.activeRunId, before);
  });

  it('Bull Board lists the batch queue behind an admin check', async () => {
    const app = express();
    app.use('/admin/queues', (req, res, next) => (req.headers.authorization === `Bearer ${ADMIN_KEY}` ? next() : res.status(401).end()), createQueuesBoard([batch.queue]));
    const http = app.listen(0, '127.0.0.1');
    await new Promise((r) => http.once('listening', r));
    try {
      const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/admin/queues`;
      assert.equal((await fetch(base)).status, 401);
      const page = await fetch(base, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i);
      const api = await fetch(`${base}/api/queues?activeQueue=batch&status=completed&page=1`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      const data = (await api.json()) as { queues: { name: string; counts: Record<string, number> }[] };
      const q = data.queues.find((x) => x.name === 'batch');
      assert.ok(q, 'the batch queue is on the board');
      assert.ok((q.counts.completed ?? 0) >= 4, `completed jobs shown: ${JSON.stringify(q.counts)}`);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});
