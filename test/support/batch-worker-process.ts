// A batch worker in its own process, for fault tests (SIGKILL mid-shard). Run with tsx.
// Env: REDIS_URL, SHOWROOM_REDIS_PREFIX, TEST_COSMOS_ENDPOINT/_KEY/_DATABASE, TEST_LAKE_DIR,
// TEST_LOCK_MS (lockDuration), TEST_WRITE_PAUSE_MS: after writing the first half of a shard's
// predictions, announce `{"event":"mid-shard"}` on stdout and pause that long before the rest.
// Prints `{"event":"ready"}` when the worker runs. Exits on SIGTERM after a graceful close.
import { loadConfig } from '../../shared/config/config.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import type { PredictionDoc } from '../../shared/domain/prediction.js';
import type { BulkWriteOptions, PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { createBatchQueue } from '../../shared/queue/batch-queue.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startWorker } from '../../offline/worker/batch-worker.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ pid: process.pid, ...event })}\n`);

const config = loadConfig();
const store = new CosmosPredictionStore({ endpoint: env('TEST_COSMOS_ENDPOINT'), key: env('TEST_COSMOS_KEY'), database: env('TEST_COSMOS_DATABASE'), requestTimeoutMs: 10_000 });
await store.init();
const pauseMs = Number(process.env.TEST_WRITE_PAUSE_MS ?? 0);
// The real store, with a pause in the middle of each bulk write so the test can kill us mid-shard.
const pausing = new Proxy(store, {
  get(target, prop) {
    if (prop === 'upsertPredictions' && pauseMs > 0) {
      return async (docs: PredictionDoc[], options?: BulkWriteOptions) => {
        const half = Math.ceil(docs.length / 2);
        const a = await target.upsertPredictions(docs.slice(0, half), options);
        say({ event: 'mid-shard', runId: docs[0]?.runId, written: a.written });
        await new Promise((r) => setTimeout(r, pauseMs));
        const b = await target.upsertPredictions(docs.slice(half), options);
        return { written: a.written + b.written, failed: [...a.failed, ...b.failed], retries: a.retries + b.retries, throttled: a.throttled + b.throttled };
      };
    }
    const v = Reflect.get(target, prop, target) as unknown;
    return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
  },
}) as PredictionStore;

const batch = createBatchQueue(config.redisUrl, config.redisPrefix, { policy: { backoffMs: 200 } });
const lock = Number(process.env.TEST_LOCK_MS ?? 2000);
const handle = await startWorker({
  config,
  logger: silentLogger(),
  store: pausing,
  lake: new LocalLake(env('TEST_LAKE_DIR')),
  batch,
  registerSchedules: false,
  threads: 0,
  tuning: { concurrency: 1, lockDuration: lock, stalledInterval: Math.max(250, lock / 2), maxStalledCount: 3, graceMs: 5000 },
});
handle.worker.on('completed', (job) => say({ event: 'completed', job: job.id }));
handle.worker.on('active', (job) => say({ event: 'active', job: job.id }));
say({ event: 'ready' });
process.once('SIGTERM', () => {
  void (async () => {
    await handle.close();
    await batch.close();
    await store.close();
    say({ event: 'closed' });
    process.exit(0);
  })();
});
