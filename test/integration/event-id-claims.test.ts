import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventIdClaims } from '../../shared/dedupe/event-id-claims.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';

describe('EventIdClaims (real Redis)', () => {
  let redis: Redis;
  const prefix = `showroom-test-claims-${randomUUID().slice(0, 8)}:`;
  before(async () => {
    redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'test-claims');
    await waitForRedis(redis);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('claims each id once, with the TTL, in one script call; released ids can be claimed again', async () => {
    const claims = new EventIdClaims({ redis, prefix, ttlSeconds: 3600 });
    const events = Array.from({ length: 100 }, (_, i) => ({ eventId: `e-${i}`, receivedAt: '2026-03-01T00:00:00.000Z' }));
    const before = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    assert.deepEqual(await claims.claim(events), events.map(() => true));
    const after = Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    assert.equal(after - before, 1, 'one script call for 100 ids');
    const again = await claims.claim([events[3], { eventId: 'new', receivedAt: 'x' }, events[99]]);
    assert.deepEqual(again, [false, true, false]);
    assert.equal(await redis.get(claims.key('e-3')), '2026-03-01T00:00:00.000Z');
    const ttl = await redis.ttl(claims.key('e-50'));
    assert.ok(ttl > 3500 && ttl <= 3600, `ttl ${ttl}`);
    assert.match(claims.key('e-50'), new RegExp(`^${prefix}dedupe:\\{d\\d+\\}:e-50$`));
    await claims.release(['e-3', 'e-50', 'never-claimed']);
    assert.deepEqual(await claims.claim([events[3], events[50], events[51]]), [true, true, false]);
  });

  it('rejects with Unavailable when Redis is unreachable', async () => {
    const dead = createRedis('redis://127.0.0.1:1', 'test-dead', { retryStrategy: () => null });
    dead.on('error', () => undefined);
    await assert.rejects(new EventIdClaims({ redis: dead, prefix }).claim([{ eventId: 'a', receivedAt: 'x' }]), (err: Error) => err.name === 'Unavailable');
    dead.disconnect();
  });
});
