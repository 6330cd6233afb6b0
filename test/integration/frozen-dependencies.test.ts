import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { createRedis, deleteKeysWithPrefix, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { withDeadline } from '../../shared/resilience/with-deadline.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { POPULAR, seedServingRun } from '../support/serving-fixture.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

const MODEL = 'item-knn';
const SEDANS = Array.from({ length: 10 }, (_, i) => `s${i}`);
/** What a response may take beyond the dependency's deadline (loop turns, JSON, HTTP on a shared machine). */
const MARGIN_MS = 300;

interface Recs {
  degraded: boolean;
  degradedReasons?: string[];
  items: { vehicleId: string }[];
}

/** A request's status, body, Retry-After and duration; aborted (a hang) after `limitMs`. */
async function timed(url: string, init: RequestInit, limitMs: number): Promise<{ status: number; body: unknown; retryAfter: string | null; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(limitMs) }).catch((err: unknown) => {
    throw new Error(`${init.method ?? 'GET'} ${url} did not answer within ${limitMs} ms (${String(err)})`);
  });
  const body = (await res.json()) as unknown;
  return { status: res.status, body, retryAfter: res.headers.get('retry-after'), ms: Math.round(performance.now() - started) };
}

const view = (eventId: string, customerId: string, vehicleId: string) => ({ eventId, type: 'view', customerId, vehicleId, occurredAt: new Date().toISOString() });

/** Event ids in the Redis Streams log (`<prefix>log:<n>`), with how often each occurs. */
async function loggedEventIds(redis: Redis, prefix: string, partitions: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let p = 0; p < partitions; p++) {
    for (const [, fields] of (await redis.xrange(`${prefix}log:${p}`, '-', '+')) as [string, string[]][]) {
      const id = (JSON.parse(fields[1]) as { eventId: string }).eventId;
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

describe('frozen dependencies under the API (a silent Redis or Cosmos answers like a disconnected one)', function () {
  this.timeout(60_000);
  let cosmos: TestCosmos;
  let store: PredictionStore;

  before(async () => {
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    const lists: Record<string, string[]> = { 'c-warm': SEDANS };
    for (let i = 0; i < 40; i++) lists[`c-cold-${i}`] = SEDANS;
    await seedServingRun(store, MODEL, 'r1', lists);
  });
  after(async () => {
    await cosmos?.stop();
  });

  it('a stall of the API process is not taken for a silent Redis: a reply already in the socket wins over an expired deadline', async () => {
    const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'test-stall');
    try {
      await waitForRedis(redis);
      for (let i = 0; i < 5; i++) {
        const bounded = withDeadline(redis.ping(), 20, 'Redis (PING)');
        // The event loop is busy for longer than the deadline while Redis answers.
        const until = performance.now() + 100;
        while (performance.now() < until);
        assert.equal(await bounded, 'PONG');
      }
    } finally {
      redis.disconnect();
    }
  });

  describe('Redis frozen (SIGSTOP) under the API', () => {
    const DEADLINE_MS = 300;
    let redisServer: RedisServer;
    let config: Config;
    let redis: Redis;
    let admin: Redis;
    let eventLog: EventLog;
    let server: RunningServer;
    const prefix = `frozen-redis-${randomUUID().slice(0, 8)}:`;

    before(async () => {
      redisServer = await startRedisServer();
      config = loadConfig({
        REDIS_URL: redisServer.url,
        SHOWROOM_REDIS_PREFIX: prefix,
        SHOWROOM_DEFAULT_MODEL: MODEL,
        SHOWROOM_EVENT_LOG_PARTITIONS: '2',
        SHOWROOM_REDIS_DEADLINE_MS: String(DEADLINE_MS),
        SHOWROOM_HOST: '127.0.0.1',
        PORT: '0',
      });
      redis = createRedis(config.redisUrl, 'test-frozen-api');
      redis.on('error', () => undefined);
      admin = createRedis(config.redisUrl, 'test-frozen-admin', { enableOfflineQueue: true });
      admin.on('error', () => undefined);
      await waitForRedis(redis);
      eventLog = createEventLog(config);
      server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis });
    });
    after(async () => {
      redisServer?.thaw();
      await server?.close();
      await eventLog?.close();
      redis?.disconnect();
      admin?.disconnect();
      await redisServer?.kill();
    });

    it('POST answers 503 + Retry-After and GET 200 degraded within the deadline; after SIGCONT it recovers and no event is lost or doubled', async () => {
      const post = (body: unknown) => timed(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, DEADLINE_MS + 3000);
      const get = (customerId: string) => timed(`${server.url}/v1/customers/${customerId}/recommendations?limit=5`, {}, DEADLINE_MS + 3000);

      const first = view(randomUUID(), 'c-warm', 'u1');
      assert.equal((await post(first)).status, 202);
      const warm = await get('c-warm');
      assert.equal(warm.status, 200);
      assert.equal((warm.body as Recs).degraded, false, JSON.stringify(warm.body));

      const acknowledged = [first.eventId];
      const refused: ReturnType<typeof view>[] = [];
      redisServer.freeze();
      try {
        const until = Date.now() + 2500;
        let i = 0;
        while (Date.now() < until) {
          const e = view(randomUUID(), `c-frozen-${i}`, 's2');
          const p = await post(i % 2 === 0 ? e : { events: [e, view(e.eventId, e.customerId, 's2')] });
          assert.equal(p.status, 503, `POST while Redis is frozen: ${JSON.stringify(p.body)}`);
          assert.ok(Number(p.retryAfter) >= 1, `Retry-After ${p.retryAfter}`);
          assert.equal((p.body as { type: string }).type, 'urn:showroom:problem:unavailable');
          assert.ok(p.ms <= DEADLINE_MS + MARGIN_MS, `POST took ${p.ms} ms (deadline ${DEADLINE_MS} ms)`);
          refused.push(e);

          const g = await get(`c-cold-${i}`);
          assert.equal(g.status, 200, JSON.stringify(g.body));
          const recs = g.body as Recs;
          assert.equal(recs.degraded, true);
          assert.ok(recs.degradedReasons?.includes('profile-unavailable'), JSON.stringify(recs.degradedReasons));
          assert.deepEqual(recs.items.map((x) => x.vehicleId).slice(0, 2), ['s0', 's1'], 'the precomputed list, without live signals');
          assert.ok(g.ms <= DEADLINE_MS + MARGIN_MS, `GET took ${g.ms} ms (deadline ${DEADLINE_MS} ms)`);
          i += 1;
        }
        assert.ok(refused.length >= 3, `only ${refused.length} requests in 2.5 s`);
        const ready = await timed(`${server.url}/readyz`, {}, 3000);
        assert.equal(ready.status, 503);
      } finally {
        redisServer.thaw();
      }

      // Recovers by itself: POST accepted, GET with live signals again.
      await waitFor('POST accepted after SIGCONT', async () => {
        const e = view(randomUUID(), 'c-after', 'u2');
        const p = await post(e);
        if (p.status === 202) acknowledged.push(e.eventId);
        return p.status === 202;
      }, 10_000, 100);
      await waitFor('GET not degraded after SIGCONT', async () => !((await get('c-warm')).body as Recs).degraded, 10_000, 100);

      // Every refused event is taken on retry (its claim was undone, not left to answer "duplicate").
      for (const e of refused) {
        const p = await post(e);
        assert.equal(p.status, 202, JSON.stringify(p.body));
        assert.deepEqual(p.body, { accepted: 1, duplicates: 0 }, `retry of ${e.eventId}`);
        acknowledged.push(e.eventId);
      }
      // A second retry is a duplicate: now it is in the log.
      assert.deepEqual((await post(refused[0])).body, { accepted: 0, duplicates: 1 });

      const logged = await loggedEventIds(admin, prefix, config.eventLogPartitions);
      const wrong = acknowledged.filter((id) => logged.get(id) !== 1).map((id) => `${id}: ${logged.get(id) ?? 0}`);
      assert.deepEqual(wrong, [], 'every acknowledged event is in the log exactly once');
      assert.equal(logged.size, acknowledged.length, 'nothing else is in the log');
    });
  });

  describe('the event log\'s Redis connection frozen after the claims were answered', () => {
    const DEADLINE_MS = 300;
    let redisServer: RedisServer;
    let proxy: TcpProxy;
    let redis: Redis;
    let log: EventLog;
    let server: RunningServer;
    const prefix = `frozen-append-${randomUUID().slice(0, 8)}:`;

    before(async () => {
      redisServer = await startRedisServer();
      proxy = await startTcpProxy(redisServer.port);
      const config = loadConfig({ REDIS_URL: redisServer.url, SHOWROOM_REDIS_PREFIX: prefix, SHOWROOM_DEFAULT_MODEL: MODEL, SHOWROOM_REDIS_DEADLINE_MS: String(DEADLINE_MS), SHOWROOM_HOST: '127.0.0.1', PORT: '0' });
      redis = createRedis(redisServer.url, 'test-frozen-append');
      await waitForRedis(redis);
      // Only the log's connection goes through the proxy: claims answer, appends do not.
      log = createEventLog(loadConfig({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, SHOWROOM_REDIS_PREFIX: prefix, SHOWROOM_EVENT_LOG_PARTITIONS: '2' }));
      await log.ping();
      server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog: log, redis, profileConsumer: false });
    });
    after(async () => {
      proxy?.thaw();
      await server?.close();
      await log?.close();
      redis?.disconnect();
      await proxy?.close();
      await redisServer?.kill();
    });

    it('POST answers 503 within the deadline; after the thaw a retry is taken (not refused as a duplicate) and the event is in the log', async () => {
      const e = view(randomUUID(), 'c-append', 'u1');
      const post = () => timed(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e) }, DEADLINE_MS + 3000);
      proxy.freeze();
      try {
        const p = await post();
        assert.equal(p.status, 503, JSON.stringify(p.body));
        assert.ok(Number(p.retryAfter) >= 1);
        assert.ok(p.ms <= DEADLINE_MS + MARGIN_MS, `POST took ${p.ms} ms (deadline ${DEADLINE_MS} ms)`);
      } finally {
        proxy.thaw();
      }
      let retry: Awaited<ReturnType<typeof post>> | undefined;
      await waitFor('retry answered 202', async () => (retry = await post()).status === 202, 10_000, 100);
      assert.deepEqual(retry?.body, { accepted: 1, duplicates: 0 }, 'the claim of the refused request was released');
      const count = (await loggedEventIds(redis, prefix, 2)).get(e.eventId) ?? 0;
      // At least once: the refused append was only late, and lands when the connection thaws (consumers de-duplicate by eventId).
      assert.ok(count >= 1 && count <= 2, `in the log ${count} times`);
      assert.deepEqual((await post()).body, { accepted: 0, duplicates: 1 });
    });
  });

  describe('Cosmos frozen (silent proxy) under the API', () => {
    const DEADLINE_MS = 400;
    let proxy: TcpProxy;
    let viaProxy: PredictionStore;
    let config: Config;
    let redis: Redis;
    let eventLog: EventLog;
    let server: RunningServer;
    const prefix = `frozen-cosmos-${randomUUID().slice(0, 8)}:`;

    before(async () => {
      proxy = await startTcpProxy(Number(new URL(cosmos.endpoint).port));
      viaProxy = await cosmos.openStore({ endpoint: `https://127.0.0.1:${proxy.port}` });
      config = loadConfig({
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        SHOWROOM_REDIS_PREFIX: prefix,
        SHOWROOM_DEFAULT_MODEL: MODEL,
        SHOWROOM_EVENT_LOG_PARTITIONS: '2',
        SHOWROOM_COSMOS_DEADLINE_MS: String(DEADLINE_MS),
        SHOWROOM_HOST: '127.0.0.1',
        PORT: '0',
      });
      redis = createRedis(config.redisUrl, 'test-frozen-cosmos');
      await waitForRedis(redis);
      eventLog = createEventLog(config);
      // Pointers re-read often, so the freeze also meets requests that must wait for one.
      server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store: viaProxy, eventLog, redis, servingOptions: { pointerTtlMs: 200, pointerMaxAgeMs: 600 } });
    });
    after(async () => {
      proxy?.thaw();
      await server?.close();
      await eventLog?.close();
      await deleteKeysWithPrefix(redis, prefix);
      redis?.disconnect();
      await proxy?.close();
    });

    it('a point read with a signal is aborted at the signal (the SDK request and its retries), rejecting with Unavailable', async () => {
      proxy.freeze();
      try {
        const started = performance.now();
        await assert.rejects(viaProxy.getPrediction(MODEL, 'r1', 'c-cold-1', { signal: AbortSignal.timeout(200) }), (err: Error) => err.name === 'Unavailable');
        const ms = performance.now() - started;
        assert.ok(ms < 200 + MARGIN_MS, `rejected after ${Math.round(ms)} ms`);
      } finally {
        proxy.thaw();
      }
      assert.equal((await viaProxy.getPrediction(MODEL, 'r1', 'c-cold-1'))?.customerId, 'c-cold-1');
    });

    it('admin routes answer 503 + Retry-After within their deadline (5 × the Cosmos deadline) while Cosmos is frozen', async () => {
      const adminDeadline = 5 * DEADLINE_MS;
      proxy.freeze();
      try {
        const runs = await timed(`${server.url}/v1/models/${MODEL}/runs`, {}, adminDeadline + 5000);
        const activate = await timed(`${server.url}/v1/models/${MODEL}/activate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ runId: 'r1' }) }, adminDeadline + 5000);
        for (const [what, r] of [['runs', runs], ['activate', activate]] as const) {
          assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
          assert.ok(r.retryAfter, `${what}: Retry-After`);
          assert.ok(r.ms <= adminDeadline + MARGIN_MS, `${what} took ${r.ms} ms (deadline ${adminDeadline} ms)`);
        }
      } finally {
        proxy.thaw();
      }
    });

    it('GET answers 200 degraded within the deadline with a cold prediction cache, then recovers', async () => {
      const get = (customerId: string) => timed(`${server.url}/v1/customers/${customerId}/recommendations?limit=4`, {}, DEADLINE_MS + 5000);
      const warm = await get('c-warm');
      assert.equal((warm.body as Recs).degraded, false, JSON.stringify(warm.body));

      proxy.freeze();
      let answered = 0;
      try {
        const until = Date.now() + 2500;
        for (let i = 0; Date.now() < until; i++) {
          const g = await get(`c-cold-${i}`);
          assert.equal(g.status, 200, JSON.stringify(g.body));
          const recs = g.body as Recs;
          assert.equal(recs.degraded, true, JSON.stringify(recs));
          assert.ok(recs.degradedReasons?.includes('predictions-unavailable'), JSON.stringify(recs.degradedReasons));
          assert.deepEqual(recs.items.map((x) => x.vehicleId), POPULAR, 'popularity of the cached run');
          assert.ok(g.ms <= DEADLINE_MS + MARGIN_MS, `GET took ${g.ms} ms (deadline ${DEADLINE_MS} ms)`);
          answered += 1;
        }
      } finally {
        proxy.thaw();
      }
      assert.ok(answered >= 3, `only ${answered} answers in 2.5 s`);
      await waitFor('GET not degraded after the thaw', async () => {
        const g = await get('c-cold-39');
        const recs = g.body as Recs;
        return !recs.degraded && recs.items.map((x) => x.vehicleId).slice(0, 2).join() === 's0,s1';
      }, 15_000, 100);
    });
  });
});
