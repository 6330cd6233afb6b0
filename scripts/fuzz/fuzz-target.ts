/**
 * The API under fuzz, started in this process on a free loopback port: the real app
 * (`startServer`: createApp, profile consumer, Bull Board at `/admin/queues`, run trigger)
 * on Redis (its own key prefix, removed on close), an embedded Cosmos server (memory only) and the
 * Redis Streams event log, with a small seeded run so the read routes have something to serve.
 *
 * In-process so the runner can read the process's own RSS, see its uncaught exceptions and
 * unhandled rejections (recorded as crashes instead of killing the run) and check that
 * `Object.prototype` was not polluted.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Config } from '../../shared/config/config.js';
import { neighborId, predictionId, type NeighborDoc, type PredictionDoc, type RunRecord } from '../../shared/domain/prediction.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { startEmbeddedCosmos } from '../../shared/prediction-store/embedded-cosmos-launcher.js';
import { createBatchQueue, createRunTrigger } from '../../shared/queue/batch-queue.js';
import { createQueuesBoard } from '../../shared/queue/queues-board.js';
import { createRedis, deleteKeysWithPrefix, waitForRedis } from '../../shared/redis/redis-connection.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { startServer } from '../../online/serve.js';

export const FUZZ_MODEL = 'item-knn';
const RUN_ID = 'r1';

/** What the runner needs from the process serving the API. */
export interface FuzzTarget {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The keys the API was started with; absent: no keys (open, loopback only). */
  keys?: { read: string; admin: string };
  /** Ids the target has data for, and the model names it knows. */
  customers: readonly string[];
  vehicles: readonly string[];
  models: readonly string[];
  /** Resident set size of the process serving the API, bytes. */
  rssBytes(): number;
  /** Lets garbage go (full GC) before RSS is read, where the target can. */
  settle?(): Promise<void>;
  /** Uncaught exceptions and unhandled rejections seen in the serving process since start. */
  crashes(): readonly string[];
  /** Problems found by process-level checks (e.g. `Object.prototype` polluted); empty when fine. */
  processProblems(): readonly string[];
  close(): Promise<void>;
}

export interface StartFuzzTargetOptions {
  config: Config;
  logger: Logger;
  /** Start with a read key and an admin key (default) or without keys. */
  withKeys: boolean;
}

const vehiclesOf = () => Array.from({ length: 20 }, (_, i) => `v-${i}`);
const customersOf = () => Array.from({ length: 10 }, (_, i) => `c-${i}`);

async function seed(store: CosmosPredictionStore): Promise<void> {
  const at = '2026-01-01T02:00:00.000Z';
  const vehicles = vehiclesOf();
  const neighbors: NeighborDoc[] = vehicles.map((vehicleId, i) => ({
    id: neighborId(FUZZ_MODEL, RUN_ID, vehicleId),
    vehicleId,
    model: FUZZ_MODEL,
    runId: RUN_ID,
    vehicle: { make: i % 2 ? 'Toyota' : 'Honda', model: i % 2 ? 'RAV4' : 'Accord', trim: 'LE', year: 2020 + (i % 4), bodyStyle: i % 2 ? 'SUV' : 'Sedan', price: 20_000 + i * 700 },
    neighbors: vehicles.filter((v) => v !== vehicleId).slice(0, 8).map((v, k) => ({ vehicleId: v, score: 0.9 - k * 0.05 })),
  }));
  const predictions: PredictionDoc[] = customersOf().map((customerId, c) => ({
    id: predictionId(FUZZ_MODEL, RUN_ID, customerId),
    customerId,
    model: FUZZ_MODEL,
    runId: RUN_ID,
    generatedAt: at,
    items: vehicles.slice(c, c + 10).map((vehicleId, i) => ({ vehicleId, score: 1 - i * 0.05 })),
  }));
  const run: RunRecord = {
    id: RUN_ID,
    kind: 'run',
    model: FUZZ_MODEL,
    runId: RUN_ID,
    status: 'succeeded',
    asOf: at,
    params: {},
    counts: {},
    timings: {},
    popularity: { overall: vehicles.slice(0, 5).map((vehicleId, i) => ({ vehicleId, score: 50 - i })), byBodyStyle: {}, byPriceBand: {} },
    createdAt: at,
    updatedAt: at,
    finishedAt: at,
  };
  const w1 = await store.upsertNeighbors(neighbors);
  const w2 = await store.upsertPredictions(predictions);
  if (w1.failed.length + w2.failed.length > 0) throw new Error('seeding the fuzz target failed');
  await store.putRun(run);
  await store.activateRun(FUZZ_MODEL, RUN_ID);
}

/**
 * V8's full GC, so RSS is read without the garbage of the last requests (the fuzzer's own
 * megabyte bodies included): `global.gc` under `--expose-gc`, else enabled at run time.
 */
function fullGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

/** Own property names of `Object.prototype` (and friends) now: compared after the run. */
function prototypeSnapshot(): string {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((p) => Object.getOwnPropertyNames(p).sort().join(',')).join('|');
}

/** Starts the target (see the module doc). `close()` stops everything and removes its Redis keys. */
export async function startFuzzTarget(options: StartFuzzTargetOptions): Promise<FuzzTarget> {
  const { logger } = options;
  const tag = randomUUID().slice(0, 8);
  const prefix = `showroom-fuzz-${tag}:`;
  const keys = options.withKeys ? { read: `fuzz-read-${randomUUID()}`, admin: `fuzz-admin-${randomUUID()}` } : undefined;
  const config: Config = {
    ...options.config,
    redisPrefix: prefix,
    apiKeys: keys ? [keys.read] : [],
    adminKeys: keys ? [keys.admin] : [],
    defaultModel: FUZZ_MODEL,
    eventLogPartitions: 2,
  };
  const crashes: string[] = [];
  const onCrash = (kind: string) => (err: unknown) => {
    crashes.push(`${kind}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`.slice(0, 500));
  };
  const onException = onCrash('uncaughtException');
  const onRejection = onCrash('unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  const before = prototypeSnapshot();
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => logger.warn({ err }, 'fuzz target cleanup failed'));
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
  try {
    const cosmos = await startEmbeddedCosmos({ host: '127.0.0.1', port: 0, ttlSweepMs: 0 });
    cleanups.push(() => cosmos.stop({ save: false }));
    const store = new CosmosPredictionStore({ endpoint: cosmos.endpoint, key: cosmos.key, database: `showroom-fuzz-${tag}`, requestTimeoutMs: 10_000, logger });
    cleanups.push(() => store.close());
    await store.init();
    await seed(store);
    const redis = createRedis(config.redisUrl, 'fuzz-api');
    cleanups.push(async () => {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    });
    await waitForRedis(redis, 5000);
    const registry = createMetricsRegistry();
    const eventLog = createEventLog(config, { logger, registry });
    cleanups.push(() => eventLog.close());
    const batch = createBatchQueue(config.redisUrl, prefix);
    cleanups.push(() => batch.close());
    const server = await startServer({
      config,
      logger,
      registry,
      store,
      eventLog,
      redis,
      port: 0,
      host: '127.0.0.1',
      triggerRun: createRunTrigger(batch),
      adminRouters: { '/admin/queues': createQueuesBoard([batch.queue]) },
      keys: { api: config.apiKeys, admin: config.adminKeys },
      // The fuzzer sends thousands of requests with one key: the per-key limit would answer most of them.
      rateLimit: { limit: 1_000_000_000 },
      // Nor may the failed-authentication limit answer them: past 20 wrong keys from this address
      // every request would get 429 and no other check would be reached. It has its own tests
      // (test/integration/api-hardening.test.ts).
      authFailureLimit: { limit: 0 },
      models: [FUZZ_MODEL, 'popularity'],
    });
    cleanups.push(() => server.close());
    return {
      url: server.url,
      keys,
      customers: customersOf(),
      vehicles: vehiclesOf(),
      models: [FUZZ_MODEL],
      rssBytes: () => process.memoryUsage.rss(),
      settle: async () => {
        const gc = fullGc();
        for (let i = 0; i < 2; i++) {
          gc?.();
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      crashes: () => crashes,
      processProblems: () => {
        const problems: string[] = [];
        if (prototypeSnapshot() !== before) problems.push('a built-in prototype gained or lost properties during the run (prototype pollution)');
        const probe = {} as Record<string, unknown>;
        for (const k of ['polluted', 'admin', 'x', 'isAdmin']) if (probe[k] !== undefined) problems.push(`Object.prototype.${k} is set (prototype pollution)`);
        return problems;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
