import { Redis, type RedisOptions } from 'ioredis';
import { Unavailable } from '../errors/app-error.js';

export type { Redis } from 'ioredis';

/**
 * Creates a Redis connection. Commands fail fast (no offline queue) when the server is
 * down, so callers can answer 503 instead of hanging; the client keeps reconnecting.
 * `purpose` names the connection in `CLIENT LIST`.
 */
export function createRedis(url: string, purpose: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: `showroom:${purpose}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 2000),
    lazyConnect: false,
    ...options,
  });
}

/** A connection for blocking reads and BullMQ (which requires `maxRetriesPerRequest: null`). */
export function createBlockingRedis(url: string, purpose: string): Redis {
  return createRedis(url, purpose, { maxRetriesPerRequest: null, enableOfflineQueue: true });
}

/** Resolves when the connection is ready; rejects with Unavailable after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 3000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Unavailable(`Redis at ${describeRedis(redis)} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

function describeRedis(redis: Redis): string {
  const o = redis.options;
  return `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}

/** Quick reachability check for /readyz: PING with a deadline. */
export async function pingRedis(redis: Redis, timeoutMs = 500): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Unavailable('Redis PING timed out')), timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Deletes every key starting with `prefix` (SCAN + DEL in pages of 1,000): scratch prefixes of tests and benchmarks. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
