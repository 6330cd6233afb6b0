import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { CustomerProfile } from '../../shared/profile-store/profile-store.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

describe('RedisProfileStore with client tracking (private redis-server)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let admin: Redis;
  let prefix: string;
  let tag: string;
  const open: (RedisProfileStore | Redis)[] = [];
  const t0 = Date.parse('2026-03-01T12:00:00Z');
  let seq = 0;
  const ev = (type: ShowroomEvent['type'], extra: Partial<ShowroomEvent>): ShowroomEvent => {
    const at = new Date(t0 + seq++ * 1000).toISOString();
    return { eventId: randomUUID(), type, occurredAt: at, receivedAt: at, ...extra } as ShowroomEvent;
  };
  const conn = (purpose: string, url = server.url): Redis => {
    const r = createRedis(url, `${purpose}-${tag}`);
    r.on('error', () => undefined);
    open.push(r);
    return r;
  };
  /** A store caching with client tracking; `subUrl` routes its invalidation connection elsewhere (a proxy). */
  const tracked = async (registry: Registry, o: { heartbeatMs?: number; subUrl?: string; readerUrl?: string; url?: string } = {}) => {
    const redis = conn('cmd', o.url);
    await waitForRedis(redis);
    const store = new RedisProfileStore({
      redis,
      prefix,
      registry,
      tracking: {
        heartbeatMs: o.heartbeatMs,
        connect: (purpose, options) => {
          const via = purpose === 'profile-invalidations' ? o.subUrl : o.readerUrl;
          const r = createRedis(via ?? o.url ?? server.url, `${purpose}-${tag}`, options);
          r.on('error', () => undefined);
          return r;
        },
      },
    });
    open.push(store);
    return store;
  };
  /** Another instance (no cache) writing through its own connection. */
  const writer = async () => {
    const redis = conn('writer');
    await waitForRedis(redis);
    return new RedisProfileStore({ redis, prefix });
  };
  const reads = async (registry: Registry, source: 'cache' | 'redis') => {
    const m = await registry.getSingleMetric('showroom_profile_reads_total')?.get();
    return m?.values.find((v) => v.labels.source === source)?.value ?? 0;
  };
  const evalshaCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
  const clientId = async (purpose: string) => {
    const line = (await admin.client('LIST') as string).split('\n').find((l) => l.includes(`name=showroom:${purpose}-${tag} `));
    return /id=(\d+)/.exec(line ?? '')?.[1];
  };
  const top = (p: CustomerProfile) => p.recent[0]?.vehicleId;

  before(async () => {
    server = await startRedisServer();
    admin = createRedis(server.url, 'test-tracking-admin');
    await waitForRedis(admin);
  });
  beforeEach(() => {
    tag = randomUUID().slice(0, 8);
    prefix = `tracking-${tag}:`;
  });
  afterEach(async () => {
    for (const x of open.splice(0)) {
      if (x instanceof RedisProfileStore) await x.close();
      else x.disconnect();
    }
  });
  after(async () => {
    admin.disconnect();
    await server.kill();
  });

  it('answers a kept profile without a round trip, and shows another writer\'s change within 1 s', async () => {
    const registry = new Registry();
    const store = await tracked(registry);
    const other = await writer();
    await other.applyEvents([ev('view', { customerId: 'c1', vehicleId: 'a' })]);
    await waitFor('tracking established', () => store.caching, 2000, 5);
    const first = await store.getProfile('c1');
    const calls = await evalshaCalls();
    const again = await store.getProfile('c1');
    assert.equal(again, first, 'the kept profile itself');
    assert.equal(await evalshaCalls(), calls, 'no read reached Redis');
    assert.equal(await reads(registry, 'cache'), 1);
    assert.equal(await reads(registry, 'redis'), 1);

    await other.applyEvents([ev('favorite', { customerId: 'c1', vehicleId: 'b' })]);
    const ms = await waitFor("another writer's event", async () => top(await store.getProfile('c1')) === 'b', 1000, 5);
    console.log(`      invalidation → changed profile after ${ms.toFixed(1)} ms`);
    // Kept again after the re-read.
    const kept = await store.getProfile('c1');
    assert.equal(await store.getProfile('c1'), kept);
  });

  it("reflects this store's own writes on the very next read (read-your-writes)", async () => {
    const store = await tracked(new Registry());
    await waitFor('tracking established', () => store.caching, 2000, 5);
    for (let i = 0; i < 20; i++) {
      await store.getProfile('c2');
      await store.applyEvents([ev('view', { customerId: 'c2', vehicleId: `v${i}` })]);
      assert.equal(top(await store.getProfile('c2')), `v${i}`);
    }
    await store.applyEvents([ev('hide', { customerId: 'c2', vehicleId: 'v3' })]);
    assert.ok((await store.getProfile('c2')).hidden.has('v3'));
  });

  it("reflects its own write at once even when a read ran while the write was on its way", async () => {
    const commands = await startTcpProxy(server.port);
    const invalidations = await startTcpProxy(server.port);
    try {
      const store = await tracked(new Registry(), { url: `redis://127.0.0.1:${commands.port}`, readerUrl: server.url, subUrl: `redis://127.0.0.1:${invalidations.port}` });
      await store.applyEvents([ev('view', { customerId: 'c8', vehicleId: 'old' })]);
      await waitFor('tracking established', () => store.caching, 2000, 5);
      // Loaded before the command connection goes silent: the inventory state (read on it) and the profile.
      await store.getProfile('c8');
      for (let i = 0; i < 10; i++) {
        // The write is held on its way to Redis while a read runs (and is kept)...
        commands.freeze();
        const write = store.applyEvents([ev('view', { customerId: 'c8', vehicleId: `new-${i}` })]);
        assert.notEqual(top(await store.getProfile('c8')), `new-${i}`);
        // ...then reaches Redis, whose invalidation is held back until after the write's reply...
        invalidations.freeze('replies');
        commands.thaw();
        await write;
        // ...and the next read shows the write all the same.
        assert.equal(top(await store.getProfile('c8')), `new-${i}`);
        invalidations.thaw();
      }
    } finally {
      await commands.close();
      await invalidations.close();
    }
  });

  it('never keeps a stale answer of a read that raced a write', async () => {
    const store = await tracked(new Registry());
    const other = await writer();
    await waitFor('tracking established', () => store.caching, 2000, 5);
    for (let i = 0; i < 100; i++) {
      const customerId = `race-${i}`;
      await other.applyEvents([ev('view', { customerId, vehicleId: 'old' })]);
      await store.getProfile(customerId);
      // The write may reach Redis before or after the read; either way the answer kept must not be the old one for long.
      await Promise.all([store.getProfile(customerId), other.applyEvents([ev('view', { customerId, vehicleId: 'new' })])]);
      await waitFor(`race ${i}`, async () => top(await store.getProfile(customerId)) === 'new', 1000, 5);
    }
  });

  it('does not keep the answer of a read whose keys were invalidated before its reply arrived', async () => {
    const proxy = await startTcpProxy(server.port);
    try {
      const store = await tracked(new Registry(), { readerUrl: `redis://127.0.0.1:${proxy.port}` });
      const other = await writer();
      await other.applyEvents([ev('view', { customerId: 'c7', vehicleId: 'old' })]);
      await waitFor('tracking established', () => store.caching, 2000, 5);
      assert.equal(top(await store.getProfile('c7')), 'old');
      // The store's own write: the next read goes to Redis.
      await store.applyEvents([ev('view', { customerId: 'c7', vehicleId: 'mid' })]);
      // Redis runs that read (and tracks its keys) but its reply is held back...
      proxy.freeze('replies');
      const evalsha = await evalshaCalls();
      const read = store.getProfile('c7');
      await waitFor('the read reached Redis', async () => (await evalshaCalls()) > evalsha, 1000, 5);
      // ...while another writer changes the profile and the invalidation arrives first.
      await other.applyEvents([ev('view', { customerId: 'c7', vehicleId: 'new' })]);
      await new Promise((r) => setTimeout(r, 100));
      proxy.thaw();
      assert.equal(top(await read), 'mid', 'the raced read answered what Redis had when it ran');
      assert.equal(top(await store.getProfile('c7')), 'new', 'and that answer was not kept');
    } finally {
      await proxy.close();
    }
  });

  for (const purpose of ['profile-invalidations', 'profile-reads']) {
    it(`stops answering from memory when its ${purpose} connection is killed, misses nothing written meanwhile, and caches again after reconnecting`, async () => {
      const registry = new Registry();
      const store = await tracked(registry);
      const other = await writer();
      await other.applyEvents([ev('view', { customerId: 'c3', vehicleId: 'a' })]);
      await waitFor('tracking established', () => store.caching, 2000, 5);
      await store.getProfile('c3');
      const id = await clientId(purpose);
      assert.ok(id, `the ${purpose} connection is listed`);
      await admin.client('KILL', 'ID', id);
      await other.applyEvents([ev('view', { customerId: 'c3', vehicleId: 'b' })]);
      await waitFor('the write made while the connection was down', async () => top(await store.getProfile('c3')) === 'b', 1000, 5);
      await waitFor('tracking re-established', () => store.caching, 5000, 5);
      assert.notEqual(await clientId(purpose), id, 'a new connection');
      const kept = await store.getProfile('c3');
      const hits = await reads(registry, 'cache');
      assert.equal(await store.getProfile('c3'), kept);
      assert.equal(await reads(registry, 'cache'), hits + 1);
      await other.applyEvents([ev('view', { customerId: 'c3', vehicleId: 'c' })]);
      await waitFor('invalidations after re-establishing', async () => top(await store.getProfile('c3')) === 'c', 1000, 5);
    });
  }

  it('turns the cache off when the invalidation connection goes silent (heartbeat), and on again once it answers', async () => {
    let proxy: TcpProxy | undefined;
    try {
      proxy = await startTcpProxy(server.port);
      const store = await tracked(new Registry(), { heartbeatMs: 150, subUrl: `redis://127.0.0.1:${proxy.port}` });
      const other = await writer();
      await other.applyEvents([ev('view', { customerId: 'c4', vehicleId: 'a' })]);
      await waitFor('tracking established', () => store.caching, 2000, 5);
      await store.getProfile('c4');
      proxy.freeze();
      // Its invalidation is held in the silent connection: the missed heartbeat must end caching.
      await other.applyEvents([ev('view', { customerId: 'c4', vehicleId: 'b' })]);
      const ms = await waitFor('the write behind a silent invalidation connection', async () => top(await store.getProfile('c4')) === 'b', 1000, 5);
      console.log(`      silent invalidation connection → fresh profile after ${ms.toFixed(0)} ms`);
      assert.equal(store.caching, false);
      proxy.thaw();
      await waitFor('tracking re-established after the connection answers again', () => store.caching, 5000, 5);
    } finally {
      await proxy?.close();
    }
  });

  it('forgets every kept profile when Redis is flushed', async () => {
    const store = await tracked(new Registry());
    await store.applyEvents([ev('view', { customerId: 'c5', vehicleId: 'a' })]);
    await waitFor('tracking established', () => store.caching, 2000, 5);
    assert.equal(top(await store.getProfile('c5')), 'a');
    assert.equal(top(await store.getProfile('c5')), 'a');
    await admin.flushall();
    await waitFor('the flush', async () => (await store.getProfile('c5')).recent.length === 0, 1000, 5);
  });

  it('reads every profile from Redis when the server refuses client tracking', async () => {
    const plain = await startRedisServer(['--save', '', '--appendonly', 'no', '--rename-command', 'CLIENT', '']);
    try {
      const store = await tracked(new Registry(), { url: plain.url });
      await store.applyEvents([ev('view', { customerId: 'c6', vehicleId: 'a' })]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(store.caching, false);
      assert.equal(top(await store.getProfile('c6')), 'a');
      await store.applyEvents([ev('view', { customerId: 'c6', vehicleId: 'b' })]);
      assert.equal(top(await store.getProfile('c6')), 'b');
    } finally {
      for (const x of open.splice(0)) {
        if (x instanceof RedisProfileStore) await x.close();
        else x.disconnect();
      }
      await plain.kill();
    }
  });
});
