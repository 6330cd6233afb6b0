import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EVENT_TYPES, parseEvent, parseEventBatch } from '../../shared/domain/event.js';
import { parseEventBatchFast, parseEventFast } from '../../shared/domain/fast-event-parse.js';

const RECEIVED = '2026-03-01T12:00:00.000Z';

/** JSON that keeps key order and shows keys whose value is undefined. */
function shape(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (v === undefined ? '<undefined>' : v));
}

/** The same value, key order and present-but-undefined keys included. */
function assertSame(actual: unknown, expected: unknown, what: unknown): void {
  assert.deepStrictEqual(actual, expected, shape(what));
  assert.equal(shape(actual), shape(expected), shape(what));
}

type Options = { keepReceivedAt?: boolean; receivedAt?: string };

/** The fast path either declines (undefined) or returns exactly what parseEvent returns; never accepts what it rejects. */
function agreesOne(value: unknown, options: Options): 'fast' | 'declined' {
  const fast = parseEventFast(value, options);
  const slow = parseEvent(value, options);
  if (!slow.ok) {
    assert.equal(fast, undefined, `fast path accepted what the schema rejects (${slow.fields.map((f) => `${f.field} ${f.message}`).join('; ')}): ${shape(value)}`);
    return 'declined';
  }
  if (fast === undefined) return 'declined';
  assertSame(fast, slow.event, value);
  return 'fast';
}

/** The same for a request body: parseEventBatchFast against parseEventBatch. */
function agreesBatch(body: unknown): 'fast' | 'declined' {
  const fast = parseEventBatchFast(body, RECEIVED);
  let slow: unknown;
  try {
    slow = parseEventBatch(body, RECEIVED);
  } catch {
    assert.equal(fast, undefined, `fast path accepted what the schema rejects: ${shape(body)}`);
    return 'declined';
  }
  if (fast === undefined) return 'declined';
  assertSame(fast, slow, body);
  return 'fast';
}

const ok = { eventId: 'e1', type: 'view', customerId: 'c1', vehicleId: 'v1', occurredAt: '2026-02-03T04:05:06Z' };
/** An event as the event log holds it (what the offline sink decodes). */
const logged = {
  eventId: 'b-1',
  type: 'view',
  customerId: 'c-1',
  vehicleId: 'v-1',
  sessionId: 's-1',
  occurredAt: '2026-03-05T06:00:00.020Z',
  receivedAt: '2026-03-05T06:00:00.920Z',
  properties: { channel: 'web', position: 1 },
};
const vehicle = { make: 'Toyota', model: 'Corolla', year: 2021, bodyStyle: 'sedan', price: 21_000 };

/** Ids from the id alphabet (shared/domain/ids.ts), 1 to 6 characters. */
const validId = fc.stringMatching(/^[A-Za-z0-9._:@+=~|-]{1,6}$/);
/** Ids outside the alphabet: what Cosmos refuses, what changes on the way to Parquet, what is too long. */
const BAD_IDS = ['evil/c1', 'a\\b', 'a?b', 'a#b', '50%', 'user 1', '<script>x</script>', 'a\u0000b', '\u0000', 'e-\uD800', 'e-\uDC00', '\uD83D\uDE00', 'é', 'x\u00A0y', 'tab\t', 'x'.repeat(129)];
const badId = fc.oneof(
  fc.constantFrom(...BAD_IDS),
  // a valid id with one bad character inserted
  fc.tuple(validId, fc.constantFrom('/', '\\', '?', '#', '%', ' ', '<', '\u0000', '\uD800', '\uDC00', 'ü', '"'), fc.nat({ max: 6 })).map(([s, c, i]) => s.slice(0, i) + c + s.slice(i)),
);
/** Free text the schema refuses: control characters and lone surrogates (a surrogate pair is fine). */
const BAD_TEXT = ['a\u0000', '\u0007', 'x\u007F', '\u0085', 'line\nbreak', 'tab\t', 'e-\uD800', '\uDC00x', '\uDE00\uD83D'];
const badText = fc.oneof(fc.constantFrom(...BAD_TEXT), fc.constantFrom('😀 suv', 'Škoda', 'x\u00A0y')); // the last three are valid

describe('parseEventFast', () => {
  it('takes the fast path for the common shapes, with the output of parseEvent', () => {
    const keep = { keepReceivedAt: true };
    for (const [value, options] of [
      [logged, keep],
      [{ ...logged, receivedAt: '2026-03-05T06:00:01Z', occurredAt: '2026-03-05T06:00:00.123456Z' }, keep],
      [{ eventId: 'i', type: 'vehicle_listed', vehicleId: 'v', occurredAt: '2026-02-03T04:05:06Z', receivedAt: RECEIVED, properties: { vehicle } }, keep],
      [{ eventId: 'p', type: 'vehicle_price_changed', vehicleId: 'v', occurredAt: '2026-02-03T04:05:06Z', receivedAt: RECEIVED, properties: { price: 19_500, previousPrice: 21_000 } }, keep],
      [{ eventId: 's', type: 'search', customerId: 'c', occurredAt: '2024-02-29T23:59:59Z', properties: { query: 'suv', filters: { make: 'Kia', priceMax: 30_000, yearMin: 2018 } } }, { receivedAt: RECEIVED }],
      [{ ...ok, properties: { value: -2.5, price: 0 } }, { receivedAt: '2026-03-01T12:00:00Z' }],
      [{ ...ok, receivedAt: '2026-01-01T00:00:00Z' }, { receivedAt: RECEIVED }], // not kept: replaced, in its place
      [{ ...ok, sessionId: undefined, properties: undefined }, { receivedAt: RECEIVED }], // zod keeps present-undefined keys
    ] as const) {
      assert.equal(agreesOne(value, options), 'fast', shape(value));
    }
    const e = parseEventFast(logged, keep)!;
    assert.deepEqual(Object.keys(e), ['eventId', 'type', 'customerId', 'vehicleId', 'sessionId', 'occurredAt', 'receivedAt', 'properties']);
    assert.equal(e.receivedAt, logged.receivedAt);
    assert.equal(parseEventFast({ ...logged, receivedAt: '2026-03-05T06:00:01Z' }, keep)?.receivedAt, '2026-03-05T06:00:01.000Z');
  });

  it('declines what the schema rejects, and what needs the current time', () => {
    const keep = { keepReceivedAt: true };
    for (const bad of [
      { ...logged, occurredAt: '2026-02-03T04:05:06+01:00' },
      { ...logged, occurredAt: '2026-02-30T04:05:06Z' },
      { ...logged, occurredAt: '2025-02-29T04:05:06Z' },
      { ...logged, occurredAt: '1900-02-29T04:05:06Z' },
      { ...logged, occurredAt: '2026-13-03T04:05:06Z' },
      { ...logged, occurredAt: '2026-01-01T24:00:00Z' },
      { ...logged, occurredAt: '2026-01-01T00:00:00.Z' },
      { ...logged, occurredAt: '2026-01-01T00:00:00.1.2Z' },
      { ...logged, occurredAt: '2026-01-01T00:00:00.12/Z' },
      { ...logged, occurredAt: '2026-01-01T00:00:00z' },
      { ...logged, occurredAt: '2026-01-01T00:00Z' },
      { ...logged, receivedAt: 'yesterday' },
      { ...logged, eventId: '' },
      { ...logged, eventId: 'x'.repeat(129) },
      { ...logged, vehicleId: undefined },
      { ...logged, customerId: undefined },
      { ...logged, type: 'teleport' },
      { ...logged, colour: 'red' },
      { ...logged, customerId: 5 },
      { ...logged, customerId: null },
      { ...logged, properties: { channel: 'x'.repeat(33) } },
      { ...logged, properties: { position: 1.5 } },
      { ...logged, properties: { position: 2 ** 53 } },
      { ...logged, properties: { value: 1001 } },
      { ...logged, properties: { price: Number.NaN } },
      { ...logged, properties: { filters: { yearMin: 1899 } } },
      { ...logged, properties: { vehicle: { ...vehicle, price: -1 } } },
      { ...logged, properties: { vehicle: { ...vehicle, make: '' } } },
      { ...logged, properties: { mileage: 5 } },
      { eventId: 'p', type: 'vehicle_price_changed', vehicleId: 'v', occurredAt: '2026-02-03T04:05:06Z', receivedAt: RECEIVED },
      { eventId: 'i', type: 'vehicle_sold', customerId: 'c', occurredAt: '2026-02-03T04:05:06Z', receivedAt: RECEIVED },
      JSON.parse('{"__proto__": {"x": 1}, "eventId": "e", "type": "search", "customerId": "c", "occurredAt": "2026-01-01T00:00:00Z", "receivedAt": "2026-01-01T00:00:00Z"}') as unknown,
      [logged],
      'event',
      null,
    ]) {
      assert.equal(agreesOne(bad, keep), 'declined', shape(bad));
    }
    // Ids outside the alphabet and unsafe free text: both paths refuse them.
    for (const bad of BAD_IDS) {
      for (const field of ['eventId', 'customerId', 'vehicleId', 'sessionId']) {
        const value = { ...logged, [field]: bad };
        assert.equal(parseEvent(value, keep).ok, false, shape(value));
        assert.equal(agreesOne(value, keep), 'declined', shape(value));
      }
    }
    for (const bad of BAD_TEXT) {
      for (const value of [
        { ...logged, properties: { query: bad } },
        { ...logged, properties: { channel: bad } },
        { ...logged, properties: { filters: { make: bad } } },
        { ...logged, properties: { filters: { location: bad } } },
        { ...logged, properties: { vehicle: { ...vehicle, model: bad } } },
        { ...logged, properties: { vehicle: { ...vehicle, storeId: bad } } },
      ]) {
        assert.equal(parseEvent(value, keep).ok, false, shape(value));
        assert.equal(agreesOne(value, keep), 'declined', shape(value));
      }
    }
    // A surrogate pair, accents and a no-break space are text, not control characters.
    assert.equal(agreesOne({ ...logged, properties: { query: '😀 Škoda\u00A0suv' } }, keep), 'fast');
    // Without a receivedAt to keep or to stamp, parseEvent uses the current time: the fast path declines.
    const { receivedAt: _, ...unstamped } = logged;
    assert.equal(parseEventFast(unstamped, keep), undefined);
    assert.equal(parseEventFast(logged, {}), undefined);
  });

  it('agrees with parseEvent on generated events, valid and invalid (fast-check)', () => {
    // Each field mostly valid, sometimes an edge case or a wrong value (so both paths are exercised).
    const edgy = <T, U>(valid: fc.Arbitrary<T>, edges: fc.Arbitrary<U>) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: edges });
    const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 15, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(undefined) });
    const id = edgy(validId, fc.oneof(badId, fc.constantFrom('', 'x'.repeat(128), 'x'.repeat(129), 5, null)));
    const text = (max: number) => edgy(fc.string({ maxLength: 4 }), fc.oneof(badText, fc.constantFrom('x'.repeat(max), 'x'.repeat(max + 1), 7, null)));
    const nonEmpty = (max: number) => edgy(fc.string({ minLength: 1, maxLength: 4 }), fc.oneof(badText, fc.constantFrom('', 'x'.repeat(max), 'x'.repeat(max + 1))));
    const wrongNumbers = fc.constantFrom(-0, -1, 1.5, -1000.5, 1000.5, 1899, 2101, 2_000_001, 10_000_001, 2 ** 53 - 1, 2 ** 53, Number.NaN, Infinity, -Infinity, '5', null, true);
    const numIn = (min: number, max: number) => edgy(fc.double({ min, max, noNaN: true }), fc.oneof(wrongNumbers, fc.constantFrom(min, max)));
    const intIn = (min: number, max: number) => edgy(fc.integer({ min, max }), fc.oneof(wrongNumbers, fc.constantFrom(min, max)));
    const money = numIn(0, 10_000_000);
    const valid = fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true });
    const ts = fc.oneof(
      { weight: 12, arbitrary: valid.map((d) => d.toISOString()) },
      { weight: 4, arbitrary: valid.map((d) => d.toISOString().replace(/\.\d+Z/, 'Z')) },
      { weight: 4, arbitrary: fc.tuple(valid, fc.stringMatching(/^\d{1,12}$/)).map(([d, frac]) => d.toISOString().replace(/\.\d+Z/, `.${frac}Z`)) },
      // one character of a valid timestamp replaced
      { weight: 4, arbitrary: fc
        .tuple(fc.constantFrom('2024-02-29T23:59:59.123Z', '2026-12-31T00:00:00Z', '2000-02-29T12:30:45.5Z'), fc.nat({ max: 23 }), fc.constantFrom('0', '1', '2', '3', '9', 'Z', 'z', 'T', '.', ':', '-', ' ', '+', '\u0663', ''))
        .map(([s, i, c]) => s.slice(0, i % s.length) + c + s.slice((i % s.length) + 1)) },
      fc.constantFrom('2026-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '0000-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00Z', '2026-01-01', '+002026-01-01T00:00:00Z', 'now', 5),
    );
    const filters = fc.record(
      {
        make: maybe(text(64)),
        model: maybe(text(64)),
        bodyStyle: maybe(text(64)),
        fuelType: maybe(text(32)),
        priceMin: maybe(money),
        priceMax: maybe(money),
        yearMin: maybe(intIn(1900, 2100)),
        yearMax: maybe(intIn(1900, 2100)),
        mileageMax: maybe(numIn(0, 2_000_000)),
        location: maybe(text(64)),
      },
      { requiredKeys: [] },
    );
    const vehicleArb = fc.record(
      { make: nonEmpty(64), model: nonEmpty(64), trim: maybe(text(64)), year: intIn(1900, 2100), bodyStyle: nonEmpty(64), fuelType: maybe(text(32)), price: money, mileage: maybe(numIn(0, 2_000_000)), storeId: maybe(text(64)) },
      { requiredKeys: ['make', 'model', 'year', 'bodyStyle', 'price'] },
    );
    const properties = fc.record(
      {
        price: maybe(money),
        previousPrice: maybe(money),
        filters: maybe(filters),
        query: maybe(text(256)),
        channel: maybe(text(32)),
        position: maybe(intIn(0, Number.MAX_SAFE_INTEGER)),
        value: maybe(numIn(-1000, 1000)),
        vehicle: maybe(vehicleArb),
      },
      { requiredKeys: [] },
    );
    const extra = fc.oneof(
      { weight: 12, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom({ colour: 'red' }, { mileage: 1 }, { properties: { colour: 'red' } }, { properties: null }, { properties: [] }) },
    );
    const ev = fc
      .tuple(
        fc.record(
          {
            eventId: id,
            type: edgy(fc.constantFrom(...EVENT_TYPES), fc.constantFrom('bogus', 'View', 5)),
            customerId: maybe(id),
            vehicleId: maybe(id),
            sessionId: maybe(id),
            occurredAt: ts,
            receivedAt: maybe(ts),
            properties: maybe(properties),
          },
          { requiredKeys: ['eventId', 'type', 'occurredAt'] },
        ),
        extra,
      )
      .map(([e, more]) => (more ? { ...e, ...more } : e));
    const options = fc.record({ keepReceivedAt: fc.boolean(), receivedAt: fc.constantFrom(RECEIVED, '2026-03-01T12:00:00Z', '2026-03-01T12:00:00.5Z') }, { requiredKeys: [] });
    const seen = { fast: 0, rejected: 0, declinedValid: 0, badIds: 0 };
    fc.assert(
      fc.property(ev, options, (value, opts) => {
        const path = agreesOne(value, opts);
        if (path === 'fast') seen.fast += 1;
        if (!parseEvent(value, { receivedAt: RECEIVED }).ok) {
          seen.rejected += 1;
          if ([value.eventId, value.customerId, value.sessionId, value.vehicleId].some((x) => typeof x === 'string' && !/^[A-Za-z0-9._:@+=~|-]{1,128}$/.test(x))) seen.badIds += 1;
        }
        // Today the fast path covers every valid plain event that parseEvent need not stamp with the current time.
        else if (path === 'declined' && (opts.receivedAt !== undefined || (opts.keepReceivedAt && value.receivedAt))) seen.declinedValid += 1;
        // Through JSON, as the event log and the HTTP body deliver it.
        agreesOne(JSON.parse(JSON.stringify(value)) as unknown, opts);
      }),
      { numRuns: 4000 },
    );
    assert.ok(seen.fast > 400, `fast path taken ${seen.fast} times`);
    assert.ok(seen.rejected > 400, `schema rejected ${seen.rejected} events`);
    assert.equal(seen.declinedValid, 0, 'valid events the fast path declined');
    assert.ok(seen.badIds > 100, `events with an id outside the alphabet: ${seen.badIds}`);
  });
});

describe('parseEventBatchFast', () => {
  it('returns what parseEventBatch returns for common batches, and declines anything the schema rejects', () => {
    assert.equal(agreesBatch({ events: [ok, { ...ok, eventId: 'e2', type: 'search', vehicleId: undefined }, { ...ok, eventId: 'e3', occurredAt: '2026-02-03T04:05:06.123456Z', sessionId: 's' }] }), 'fast');
    assert.equal(agreesBatch({ events: [ok, { eventId: 'i', type: 'vehicle_sold', vehicleId: 'v', occurredAt: '2026-02-03T04:05:06Z' }, { ...ok, eventId: 'p', properties: { value: 2 } }] }), 'fast');
    for (const bad of [
      { ...ok, occurredAt: '2026-02-03T04:05:06+01:00' },
      { ...ok, occurredAt: '2026-02-30T04:05:06Z' },
      { ...ok, occurredAt: '2026-13-03T04:05:06Z' },
      { ...ok, eventId: '' },
      { ...ok, eventId: 'x'.repeat(129) },
      { ...ok, vehicleId: undefined },
      { ...ok, customerId: undefined },
      { ...ok, type: 'teleport' },
      { ...ok, colour: 'red' },
      { ...ok, customerId: 5 },
      { ...ok, customerId: null },
      [ok],
      null,
    ]) {
      assert.equal(agreesBatch({ events: [ok, bad] }), 'declined', JSON.stringify(bad));
    }
    assert.equal(agreesBatch(ok), 'declined'); // a single event goes by the schema
    assert.equal(agreesBatch({ events: [] }), 'declined');
    assert.equal(agreesBatch({ events: [ok], extra: 1 }), 'declined');
  });

  it('agrees with parseEventBatch on generated batches (fast-check)', () => {
    const str = fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom('', 'a', 'c1', 'v-9', 'x'.repeat(128), 'x'.repeat(129)) },
      { weight: 8, arbitrary: validId },
      { weight: 1, arbitrary: badId },
    );
    const ts = fc.oneof(
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }).map((d) => d.toISOString().replace(/\.\d+Z/, 'Z')),
      fc.constantFrom('2026-02-29T00:00:00Z', '2024-02-29T23:59:59Z', '2026-04-31T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00Z', '2026-01-01', 'now'),
    );
    const ev = fc.record(
      {
        eventId: str,
        type: fc.constantFrom('view', 'search', 'favorite', 'hide', 'purchase', 'vehicle_sold', 'vehicle_price_changed', 'bogus'),
        customerId: fc.oneof({ weight: 6, arbitrary: str }, { weight: 1, arbitrary: fc.constantFrom(null, 5) }),
        vehicleId: str,
        sessionId: str,
        occurredAt: ts,
        receivedAt: fc.oneof(ts, ts, ts, fc.constant('yesterday')),
        properties: fc.record(
          { price: fc.constantFrom(0, 5, 5, 5, -1), channel: fc.oneof(fc.constantFrom('web', 'web', 'web', 'x'.repeat(33)), badText), position: fc.constantFrom(0, 3, 3, 3, 1.5) },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['eventId', 'type', 'occurredAt'] },
    );
    let fast = 0;
    fc.assert(
      fc.property(fc.array(ev, { minLength: 1, maxLength: 5 }), (events) => {
        if (agreesBatch({ events }) === 'fast') fast += 1;
      }),
      { numRuns: 1000 },
    );
    assert.ok(fast > 5, `fast path taken ${fast} times`);
  });
});
