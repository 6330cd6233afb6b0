import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import type { Config } from '../../shared/config/config.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import { openApiDeps, type ApiDeps } from '../support/api-deps.js';

const API_KEY = 'read-key-0123456789';

/**
 * Issue 13, defects 3 and 9 through the real API: ids outside the id alphabet (what Cosmos DB
 * refuses in a document id, what changes on the way to Parquet) and free text with control
 * characters are refused with 400 problem+json naming the field, and never reach the event log.
 */
describe('POST /v1/events: the id alphabet and safe text (real Redis, embedded Cosmos)', function () {
  this.timeout(30_000);
  let deps: ApiDeps | undefined;
  let store: PredictionStore;
  let eventLog: EventLog;
  let redis: Redis;
  let config: Config;
  let server: RunningServer;
  let prefix: string;

  const post = (body: unknown) =>
    fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify(body) });
  const view = () => ({ eventId: `ok-${randomUUID()}`, type: 'view', customerId: 'c-1', vehicleId: 'v-1', occurredAt: '2026-01-05T10:00:00Z' });

  /** Every event id in the log (all partitions of this test's prefix). */
  async function loggedEventIds(): Promise<string[]> {
    const ids: string[] = [];
    for (let p = 0; p < config.eventLogPartitions; p++) {
      const entries = (await redis.xrange(`${prefix}log:${p}`, '-', '+')) as [string, string[]][];
      for (const [, fields] of entries) {
        for (let i = 0; i + 1 < fields.length; i += 2) {
          try {
            const e = JSON.parse(fields[i + 1]!) as { eventId?: string } | { eventId?: string }[];
            for (const x of Array.isArray(e) ? e : [e]) if (x?.eventId) ids.push(x.eventId);
          } catch {
            // not an event field
          }
        }
      }
    }
    return ids;
  }

  before(async () => {
    deps = await openApiDeps('ids', { SHOWROOM_API_KEYS: API_KEY, SHOWROOM_ADMIN_KEYS: 'admin-key-0123456789', SHOWROOM_EVENT_LOG_PARTITIONS: '2' });
    ({ config, prefix, store, redis, eventLog } = deps);
    server = await startServer({ config, logger: silentLogger(), registry: new Registry(), store, eventLog, redis, profileConsumer: false });
  });

  after(async () => {
    await server?.close();
    await deps?.close();
  });

  it('refuses ids outside the alphabet with 400 naming the field; nothing reaches the event log', async () => {
    const cases: [field: string, value: string][] = [
      ['customerId', 'evil/c1'],
      ['customerId', '<script>x</script>'],
      ['customerId', 'a#b'],
      ['customerId', 'a?b'],
      ['customerId', 'a\\b'],
      ['customerId', 'a%2Fb'],
      ['customerId', 'user 1'],
      ['customerId', 'nul\u0000'],
      ['eventId', 'e-\uD800'],
      ['eventId', 'e-\uDC00'],
      ['eventId', 'e-\u0000'],
      ['vehicleId', 'v/1'],
      ['sessionId', 's#1'],
      ['customerId', 'x'.repeat(129)],
    ];
    const good = view();
    for (const [field, value] of cases) {
      const bad = { ...view(), [field]: value };
      const res = await post({ events: [good, bad] });
      const text = await res.text();
      assert.equal(res.status, 400, `${field}=${JSON.stringify(value)}: ${text}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const body = JSON.parse(text) as { type: string; errors: { field: string; message: string }[] };
      assert.equal(body.type, 'urn:showroom:problem:invalid-argument');
      assert.deepEqual([...new Set(body.errors.map((e) => e.field))], [`events[1].${field}`], `${field}=${JSON.stringify(value)}: ${text}`);
      assert.ok(body.errors.some((e) => e.message === `${field} must be 1–128 characters from A–Z a–z 0–9 . _ - : @ + = ~ |`), text);
      // A single event (not a batch) is refused the same way, naming the bare field.
      const single = await post(bad);
      assert.equal(single.status, 400, `${field}=${JSON.stringify(value)} alone`);
      assert.deepEqual([...new Set(((await single.json()) as { errors: { field: string }[] }).errors.map((e) => e.field))], [field]);
    }
    assert.deepEqual(await loggedEventIds(), [], 'no event of a refused request is in the log');
  });

  it('refuses control characters and lone surrogates in free text, naming the field', async () => {
    for (const [properties, field] of [
      [{ query: 'suv\u0000' }, 'events[0].properties.query'],
      [{ channel: 'web\uD800' }, 'events[0].properties.channel'],
      [{ filters: { make: 'Kia\u0007' } }, 'events[0].properties.filters.make'],
    ] as const) {
      const res = await post({ events: [{ ...view(), properties }] });
      assert.equal(res.status, 400);
      assert.deepEqual(((await res.json()) as { errors: { field: string }[] }).errors.map((e) => e.field), [field]);
    }
    assert.deepEqual(await loggedEventIds(), []);
  });

  it('accepts ids from the alphabet (UUIDs, prefixed, e-mail-like) and text with other Unicode, and logs them', async () => {
    const events = [
      { ...view(), eventId: randomUUID(), customerId: 'web:7f3a', vehicleId: 'v_1.2' },
      { ...view(), eventId: 'bench:42', customerId: 'jane.doe+cars@example.com', sessionId: 'a=b~c|d' },
      { eventId: `s-${randomUUID()}`, type: 'search', customerId: 'c-2', occurredAt: '2026-01-05T10:00:00Z', properties: { query: 'Škoda 😀 Octavia', filters: { location: 'Malmö' } } },
    ];
    const res = await post({ events });
    assert.equal(res.status, 202, await res.clone().text());
    assert.deepEqual((await loggedEventIds()).sort(), events.map((e) => e.eventId).sort());
  });
});
