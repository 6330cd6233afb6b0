import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { createRedis, deleteKeysWithPrefix, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { startTestCosmos, type TestCosmos } from './embedded-cosmos.js';

/** What an API test starts its servers on: real Redis (a private key prefix), embedded Cosmos, the event log. */
export interface ApiDeps {
  config: Config;
  prefix: string;
  cosmos: TestCosmos;
  store: PredictionStore;
  redis: Redis;
  eventLog: EventLog;
  /** Closes the event log, removes the prefix's keys, disconnects, stops Cosmos. */
  close(): Promise<void>;
}

/**
 * Opens the dependencies of an API under test: config from `env` over loopback defaults
 * (`REDIS_URL`, a unique `SHOWROOM_REDIS_PREFIX` named after `name`, one log partition, port 0),
 * the embedded Cosmos server with a fresh database, a Redis connection and the event log.
 */
export async function openApiDeps(name: string, env: Record<string, string> = {}): Promise<ApiDeps> {
  const prefix = `showroom-test-${name}-${randomUUID().slice(0, 8)}:`;
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    SHOWROOM_REDIS_PREFIX: prefix,
    SHOWROOM_EVENT_LOG_PARTITIONS: '1',
    SHOWROOM_HOST: '127.0.0.1',
    PORT: '0',
    ...env,
  });
  const cosmos = await startTestCosmos();
  const store = await cosmos.openStore();
  const redis = createRedis(config.redisUrl, `test-${name}`);
  await waitForRedis(redis);
  const eventLog = createEventLog(config);
  return {
    config,
    prefix,
    cosmos,
    store,
    redis,
    eventLog,
    async close() {
      await eventLog.close();
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
      await cosmos.stop();
    },
  };
}
