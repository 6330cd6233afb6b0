import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { PROFILE_LIMITS } from '../../shared/profile-store/profile-store.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';

describe('RedisProfileStore (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  const t0 = Date.parse('2026-03-01T12:00:00Z');
  const ev = (type: ShowroomEvent['type'], extra: Partial<ShowroomEvent>, atMs = t0): ShowroomEvent => {
    const at = new Date(atMs).toISOString();
    return { eventId: randomUUID(), type, occurredAt: at, receivedAt: at, ...extra } as ShowroomEvent;
  };

  before(async () => {
    redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'test-profile-store');
    await waitForRedis(redis);
  });
  beforeEach(() => {
    prefix = `showroom-test-profiles-${randomUUID().slice(0, 8)}:`;
  });
  afterEach(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });
  after(() => redis.disconnect());

  it('keeps the newest 50 engagements, searches, hidden and purchased sets, with a 30-day TTL; idempotent per eventId', async () => {
    const store = new RedisProfileStore({ redis, prefix });
    const views = Array.from({ length: 60 }, (_, i) => ev('view', { customerId: 'c1', vehicleId: `v${i}` }, t0 + i * 1000));
    const extra = [
      ev('search', { customerId: 'c1', properties: { filters: { bodyStyle: 'SUV', priceMax: 30_000 }, query: 'family suv' } }, t0 + 100_000),
      ev('hide', { customerId: 'c1', vehicleId: 'v-hidden' }, t0 + 100_000),
      ev('purchase', { customerId: 'c1', vehicleId: 'v-bought', properties: { value: 2 } }, t0 + 100_000),
    ];
    const first = await store.applyEvents([...views, ...extra]);
    assert.equal(first.applied, 63);
    const before = await store.getProfile('c1');
    // Re-applying changes nothing (events older than the kept 50 may be re-added and trimmed at once).
    const again = await store.applyEvents([...views.slice(12), ...extra]);
    assert.deepEqual(again, { applied: 0, skipped: 51 });
    await store.applyEvents([...views, ...extra]);
    const p = await store.getProfile('c1');
    assert.deepEqual(p, before);
    assert.equal(p.recent.length, PROFILE_LIMITS.recent);
    assert.equal(p.recent.filter((r) => r.type === 'view')[0].vehicleId, 'v59'); // newest first
    assert.deepEqual(p.searches, [{ filters: { bodyStyle: 'SUV', priceMax: 30_000 }, query: 'family suv', at: t0 + 100_000 }]);
    assert.ok(p.hidden.has('v-hidden'));
    assert.ok(p.purchased.has('v-bought'));
    assert.equal(p.recent.find((r) => r.vehicleId === 'v-bought')?.value, 2);
    const ttl = await redis.ttl(`${prefix}c:{c1}:r`);
    assert.ok(ttl > PROFILE_LIMITS.ttlSeconds - 60 && ttl <= PROFILE_LIMITS.ttlSeconds);
    const empty = await store.getProfile('nobody');
    assert.equal(empty.recent.length + empty.searches.length + empty.hidden.size, 0);
  });

  it('tracks sold, relisted, price and listing attributes, idempotently, across processes within the refresh interval', async () => {
    const writer = new RedisProfileStore({ redis, prefix });
    const reader = new RedisProfileStore({ redis, prefix, inventoryRefreshMs: 50 });
    const listed = ev('vehicle_listed', { vehicleId: 'n1', properties: { vehicle: { make: 'Kia', model: 'EV6', year: 2024, bodyStyle: 'SUV', price: 41_000 } } });
    await writer.applyEvents([listed, ev('vehicle_sold', { vehicleId: 'x1' }), ev('vehicle_price_changed', { vehicleId: 'x2', properties: { price: 19_500 } })]);
    let inv = await reader.getInventory();
    assert.ok(inv.isSold('x1'));
    assert.equal(inv.price('x2'), 19_500);
    assert.equal(inv.listed('n1')?.model, 'EV6');
    assert.equal(inv.price('n1'), 41_000);
    assert.deepEqual(await writer.applyEvents([listed]), { applied: 0, skipped: 1 });
    // Incremental: a later change reaches the reader through the change feed.
    await writer.applyEvents([ev('vehicle_sold', { vehicleId: 'n1' }), ev('vehicle_listed', { vehicleId: 'x1' })]);
    await new Promise((r) => setTimeout(r, 60));
    await reader.getProfile('someone'); // the profile read carries the inventory refresh
    inv = reader.cachedInventory();
    assert.ok(inv.isSold('n1'));
    assert.ok(!inv.isSold('x1'));
    // Trimmed feed → full reload, same state.
    await redis.del(`${prefix}{inv}:changes`);
    await writer.applyEvents([ev('vehicle_sold', { vehicleId: 'x3' })]);
    await new Promise((r) => setTimeout(r, 60));
    await reader.getInventory();
    await new Promise((r) => setTimeout(r, 100));
    inv = await reader.getInventory();
    assert.ok(inv.isSold('x3') && inv.isSold('n1') && !inv.isSold('x1'));
  });

  it('skips a malformed profile member and still reads the others', async () => {
    const store = new RedisProfileStore({ redis, prefix });
    await store.applyEvents([ev('view', { customerId: 'c2', vehicleId: 'a' }, t0), ev('favorite', { customerId: 'c2', vehicleId: 'b' }, t0 + 1000)]);
    await redis.zadd(`${prefix}c:{c2}:r`, t0 + 500, 'not json', t0 + 600, '{"an":"object"}');
    const p = await store.getProfile('c2');
    assert.deepEqual(
      p.recent.map((r) => [r.vehicleId, r.type, r.at]),
      [
        ['b', 'favorite', t0 + 1000],
        ['a', 'view', t0],
      ],
    );
  });

  it('reuses the parsed lists while the sets are unchanged, and sees a change (from any writer) on the next read', async () => {
    const store = new RedisProfileStore({ redis, prefix });
    const other = new RedisProfileStore({ redis, prefix });
    await store.applyEvents([ev('view', { customerId: 'c3', vehicleId: 'a' }, t0), ev('search', { customerId: 'c3', properties: { filters: { bodyStyle: 'SUV' } } }, t0)]);
    const first = await store.getProfile('c3');
    const again = await store.getProfile('c3');
    assert.equal(again.recent, first.recent, 'unchanged texts: the parsed list is reused');
    assert.equal(again.searches, first.searches);
    // Another instance writes: the texts differ, the new engagement shows at once.
    await other.applyEvents([ev('favorite', { customerId: 'c3', vehicleId: 'b' }, t0 + 1000)]);
    const after = await store.getProfile('c3');
    assert.notEqual(after.recent, first.recent);
    assert.deepEqual(after.recent.map((r) => r.vehicleId), ['b', 'a']);
    assert.equal(after.searches, first.searches, 'the unchanged searches are still reused');
    // Without the cache every read parses.
    const uncached = new RedisProfileStore({ redis, prefix, parsedProfiles: 0 });
    assert.notEqual((await uncached.getProfile('c3')).recent, (await uncached.getProfile('c3')).recent);
  });

  it('rejects with Unavailable when Redis is unreachable', async () => {
    const dead = createRedis('redis://127.0.0.1:1', 'test-dead', { retryStrategy: () => null });
    dead.on('error', () => undefined);
    const store = new RedisProfileStore({ redis: dead, prefix });
    await assert.rejects(store.getProfile('c1'), (err: Error) => err.name === 'Unavailable');
    await assert.rejects(store.applyEvents([ev('view', { customerId: 'c1', vehicleId: 'v1' })]), (err: Error) => err.name === 'Unavailable');
    dead.disconnect();
  });
});
