import { EventIdClaims } from '../../shared/dedupe/event-id-claims.js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../../shared/config/config.js';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { neighborId, predictionId, type NeighborDoc, type PredictionDoc, type RunRecord } from '../../shared/domain/prediction.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { deleteKeysWithPrefix, createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startRedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait-for.js';

const MODEL = 'item-knn';
const READ_KEY = 'read-key-0123456789';
const ADMIN_KEY = 'admin-key-0123456789';

const SEDANS: [string, string][] = [['Toyota', 'Camry'], ['Honda', 'Accord'], ['Hyundai', 'Sonata'], ['Nissan', 'Altima'], ['Mazda', '6']];
const SUVS: [string, string][] = [['Toyota', 'RAV4'], ['Honda', 'CR-V'], ['Mazda', 'CX-5'], ['Ford', 'Escape'], ['Kia', 'Sportage']];

function catalog(): Vehicle[] {
  const out: Vehicle[] = [];
  for (let i = 0; i < 10; i++) {
    const [make, model] = SEDANS[i % 5];
    out.push({ vehicleId: `s${i}`, make, model, trim: 'LE', year: 2020, bodyStyle: 'Sedan', price: 22_000 + i * 500 });
  }
  for (let i = 0; i < 10; i++) {
    const [make, model] = SUVS[i % 5];
    out.push({ vehicleId: `u${i}`, make, model, trim: 'XLE', year: 2021, bodyStyle: 'SUV', price: 27_000 + i * 400 });
  }
  return out;
}

function runRecord(runId: string, createdAt: string): RunRecord {
  return {
    id: runId,
    kind: 'run',
    model: MODEL,
    runId,
    status: 'succeeded',
    asOf: createdAt,
    params: {},
    counts: {},
    timings: {},
    popularity: {
      overall: [{ vehicleId: 'u9', score: 40 }, { vehicleId: 's9', score: 35 }, { vehicleId: 'u8', score: 30 }, { vehicleId: 's8', score: 20 }],
      byBodyStyle: { SUV: [{ vehicleId: 'u9', score: 40 }, { vehicleId: 'u8', score: 30 }] },
      byPriceBand: {},
    },
    createdAt,
    updatedAt: createdAt,
    finishedAt: createdAt,
  };
}

async function seedRun(store: PredictionStore, runId: string, createdAt: string, lists: Record<string, string[]>): Promise<void> {
  const vehicles = catalog();
  const neighbors: NeighborDoc[] = vehicles.map(({ vehicleId, ...vehicle }) => {
    const same = vehicles.filter((o) => o.bodyStyle === vehicle.bodyStyle && o.vehicleId !== vehicleId);
    return {
      id: neighborId(MODEL, runId, vehicleId),
      vehicleId,
      model: MODEL,
      runId,
      vehicle,
      neighbors: same.map((o, i) => ({ vehicleId: o.vehicleId, score: 0.9 - i * 0.05 })),
    };
  });
  const predictions: PredictionDoc[] = Object.entries(lists).map(([customerId, ids]) => ({
    id: predictionId(MODEL, runId, customerId),
    customerId,
    model: MODEL,
    runId,
    generatedAt: createdAt,
    items: ids.map((vehicleId, i) => ({ vehicleId, score: 1 - i * 0.05 })),
  }));
  const w1 = await store.upsertNeighbors(neighbors);
  const w2 = await store.upsertPredictions(predictions);
  assert.equal(w1.failed.length + w2.failed.length, 0);
  await store.putRun(runRecord(runId, createdAt));
}

const sedanList = Array.from({ length: 10 }, (_, i) => `s${i}`);
const suvList = Array.from({ length: 10 }, (_, i) => `u${i}`);

describe('online API (real Redis, embedded Cosmos, Redis Streams log)', function () {
  this.timeout(30_000);
  let cosmos: TestCosmos;
  let proxy: FaultProxy;
  let store: PredictionStore;
  let eventLog: EventLog;
  let redis: Redis;
  let config: Config;
  let server: RunningServer;
  let prefix: string;
  const auth = { authorization: `Bearer ${READ_KEY}` };
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };

  const get = (path: string, headers: Record<string, string> = auth) => fetch(`${server.url}${path}`, { headers });
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const recs = async (customerId: string, query = '') => {
    const res = await get(`/v1/customers/${customerId}/recommendations?limit=10${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { runId: string; degraded: boolean; coldStart: boolean; items: { vehicleId: string; reasons: string[]; boosts?: { kind: string }[] }[] };
  };
  const ev = (type: ShowroomEvent['type'], extra: Partial<ShowroomEvent>): ShowroomEvent => {
    const now = new Date().toISOString();
    return { eventId: randomUUID(), type, occurredAt: now, receivedAt: now, ...extra } as ShowroomEvent;
  };

  before(async () => {
    prefix = `showroom-test-online-${randomUUID().slice(0, 8)}:`;
    config = loadConfig({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      SHOWROOM_REDIS_PREFIX: prefix,
      SHOWROOM_API_KEYS: READ_KEY,
      SHOWROOM_ADMIN_KEYS: ADMIN_KEY,
      SHOWROOM_DEFAULT_MODEL: MODEL,
      SHOWROOM_EVENT_LOG_PARTITIONS: '2',
      SHOWROOM_HOST: '127.0.0.1',
      PORT: '0',
    });
    cosmos = await startTestCosmos();
    proxy = await startFaultProxy({ target: cosmos.endpoint });
    store = await cosmos.openStore({ endpoint: proxy.endpoint, requestTimeoutMs: 2000 });
    redis = createRedis(config.redisUrl, 'test-online');
    await waitForRedis(redis);
    eventLog = createEventLog(config);
    await seedRun(store, 'r1', '2026-01-01T02:00:00.000Z', { 'c-sedan': sedanList, 'c-roll': sedanList, 'c-sold-a': sedanList, 'c-sold-b': ['s3', 's1', 's2'] });
    await seedRun(store, 'r2', '2026-01-02T02:00:00.000Z', { 'c-sedan': sedanList, 'c-roll': suvList, 'c-sold-a': sedanList, 'c-sold-b': ['s3', 's1', 's2'], 'c-other': sedanList });
    await store.activateRun(MODEL, 'r1');
    await store.activateRun(MODEL, 'r2');
    server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis });
  });

  after(async () => {
    await server?.close();
    await eventLog?.close();
    if (redis) {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    }
    await proxy?.stop();
    await cosmos?.stop();
  });

  it('answers /healthz, /readyz, /metrics, a valid /openapi.json and a self-contained /docs', async () => {
    assert.equal((await get('/healthz', {})).status, 200);
    // Public, but only an admin key sees the checks (with keys configured).
    assert.deepEqual(await (await get('/readyz', {})).json(), { status: 'ready' });
    const ready = await get('/readyz', admin);
    const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.deepEqual(Object.keys(body.checks).sort(), ['cosmos', 'eventLog', 'redis']);
    const doc = (await (await get('/openapi.json', {})).json()) as { openapi: string; paths: Record<string, Record<string, { responses: object }>>; components: object };
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    for (const p of ['/v1/events', '/v1/customers/{customerId}/recommendations', '/v1/vehicles/{vehicleId}/similar', '/v1/models', '/v1/models/{model}/runs', '/v1/models/{model}/activate']) assert.ok(doc.paths[p], p);
    // Every $ref resolves and every operation has responses.
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/([^"]+)"/g) ?? [];
    for (const r of refs) {
      const path = r.slice(10, -1).split('/');
      let node: unknown = doc;
      for (const seg of path) node = (node as Record<string, unknown>)[seg];
      assert.ok(node, `unresolved ${r}`);
    }
    for (const ops of Object.values(doc.paths)) for (const op of Object.values(ops)) assert.ok(Object.keys(op.responses).length > 0);
    const html = await (await get('/docs', {})).text();
    assert.match(html, /<script src="\/docs\/docs.js">/);
    assert.doesNotMatch(html, /https?:\/\//);
    assert.equal((await get('/docs/docs.js', {})).status, 200);
    // helmet and request ids
    const h = await get('/healthz', { 'x-request-id': 'abc-123' });
    assert.equal(h.headers.get('x-request-id'), 'abc-123');
    assert.ok(h.headers.get('x-content-type-options'));
    await get(`/v1/customers/c-sedan/recommendations`);
    assert.match(await (await get('/metrics', admin)).text(), /showroom_http_request_duration_seconds_bucket\{.*route="\/v1\/customers\/:customerId\/recommendations"/);
  });

  it('rejects no key with 401 and a wrong or non-admin key with 403, as problem+json', async () => {
    const none = await get('/v1/customers/c-sedan/recommendations', {});
    assert.equal(none.status, 401);
    assert.match(none.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(((await none.json()) as { type: string }).type, 'urn:showroom:problem:unauthenticated');
    assert.equal((await get('/v1/customers/c-sedan/recommendations', { authorization: 'Bearer nope' })).status, 403);
    assert.equal((await get('/v1/models', auth)).status, 403);
    assert.equal((await get('/v1/models', admin)).status, 200);
    assert.equal((await get('/v1/customers/c-sedan/recommendations', admin)).status, 200);
  });

  it('an all-sedan customer who views five SUVs gets SUVs in the top 5 on the very next request, with reasons', async () => {
    const before = await recs('c-sedan');
    assert.ok(before.items.slice(0, 5).every((i) => i.vehicleId.startsWith('s')), JSON.stringify(before.items));
    const views = ['u0', 'u1', 'u2', 'u3', 'u4'].map((vehicleId) => ({ eventId: randomUUID(), type: 'view', customerId: 'c-sedan', vehicleId, occurredAt: new Date().toISOString() }));
    const res = await post('/v1/events', { events: views });
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { accepted: 5, duplicates: 0 });
    const after = await recs('c-sedan', '&explain=true');
    const suvs = after.items.slice(0, 5).filter((i) => i.vehicleId.startsWith('u'));
    assert.ok(suvs.length > 0, JSON.stringify(after.items));
    assert.ok(suvs.some((i) => i.reasons.some((r) => /^because you viewed 2021 (Toyota RAV4|Honda CR-V|Mazda CX-5|Ford Escape|Kia Sportage) XLE$/.test(r))), JSON.stringify(suvs));
    assert.ok(suvs[0].boosts?.some((b) => b.kind === 'session'));
  });

  it("its profile consumer skips the events the API already applied (counted), and applies other producers' events", async () => {
    const metric = async (outcome: string) => {
      const m = new RegExp(`showroom_profile_events_total\\{outcome="${outcome}"\\} (\\d+)`).exec(await (await get('/metrics', admin)).text());
      return m ? Number(m[1]) : 0;
    };
    const [skipped0, applied0] = [await metric('applied-by-api'), await metric('applied')];
    const mine = ['s5', 's6'].map((vehicleId) => ({ eventId: randomUUID(), type: 'view', customerId: 'c-skip', vehicleId, occurredAt: new Date().toISOString() }));
    assert.equal((await post('/v1/events', { events: mine })).status, 202);
    await eventLog.append([ev('view', { customerId: 'c-skip', vehicleId: 's7' })]);
    await waitFor('consumer caught up', async () => (await metric('applied-by-api')) - skipped0 >= 2 && (await metric('applied')) - applied0 >= 1, 2000);
    assert.equal((await metric('applied-by-api')) - skipped0, 2);
  });

  it('applies events another producer appended to the log within 1 s', async () => {
    await eventLog.append(['u5', 'u6', 'u7'].map((vehicleId) => ev('favorite', { customerId: 'c-other', vehicleId })));
    const ms = await waitFor('profile update', async () => (await recs('c-other')).items.slice(0, 5).some((i) => i.vehicleId.startsWith('u')), 1000);
    console.log(`      log → profile visible after ${ms} ms`);
  });

  it('a vehicle sold by another producer disappears from every list and from similar lists within 1 s', async () => {
    const similar = async () => {
      const res = await get('/v1/vehicles/s1/similar?limit=20');
      assert.equal(res.status, 200);
      return ((await res.json()) as { items: { vehicleId: string }[] }).items.map((i) => i.vehicleId);
    };
    assert.ok((await recs('c-sold-a')).items.some((i) => i.vehicleId === 's3'));
    assert.ok((await recs('c-sold-b')).items.some((i) => i.vehicleId === 's3'));
    assert.ok((await similar()).includes('s3'));
    await eventLog.append([ev('vehicle_sold', { vehicleId: 's3' })]);
    const ms = await waitFor(
      'sold vehicle gone',
      async () => {
        const [a, b, s] = await Promise.all([recs('c-sold-a'), recs('c-sold-b'), similar()]);
        return !a.items.some((i) => i.vehicleId === 's3') && !b.items.some((i) => i.vehicleId === 's3') && !s.includes('s3');
      },
      1000,
    );
    console.log(`      sold → gone everywhere after ${ms} ms`);
  });

  it('stores a batch sent twice once and counts the duplicates', async () => {
    const batch = { events: [0, 1, 2].map((i) => ({ eventId: `dup-${prefix}-${i}`, type: 'view', customerId: 'c-dup', vehicleId: `s${i}`, occurredAt: '2026-01-05T10:00:00Z' })) };
    const first = await post('/v1/events', batch);
    assert.equal(first.status, 202);
    assert.deepEqual(await first.json(), { accepted: 3, duplicates: 0 });
    const second = await post('/v1/events', batch);
    assert.equal(second.status, 202);
    assert.deepEqual(await second.json(), { accepted: 0, duplicates: 3 });
    assert.equal(await countInLog(batch.events.map((e) => e.eventId)), 3);
  });

  it('rejects an invalid batch whole, naming every bad field', async () => {
    const good = { eventId: `good-${prefix}`, type: 'view', customerId: 'c-x', vehicleId: 's1', occurredAt: '2026-01-05T10:00:00Z' };
    const res = await post('/v1/events', {
      events: [
        { eventId: 'e0', type: 'view', customerId: 'c-x', vehicleId: 's1' },
        good,
        { eventId: 'e2', type: 'teleport', customerId: 'c-x', vehicleId: 's1', occurredAt: '2026-01-05T10:00:00Z', colour: 'red' },
      ],
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { type: string; errors: { field: string; index?: number }[] };
    assert.equal(body.type, 'urn:showroom:problem:invalid-argument');
    const fields = body.errors.map((e) => e.field);
    for (const f of ['events[0].occurredAt', 'events[2].type', 'events[2].colour']) assert.ok(fields.includes(f), `${f} in ${fields.join(', ')}`);
    assert.equal(await countInLog([good.eventId]), 0);
  });

  it('answers 413 to a 2 MiB body', async () => {
    const big = JSON.stringify({ events: [{ eventId: 'x', type: 'search', customerId: 'c', occurredAt: '2026-01-05T10:00:00Z', properties: { query: 'a'.repeat(2 * 1024 * 1024) } }] });
    const res = await post('/v1/events', big);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { type: string }).type, 'urn:showroom:problem:payload-too-large');
  });

  it('answers 429 with Retry-After to a flood', async () => {
    const limited = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, port: 0, profileConsumer: false, rateLimit: { limit: 5 }, keys: { api: ['flood-key'], admin: [] } });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`${limited.url}/v1/customers/c-flood/recommendations`, { headers: { authorization: 'Bearer flood-key' } });
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
        await r.arrayBuffer();
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
      assert.ok(Number(retryAfter) >= 1);
    } finally {
      await limited.close();
    }
  });

  it('serves a cold-start list from popularity for an unknown customer', async () => {
    const r = await recs('c-never-seen');
    assert.equal(r.coldStart, true);
    assert.equal(r.degraded, false);
    assert.ok(r.items.some((i) => i.vehicleId === 'u9'));
  });

  it('activating an older run changes what is served within 10 s (another instance) and at once (this one)', async () => {
    assert.equal((await recs('c-roll')).runId, 'r2');
    assert.ok((await recs('c-roll')).items[0].vehicleId.startsWith('u'));
    // Another instance flips the pointer straight in Cosmos.
    await store.activateRun(MODEL, 'r1');
    const ms = await waitFor('rollback served', async () => (await recs('c-roll')).runId === 'r1', 10_000);
    console.log(`      rollback served after ${ms} ms`);
    assert.ok((await recs('c-roll')).items[0].vehicleId.startsWith('s'));
    // Through the admin API: immediate in this instance.
    const res = await post(`/v1/models/${MODEL}/activate`, { runId: 'r2' }, admin);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { previousRunId: string }).previousRunId, 'r1');
    assert.equal((await recs('c-roll')).runId, 'r2');
    const runs = (await (await get(`/v1/models/${MODEL}/runs`, admin)).json()) as { activeRunId: string; runs: { runId: string }[] };
    assert.equal(runs.activeRunId, 'r2');
    assert.equal((await post(`/v1/models/${MODEL}/activate`, { runId: 'nope' }, admin)).status, 404);
    const trigger = await post(`/v1/models/${MODEL}/runs`, {}, admin);
    assert.equal(trigger.status, 501);
  });

  it('keeps answering 200 with degraded: true when Cosmos is unreachable', async () => {
    proxy.setPlan({ failStatus: 503 });
    try {
      const r = await recs('c-cosmos-down-new');
      assert.equal(r.degraded, true);
      assert.ok(r.items.length > 0);
      const cached = await recs('c-sedan');
      assert.ok(cached.items.length > 0);
    } finally {
      proxy.setPlan({});
    }
  });

  it('serves the base list without live signals, degraded: true, when Redis is unreachable', async () => {
    const privateRedis = await startRedisServer();
    const deadRedis = createRedis(privateRedis.url, 'test-dead');
    deadRedis.on('error', () => undefined);
    await waitForRedis(deadRedis);
    const alone = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis: deadRedis, port: 0, profileConsumer: false });
    try {
      await privateRedis.kill();
      const res = await fetch(`${alone.url}/v1/customers/c-sedan/recommendations?limit=5`, { headers: auth });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { degraded: boolean; degradedReasons: string[]; items: { vehicleId: string }[] };
      assert.equal(body.degraded, true);
      assert.ok(body.degradedReasons.includes('profile-unavailable'));
      assert.deepEqual(body.items.map((i) => i.vehicleId).slice(0, 2), ['s0', 's1']);
    } finally {
      await alone.close();
      deadRedis.disconnect();
    }
  });

  it('answers 503 with Retry-After when the log cannot take the write, and a retry is not lost as a duplicate', async () => {
    const logRedis = await startRedisServer();
    const log = new RedisStreamsEventLog({ redisUrl: logRedis.url, prefix, partitions: 2, appendTimeoutMs: 1000, trimIntervalMs: 0 });
    const alone = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog: log, redis, port: 0, profileConsumer: false });
    const event = { eventId: `retry-${prefix}`, type: 'view', customerId: 'c-retry', vehicleId: 's1', occurredAt: '2026-01-05T10:00:00Z' };
    const send = () => fetch(`${alone.url}/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(event) });
    try {
      await log.ping();
      await logRedis.kill();
      const down = await send();
      assert.equal(down.status, 503, await down.clone().text());
      assert.ok(Number(down.headers.get('retry-after')) >= 1);
      assert.equal(((await down.json()) as { type: string }).type, 'urn:showroom:problem:unavailable');
      assert.equal(await redis.exists(new EventIdClaims({ redis, prefix }).key(event.eventId)), 0, 'claim released');
      await logRedis.start();
      let body: unknown;
      await waitFor('retry accepted', async () => {
        const r = await send();
        body = await r.json();
        return r.status === 202;
      }, 10_000);
      assert.deepEqual(body, { accepted: 1, duplicates: 0 });
    } finally {
      await alone.close();
      await log.close();
      await logRedis.kill();
    }
  });

  async function countInLog(eventIds: string[]): Promise<number> {
    const wanted = new Set(eventIds);
    let n = 0;
    for (let p = 0; p < config.eventLogPartitions; p++) {
      const entries = (await redis.xrange(`${prefix}log:${p}`, '-', '+')) as [string, string[]][];
      for (const [, fields] of entries) {
        for (let i = 0; i + 1 < fields.length; i += 2) {
          try {
            const e = JSON.parse(fields[i + 1]) as { eventId?: string };
            if (e.eventId && wanted.has(e.eventId)) n += 1;
          } catch {
            // not an event field
          }
        }
      }
    }
    return n;
  }
});
