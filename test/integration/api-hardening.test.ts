import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { Histogram, Registry } from 'prom-client';
import type { Config } from '../../shared/config/config.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { openApiDeps, type ApiDeps } from '../support/api-deps.js';

// Hardening, part 1 (issue 13): authorisation by matched route, bounded metric labels,
// failed-authentication limit, registered models only. Part 2: api-hardening-input.test.ts.

const MODEL = 'item-knn';
const MODELS = ['item-knn', 'popularity'];
const READ_KEY = 'read-key-hardening-0123456789';
const ADMIN_KEY = 'admin-key-hardening-0123456789';
const read = { authorization: `Bearer ${READ_KEY}` };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const BOARD_SECRET = 'board-secret-page';

function run(runId: string, at: string): RunRecord {
  return { id: runId, kind: 'run', model: MODEL, runId, status: 'succeeded', asOf: at, params: {}, counts: {}, timings: {}, popularity: { overall: [{ vehicleId: 'v1', score: 1 }], byBodyStyle: {}, byPriceBand: {} }, createdAt: at, updatedAt: at, finishedAt: at };
}

/** Every spelling of `path` that is not `path`: letter case, trailing slash, doubled slashes. */
function variants(path: string): string[] {
  const segs = path.split('/');
  const out = new Set<string>([path.toUpperCase(), `${path}/`, path.replace('/v1/', '/v1//'), path.replace('/v1/', '/V1/'), `${path.toUpperCase()}/`]);
  for (let i = 1; i < segs.length; i++) {
    if (segs[i] === MODEL) continue; // a parameter: another spelling is another model
    const s = [...segs];
    s[i] = s[i][0].toUpperCase() + s[i].slice(1);
    out.add(s.join('/'));
  }
  out.delete(path);
  return [...out];
}

describe('API hardening: routes, scopes, labels, auth failures, models (real Redis, embedded Cosmos)', function () {
  this.timeout(60_000);
  let deps: ApiDeps | undefined;
  let store: PredictionStore;
  let eventLog: EventLog;
  let redis: Redis;
  let config: Config;
  let server: RunningServer;
  let registry: Registry;
  let prefix: string;
  const triggered: string[] = [];

  const call = (path: string, method = 'GET', headers: Record<string, string> = {}, base = server.url) =>
    fetch(`${base}${path}`, { method, headers: method === 'POST' ? { 'content-type': 'application/json', ...headers } : headers, body: method === 'POST' ? '{"runId":"r1"}' : undefined });

  before(async () => {
    deps = await openApiDeps('hardening', { SHOWROOM_API_KEYS: READ_KEY, SHOWROOM_ADMIN_KEYS: ADMIN_KEY, SHOWROOM_DEFAULT_MODEL: MODEL });
    ({ config, prefix, store, redis, eventLog } = deps);
    await store.putRun(run('r1', '2026-01-01T02:00:00.000Z'));
    await store.activateRun(MODEL, 'r1');
    const board = Router();
    board.get('/', (_req, res) => {
      res.send(BOARD_SECRET);
    });
    board.get('/api/queues', (_req, res) => {
      res.send(BOARD_SECRET);
    });
    registry = new Registry();
    server = await startServer({
      config,
      logger: silentLogger(),
      registry,
      store,
      eventLog,
      redis,
      profileConsumer: false,
      models: MODELS,
      // Test 1 sends many unknown keys on purpose; the limit has its own test.
      authFailureLimit: { limit: 1_000_000 },
      adminRouters: { '/admin/queues': board },
      triggerRun: async (model) => {
        triggered.push(model);
        return { runId: `run-${triggered.length}` };
      },
    });
  });

  after(async () => {
    await server?.close();
    await deps?.close();
  });

  it('authorises by the matched route: no case, slash or trailing-slash spelling of an admin route lets a read key in', async () => {
    const adminRoutes: [string, string][] = [['GET', '/v1/models'], ['GET', `/v1/models/${MODEL}/runs`], ['POST', `/v1/models/${MODEL}/runs`], ['POST', `/v1/models/${MODEL}/activate`]];
    for (const [method, path] of adminRoutes) {
      const exact = await call(path, method, read);
      assert.equal(exact.status, 403, `${method} ${path} with a read key`);
      assert.equal((await call(path, method)).status, 401, `${method} ${path} without a key`);
      for (const v of variants(path)) {
        const withRead = await call(v, method, read);
        assert.equal(withRead.status, 404, `${method} ${v} with a read key: ${await withRead.text()}`);
        assert.match(withRead.headers.get('content-type') ?? '', /application\/problem\+json/);
        assert.equal((await call(v, method)).status, 401, `${method} ${v} without a key`);
        assert.equal((await call(v, method, { authorization: 'Bearer wrong' })).status, 403, `${method} ${v} with an unknown key`);
      }
    }
    assert.equal(triggered.length, 0, 'no run was queued');
    // The admin key works on the exact spelling only.
    assert.equal((await call('/v1/models', 'GET', admin)).status, 200);
    assert.equal((await call('/v1/MODELS', 'GET', admin)).status, 404);
  });

  it('keeps a mounted admin router (Bull Board) behind the admin key for every spelling', async () => {
    for (const path of ['/admin/queues', '/admin/queues/', '/ADMIN/queues', '/Admin/Queues/', '/admin//queues', '//admin/queues', '/admin/queues/api/queues', '/ADMIN/QUEUES/api/queues']) {
      for (const headers of [{}, read]) {
        const res = await call(path, 'GET', headers);
        const text = await res.text();
        assert.ok(!text.includes(BOARD_SECRET), `${path} leaked the board (${res.status})`);
        assert.ok([401, 403, 404].includes(res.status), `${path}: ${res.status}`);
      }
    }
    const ok = await call('/admin/queues', 'GET', admin);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), BOARD_SECRET);
  });

  it('answers 401 to any unmatched path under /v1 without a key, 404 with one, 404 elsewhere', async () => {
    assert.equal((await call('/v1/nothing-here')).status, 401);
    assert.equal((await call('/V1/Nothing')).status, 401);
    assert.equal((await call('/v1/nothing-here', 'GET', read)).status, 404);
    assert.equal((await call('/favicon.ico')).status, 404);
    // Public routes stay public.
    assert.equal((await call('/healthz')).status, 200);
    assert.equal((await call('/openapi.json')).status, 200);
  });

  it('keeps metric labels bounded: 5,000 requests to random unmatched paths, with and without keys', async function () {
    this.timeout(180_000); // 5,000 requests take 25-45 s on a busy machine
    const series = async () => (await (registry.getSingleMetric('showroom_http_request_duration_seconds') as Histogram).get()).values.filter((v) => v.metricName?.endsWith('_count')).length;
    const before = await series();
    const methods = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'];
    const headerSets: Record<string, string>[] = [{}, read, admin];
    let i = 0;
    const statuses = new Set<number>();
    const worker = async () => {
      while (i < 5000) {
        const n = i++;
        const path = n % 3 === 0 ? `/v1/${randomUUID()}` : n % 3 === 1 ? `/v1/models/${randomUUID()}/x` : `/${randomUUID()}`;
        const res = await fetch(`${server.url}${path}?q=${n}`, { method: methods[n % methods.length], headers: headerSets[n % headerSets.length] });
        statuses.add(res.status);
        await res.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const after = await series();
    assert.ok(after - before <= 40, `series grew from ${before} to ${after} (statuses ${[...statuses].join(',')})`);
    const text = await (await call('/metrics', 'GET', admin)).text();
    assert.doesNotMatch(text, /route="\/v1\/[0-9a-f]{8}-/);
    assert.match(text, /route="unmatched"/);
    console.log(`      ${after} series after 5,000 unmatched requests (statuses ${[...statuses].sort().join(', ')})`);
  });

  it('serves /metrics behind the admin key with keys configured, and only on SHOWROOM_METRICS_PORT when set', async () => {
    assert.equal((await call('/metrics')).status, 401);
    assert.equal((await call('/metrics', 'GET', read)).status, 403);
    assert.equal((await call('/metrics', 'GET', admin)).status, 200);
    const separate = await startServer({ config: { ...config, metricsPort: 0 }, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, profileConsumer: false });
    try {
      assert.ok(separate.metricsPort);
      assert.equal((await call('/metrics', 'GET', admin, separate.url)).status, 404);
      const m = await fetch(`http://127.0.0.1:${separate.metricsPort}/metrics`);
      assert.equal(m.status, 200);
      assert.match(await m.text(), /showroom_http_request_duration_seconds/);
    } finally {
      await separate.close();
    }
  });

  it('limits failed authentications per address: past the limit even a correct key gets 429 with Retry-After, across instances', async () => {
    const limited = { ...config, redisPrefix: `${prefix}af-test:` };
    const a = await startServer({ config: limited, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, profileConsumer: false, authFailureLimit: { limit: 3 } });
    const b = await startServer({ config: limited, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, profileConsumer: false, authFailureLimit: { limit: 3 } });
    try {
      const recs = (base: string, headers: Record<string, string>) => call(`/v1/customers/c1/recommendations`, 'GET', headers, base);
      assert.equal((await recs(a.url, read)).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await recs(a.url, { authorization: `Bearer guess-${i}` })).status, 403);
      const refused = await recs(a.url, read);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(((await refused.json()) as { type: string }).type, 'urn:showroom:problem:rate-limited');
      assert.equal((await recs(a.url, { authorization: 'not-even-bearer' })).status, 429);
      // Requests without a key are not guesses; public routes are not affected.
      assert.equal((await recs(a.url, {})).status, 401);
      assert.equal((await call('/healthz', 'GET', {}, a.url)).status, 200);
      // Another instance counts the shared failures from its own first failure on.
      assert.equal((await recs(b.url, { authorization: 'Bearer guess-b' })).status, 403);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await recs(b.url, read)).status, 429);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('answers 404 naming the registered models to an unknown model, and queues nothing', async () => {
    const unknown = [
      await call('/v1/models/no-such-model-1/runs', 'POST', admin),
      await call('/v1/models/no-such-model-2/activate', 'POST', admin),
      await call('/v1/models/no-such-model-3/runs', 'GET', admin),
      await call('/v1/customers/c1/recommendations?model=no-such-model-4', 'GET', read),
      await call('/v1/vehicles/v1/similar?model=no-such-model-5', 'GET', read),
    ];
    for (const res of unknown) {
      const body = (await res.json()) as { status: number; detail: string; errors?: { field: string }[] };
      assert.equal(res.status, 404, JSON.stringify(body));
      assert.match(body.detail, /unknown model "no-such-model-\d"; registered: item-knn, popularity/);
      assert.ok(body.errors?.some((e) => /model/.test(e.field)), JSON.stringify(body));
    }
    assert.deepEqual(triggered, []);
    const queued = await call(`/v1/models/popularity/runs`, 'POST', admin);
    assert.equal(queued.status, 202);
    assert.deepEqual(triggered, ['popularity']);
    assert.equal((await call('/v1/customers/c1/recommendations?model=default', 'GET', read)).status, 200);
    assert.equal((await call(`/v1/customers/c1/recommendations?model=${MODEL}`, 'GET', read)).status, 200);
  });
});
