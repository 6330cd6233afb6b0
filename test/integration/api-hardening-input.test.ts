import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig, type Config } from '../../shared/config/config.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { openApiDeps, type ApiDeps } from '../support/api-deps.js';
import { waitFor } from '../support/wait-for.js';

// Hardening, part 2 (issue 13): bad input is 4xx problem+json naming the field, never 5xx;
// 405 with Allow; ids in paths and admin bodies; slow clients and connection floods.

const MODEL = 'item-knn';
const READ_KEY = 'read-key-hardening-input-0123456789';
const ADMIN_KEY = 'admin-key-hardening-input-0123456789';
const read = { authorization: `Bearer ${READ_KEY}` };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

function run(runId: string, at: string): RunRecord {
  return { id: runId, kind: 'run', model: MODEL, runId, status: 'succeeded', asOf: at, params: {}, counts: {}, timings: {}, popularity: { overall: [{ vehicleId: 'v1', score: 1 }], byBodyStyle: {}, byPriceBand: {} }, createdAt: at, updatedAt: at, finishedAt: at };
}

type Problem = { type: string; status: number; detail: string; errors?: { field: string; message: string }[] };

/** The response is problem+json with `status`, and (when given) names `field`. */
async function expectProblem(res: Response, status: number, field?: string | RegExp): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, `${res.url}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, text);
  const body = JSON.parse(text) as Problem;
  assert.equal(body.status, status);
  if (field !== undefined) {
    const fields = (body.errors ?? []).map((e) => e.field);
    assert.ok(fields.some((f) => (typeof field === 'string' ? f === field : field.test(f))), `${String(field)} not in ${fields.join(', ')} (${text})`);
  }
  return body;
}

/** Raw socket: resolves with what the server sent and the ms until it closed the connection. */
function rawConnection(port: number): { socket: Socket; closed: Promise<{ data: string; ms: number }> } {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (d) => (data += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<{ data: string; ms: number }>((resolve) => socket.on('close', () => resolve({ data, ms: Date.now() - started })));
  return { socket, closed };
}

describe('API hardening: bad input, 405, ids, slow clients (real Redis, embedded Cosmos)', function () {
  this.timeout(60_000);
  let deps: ApiDeps | undefined;
  let store: PredictionStore;
  let eventLog: EventLog;
  let redis: Redis;
  let config: Config;
  let server: RunningServer;
  let prefix: string;
  const env = () => ({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    SHOWROOM_REDIS_PREFIX: prefix,
    SHOWROOM_API_KEYS: READ_KEY,
    SHOWROOM_ADMIN_KEYS: ADMIN_KEY,
    SHOWROOM_DEFAULT_MODEL: MODEL,
    SHOWROOM_EVENT_LOG_PARTITIONS: '1',
    SHOWROOM_HOST: '127.0.0.1',
    PORT: '0',
  });
  const get = (path: string, headers: Record<string, string> = read) => fetch(`${server.url}${path}`, { headers });
  const post = (path: string, body: string | Uint8Array, headers: Record<string, string>) => fetch(`${server.url}${path}`, { method: 'POST', headers, body });

  before(async () => {
    deps = await openApiDeps('hardening-input', { SHOWROOM_API_KEYS: READ_KEY, SHOWROOM_ADMIN_KEYS: ADMIN_KEY, SHOWROOM_DEFAULT_MODEL: MODEL });
    ({ config, prefix, store, redis, eventLog } = deps);
    await store.putRun(run('r1', '2026-01-01T02:00:00.000Z'));
    await store.activateRun(MODEL, 'r1');
    server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, profileConsumer: false, models: [MODEL] });
  });

  after(async () => {
    await server?.close();
    await deps?.close();
  });

  it('refuses ids outside the id alphabet in paths, queries and admin bodies with 400 naming the field', async () => {
    await expectProblem(await get('/v1/customers/a%2Fb/recommendations'), 400, 'path.customerId');
    await expectProblem(await get('/v1/customers/a%23b/recommendations'), 400, 'path.customerId');
    await expectProblem(await get('/v1/customers/a%20b/recommendations'), 400, 'path.customerId');
    await expectProblem(await get(`/v1/customers/${'c'.repeat(129)}/recommendations`), 400, 'path.customerId');
    await expectProblem(await get('/v1/vehicles/v%2F1/similar'), 400, 'path.vehicleId');
    await expectProblem(await get('/v1/customers/c1/recommendations?model=a%2Fb'), 400, 'query.model');
    await expectProblem(await get('/v1/vehicles/v1/similar?model=a%23b'), 400, 'query.model');
    await expectProblem(await get('/v1/models/a%2Fb/runs', admin), 400, 'path.model');
    const json = { ...admin, 'content-type': 'application/json' };
    await expectProblem(await post(`/v1/models/${MODEL}/activate`, JSON.stringify({ runId: 'r/1' }), json), 400, 'body.runId');
    await expectProblem(await post(`/v1/models/${MODEL}/activate`, JSON.stringify({ runId: 'r#1' }), json), 400, 'body.runId');
    await expectProblem(await post(`/v1/models/${MODEL}/activate`, JSON.stringify({ runId: 'r1', expectedRunId: 'a/b' }), json), 400, 'body.expectedRunId');
    await expectProblem(await post(`/v1/models/${MODEL}/runs`, JSON.stringify({ runId: 'x?y' }), json), 400, 'body.runId');
    // The alphabet's own characters pass.
    const ok = await get('/v1/customers/web:7f3a.x_y-z@a+b=c~d%7Ce/recommendations');
    assert.equal(ok.status, 200, await ok.text());
  });

  it('answers 400 naming the parameter to malformed percent-encoding in any path parameter (never 500)', async () => {
    await expectProblem(await get('/v1/customers/%zz/recommendations'), 400, 'path.customerId');
    await expectProblem(await get('/v1/customers/%C0%AF/recommendations'), 400, 'path.customerId');
    await expectProblem(await get('/v1/vehicles/%E0%A4%A/similar'), 400, 'path.vehicleId');
    await expectProblem(await get('/v1/models/%zz/runs', admin), 400, 'path.model');
    await expectProblem(await post('/v1/models/%C0%AF/activate', '{}', { ...admin, 'content-type': 'application/json' }), 400, 'path.model');
  });

  it('answers 415 to a non-JSON content type or charset and an unknown content-encoding, 400 to a body that does not decompress', async () => {
    const event = JSON.stringify({ eventId: `e-${prefix}`, type: 'view', customerId: 'c1', vehicleId: 'v1', occurredAt: '2026-01-05T10:00:00Z' });
    await expectProblem(await post('/v1/events', event, { ...read, 'content-type': 'application/json; charset=latin1' }), 415, 'content-type');
    await expectProblem(await post('/v1/events', event, { ...read, 'content-type': 'text/plain' }), 415, 'content-type');
    await expectProblem(await post('/v1/events', event, { ...read, 'content-type': 'application/x-www-form-urlencoded' }), 415, 'content-type');
    await expectProblem(await post(`/v1/models/${MODEL}/runs`, '{}', { ...admin, 'content-type': 'text/csv' }), 415, 'content-type');
    await expectProblem(await post('/v1/events', event, { ...read, 'content-type': 'application/json', 'content-encoding': 'compress' }), 415, 'content-encoding');
    const notGzip = new TextEncoder().encode('this is not gzip at all');
    await expectProblem(await post('/v1/events', notGzip, { ...read, 'content-type': 'application/json', 'content-encoding': 'gzip' }), 400);
    await expectProblem(await post('/v1/events', notGzip, { ...read, 'content-type': 'application/json', 'content-encoding': 'deflate' }), 400);
  });

  it('reports a JSON body of null (or a number) as the wrong shape, naming (body), not as invalid JSON', async () => {
    for (const body of ['null', '42', '"x"', 'true']) {
      const p = await expectProblem(await post('/v1/events', body, { ...read, 'content-type': 'application/json' }), 400, '(body)');
      assert.match(p.detail, /body must be an event or \{events:\[\.\.\.\]\}/);
      assert.doesNotMatch(p.detail, /not valid JSON/);
    }
    const admin400 = await expectProblem(await post(`/v1/models/${MODEL}/activate`, 'null', { ...admin, 'content-type': 'application/json' }), 400, '(body)');
    assert.match(admin400.detail, /body must be a JSON object/);
    const broken = await expectProblem(await post('/v1/events', '{"a":', { ...read, 'content-type': 'application/json' }), 400, '(body)');
    assert.match(broken.detail, /not valid JSON/);
  });

  it('answers 405 with Allow to every known path with another method, and 204 with Allow to OPTIONS', async () => {
    const paths: [string, string[]][] = [
      ['/v1/events', ['POST']],
      ['/v1/customers/c1/recommendations', ['GET', 'HEAD']],
      ['/v1/vehicles/v1/similar', ['GET', 'HEAD']],
      ['/v1/models', ['GET', 'HEAD']],
      [`/v1/models/${MODEL}/runs`, ['GET', 'HEAD', 'POST']],
      [`/v1/models/${MODEL}/activate`, ['POST']],
      ['/healthz', ['GET', 'HEAD']],
      ['/readyz', ['GET', 'HEAD']],
      ['/metrics', ['GET', 'HEAD']],
      ['/openapi.json', ['GET', 'HEAD']],
      ['/docs', ['GET', 'HEAD']],
    ];
    for (const [path, allowed] of paths) {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        if (allowed.includes(method)) continue;
        const res = await fetch(`${server.url}${path}`, { method, headers: admin });
        await expectProblem(res, 405);
        assert.deepEqual(res.headers.get('allow')?.split(', ').sort(), [...allowed, 'OPTIONS'].sort(), `${method} ${path}`);
      }
      const options = await fetch(`${server.url}${path}`, { method: 'OPTIONS', headers: admin });
      assert.equal(options.status, 204, `OPTIONS ${path}`);
      assert.deepEqual(options.headers.get('allow')?.split(', ').sort(), [...allowed, 'OPTIONS'].sort());
    }
    // With keys configured, a /v1 path still wants a key before it says anything.
    assert.equal((await fetch(`${server.url}/v1/events`, { method: 'DELETE' })).status, 401);
  });

  it('marks personalised answers Cache-Control: private, no-store', async () => {
    const res = await get('/v1/customers/c1/recommendations');
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('cache-control'), 'private, no-store');
  });

  it('logs a client that aborts its upload at info, not error', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: number; msg: string });
        done();
      },
    });
    const logged = await startServer({ config, logger: pino({ level: 'debug' }, sink), registry: new Registry(), store, eventLog, redis, profileConsumer: false });
    try {
      const { socket } = rawConnection(logged.port);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${READ_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"eventId":`);
      await new Promise((r) => setTimeout(r, 200));
      socket.destroy();
      await waitFor('abort logged', async () => lines.some((l) => /abort/.test(l.msg)), 5000);
      assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'nothing logged at error');
      assert.ok(lines.some((l) => /abort/.test(l.msg) && l.level === 30), JSON.stringify(lines));
    } finally {
      await logged.close();
    }
  });

  it('cuts a request that trickles in at the request timeout, and refuses connections beyond the cap', async () => {
    assert.throws(() => loadConfig({ SHOWROOM_HTTP_REQUEST_TIMEOUT_MS: '1000', SHOWROOM_HTTP_HEADERS_TIMEOUT_MS: '2000' }), /SHOWROOM_HTTP_HEADERS_TIMEOUT_MS must be at most SHOWROOM_HTTP_REQUEST_TIMEOUT_MS/);
    const slow = await startServer({
      config: loadConfig({ ...env(), SHOWROOM_HTTP_REQUEST_TIMEOUT_MS: '1000', SHOWROOM_HTTP_HEADERS_TIMEOUT_MS: '500', SHOWROOM_HTTP_MAX_CONNECTIONS: '3' }),
      logger: silentLogger(),
      registry: new Registry(),
      store,
      eventLog,
      redis,
      profileConsumer: false,
    });
    const timers: NodeJS.Timeout[] = [];
    try {
      // Headers at once, then one byte of the body every 200 ms: cut at the request timeout.
      const trickle = rawConnection(slow.port);
      trickle.socket.write(`POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${READ_KEY}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n`);
      timers.push(setInterval(() => trickle.socket.writable && trickle.socket.write(' '), 200));
      // Headers never finished: cut at the headers timeout.
      const headers = rawConnection(slow.port);
      headers.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const [t, h] = await Promise.all([trickle.closed, headers.closed]);
      assert.ok(t.ms < 2500, `trickling POST held its connection ${t.ms} ms`);
      assert.ok(t.ms >= 900, `cut before the request timeout (${t.ms} ms)`);
      assert.match(t.data, /^HTTP\/1\.1 408/);
      assert.ok(h.ms < 2000, `unfinished headers held the connection ${h.ms} ms`);

      // The cap: three idle connections are held, the fourth is closed at once.
      const held = [rawConnection(slow.port), rawConnection(slow.port), rawConnection(slow.port)];
      await Promise.all(held.map((c) => new Promise((r) => c.socket.once('connect', r))));
      await new Promise((r) => setTimeout(r, 100));
      const extra = rawConnection(slow.port);
      extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      const refused = await Promise.race([extra.closed, new Promise<undefined>((r) => setTimeout(r, 400, undefined))]);
      assert.ok(refused, 'the connection beyond the cap was not closed');
      assert.equal(refused.data, '', 'the connection beyond the cap got an answer');
      // The held ones still work.
      held[0].socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match((await held[0].closed).data, /^HTTP\/1\.1 200/);
      for (const c of held) c.socket.destroy();
    } finally {
      for (const t of timers) clearInterval(t);
      await slow.close();
    }
  });
});
