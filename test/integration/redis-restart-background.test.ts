import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../shared/config/config.js';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { Unavailable } from '../../shared/errors/app-error.js';
import type { Subscription } from '../../shared/event-log/event-log.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import type { LocalLake } from '../../shared/lake/local-lake.js';
import type { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import { createBatchQueue, triggerRun, waitForRun, type BatchQueue } from '../../shared/queue/batch-queue.js';
import { createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startWorker, type BatchWorkerHandle } from '../../offline/worker/batch-worker.js';
import { startProfileConsumer } from '../../online/profiles/profile-consumer.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake } from '../support/offline-lake-fixture.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A private redis-server that keeps its data across a restart the way a production Redis does:
 * append-only file, fsync on every write (`--appendfsync always`), in a temporary folder.
 * (The default test server keeps nothing on disk, so a restart there is a restart with no data,
 * which says nothing about whether a consumer or worker carries on.)
 */
async function persistentRedis(): Promise<{ server: RedisServer; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-restart-aof-'));
  const server = await startRedisServer(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
  return {
    server,
    cleanup: async () => {
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** SIGKILL, `downMs` down, start again on the same port (same files). */
async function restart(server: RedisServer, downMs: number): Promise<void> {
  await server.kill('SIGKILL');
  await sleep(downMs);
  await server.start();
}

describe('Redis restarting under the background loops (private redis-server with AOF)', function () {
  this.timeout(90_000);

  describe('profile consumer', () => {
    let redis: { server: RedisServer; cleanup: () => Promise<void> } | undefined;
    let log: RedisStreamsEventLog | undefined;
    let conn: Redis | undefined;
    let profiles: RedisProfileStore | undefined;
    let consumer: Subscription | undefined;

    after(async () => {
      await consumer?.close();
      await profiles?.close();
      conn?.disconnect();
      await log?.close();
      await redis?.cleanup();
    });

    const view = (customerId: string, vehicleId: string): ShowroomEvent => {
      const at = new Date().toISOString();
      return { eventId: randomUUID(), type: 'view', customerId, vehicleId, occurredAt: at, receivedAt: at };
    };
    /** Appends, retrying while Redis is not back (only Unavailable is expected meanwhile). */
    const appendWhenBack = async (events: ShowroomEvent[]) => {
      await waitFor('append accepted', async () => {
        try {
          await log!.append(events);
          return true;
        } catch (err) {
          assert.ok(err instanceof Unavailable, `only Unavailable while Redis restarts, got ${String(err)}`);
          return false;
        }
      }, 15_000, 50);
    };
    const viewed = async (customerId: string): Promise<string[]> => {
      try {
        return (await profiles!.getProfile(customerId)).recent.map((r) => r.vehicleId).sort();
      } catch {
        return [];
      }
    };

    it('events appended after a restart reach the profiles, and those before it stay', async () => {
      redis = await persistentRedis();
      const prefix = 'restart-profiles:';
      log = new RedisStreamsEventLog({ redisUrl: redis.server.url, prefix, partitions: 2, trimIntervalMs: 0, appendTimeoutMs: 1000 });
      conn = createRedis(redis.server.url, 'test-restart-profiles');
      conn.on('error', () => undefined);
      profiles = new RedisProfileStore({ redis: conn, prefix, parsedProfiles: 0 });
      consumer = await startProfileConsumer({ eventLog: log, profiles, logger: silentLogger(), maxWaitMs: 50 });

      await appendWhenBack([view('c-1', 'u1'), view('c-1', 'u2')]);
      await waitFor('events before the restart applied', async () => (await viewed('c-1')).join() === 'u1,u2', 10_000);

      await restart(redis.server, 1000);
      await appendWhenBack([view('c-1', 'u3'), view('c-2', 's1'), view('c-2', 's2')]);
      await waitFor('events after the restart applied', async () => (await viewed('c-1')).join() === 'u1,u2,u3' && (await viewed('c-2')).join() === 's1,s2', 15_000, 50);

      // A second restart while the consumer is idle: it still follows.
      await restart(redis.server, 300);
      await appendWhenBack([view('c-3', 'u9')]);
      await waitFor('events after the second restart applied', async () => (await viewed('c-3')).join() === 'u9', 15_000, 50);
      const lag = await log.lag('online-profiles');
      assert.deepEqual(lag.map((l) => l.lag), [0, 0], 'everything acknowledged');
    });
  });

  describe('BullMQ batch worker', () => {
    const MODEL = 'item-knn';
    const DAY_MS = 86_400_000;
    const AS_OF = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS).toISOString();
    const yesterday = new Date(Date.parse(AS_OF) - DAY_MS).toISOString().slice(0, 10);
    let redis: { server: RedisServer; cleanup: () => Promise<void> } | undefined;
    let cosmos: TestCosmos | undefined;
    let store: CosmosPredictionStore;
    let lake: LocalLake;
    let cleanupLake: (() => Promise<void>) | undefined;
    let batch: BatchQueue | undefined;
    let worker: BatchWorkerHandle | undefined;

    before(async () => {
      redis = await persistentRedis();
      cosmos = await startTestCosmos();
      store = await cosmos.openStore();
      ({ lake, cleanup: cleanupLake } = await tempLake());
      await generateDataset({ customers: 80, vehicles: 40, days: 3, seed: 5, end: yesterday, lake });
    });
    after(async () => {
      await worker?.close();
      await batch?.close();
      await cosmos?.stop();
      await cleanupLake?.();
      await redis?.cleanup();
    });

    it('a run queued just before a restart and one queued after it both complete', async () => {
      const prefix = 'restart-worker:';
      const config = { ...loadConfig({ REDIS_URL: redis!.server.url, SHOWROOM_REDIS_PREFIX: prefix }), redisPrefix: prefix };
      batch = createBatchQueue(config.redisUrl, prefix, { policy: { backoffMs: 100 } });
      worker = await startWorker({
        config,
        logger: silentLogger(),
        store,
        lake,
        batch,
        registerSchedules: false,
        threads: 0,
        tuning: { concurrency: 2, lockDuration: 2000, stalledInterval: 1000, graceMs: 2000 },
      });

      const before = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 2 });
      assert.equal(before.alreadyInFlight, false);
      await restart(redis!.server, 1000);
      const first = await waitForRun(store, MODEL, before.runId, { intervalMs: 200, timeoutMs: 40_000 });
      assert.equal(first.status, 'succeeded', first.error);

      // Redis answers again (the restart above): a run queued now completes too.
      let triggered = '';
      await waitFor('trigger accepted after the restart', async () => {
        try {
          triggered = (await triggerRun(batch!, { model: MODEL, asOf: AS_OF, shards: 2 })).runId;
          return true;
        } catch {
          return false;
        }
      }, 10_000, 100);
      const second = await waitForRun(store, MODEL, triggered, { intervalMs: 200, timeoutMs: 40_000 });
      assert.equal(second.status, 'succeeded', second.error);
      assert.equal((await store.getActiveRun(MODEL))?.runId, triggered, 'the run after the restart is active');
      assert.ok((await store.countPredictions(MODEL, triggered)) > 0);
    });
  });
});
