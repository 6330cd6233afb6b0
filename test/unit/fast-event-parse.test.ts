import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseEventBatch } from '../../shared/domain/event.js';
import { parseEventBatchFast } from '../../online/ingest/fast-event-parse.js';

const RECEIVED = '2026-03-01T12:00:00.000Z';

/** The fast path either declines (undefined) or returns exactly what the schema returns, key order included. */
function agrees(body: unknown): 'fast' | 'declined' {
  const fast = parseEventBatchFast(body, RECEIVED);
  let slow: unknown;
  try {
    slow = parseEventBatch(body, RECEIVED);
  } catch {
    assert.equal(fast, undefined, `fast path accepted what the schema rejects: ${JSON.stringify(body)}`);
    return 'declined';
  }
  if (fast === undefined) return 'declined';
  assert.equal(JSON.stringify(fast), JSON.stringify(slow));
  return 'fast';
}

describe('parseEventBatchFast', () => {
  it('returns what parseEventBatch returns for common batches, and declines anything the schema rejects', () => {
    const ok = { eventId: 'e1', type: 'view', customerId: 'c1', vehicleId: 'v1', occurredAt: '2026-02-03T04:05:06Z' };
    assert.equal(agrees({ events: [ok, { ...ok, eventId: 'e2', type: 'search', vehicleId: undefined }, { ...ok, eventId: 'e3', occurredAt: '2026-02-03T04:05:06.123456Z', sessionId: 's' }] }), 'fast');
    assert.equal(agrees({ events: [ok, { eventId: 'i', type: 'vehicle_sold', vehicleId: 'v', occurredAt: '2026-02-03T04:05:06Z' }, { ...ok, eventId: 'p', properties: { value: 2 } }] }), 'fast');
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
      assert.equal(agrees({ events: [ok, bad] }), 'declined', JSON.stringify(bad));
    }
    assert.equal(agrees(ok), 'declined'); // a single event goes by the schema
    assert.equal(agrees({ events: [] }), 'declined');
    assert.equal(agrees({ events: [ok], extra: 1 }), 'declined');
  });

  it('agrees with the schema on generated events (fast-check)', () => {
    const str = fc.oneof(fc.constantFrom('', 'a', 'c1', 'v-9', 'x'.repeat(128), 'x'.repeat(129)), fc.string({ maxLength: 4 }));
    const ts = fc.oneof(
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }).map((d) => d.toISOString().replace('.000Z', 'Z').replace(/\.\d+Z/, 'Z')),
      fc.constantFrom('2026-02-29T00:00:00Z', '2024-02-29T23:59:59Z', '2026-04-31T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2026-01-01T00:00Z', '2026-01-01', 'now'),
    );
    const ev = fc.record(
      {
        eventId: str,
        type: fc.constantFrom('view', 'search', 'favorite', 'hide', 'purchase', 'vehicle_sold', 'bogus'),
        customerId: fc.oneof(str, fc.constant(null), fc.integer()),
        vehicleId: str,
        sessionId: str,
        occurredAt: ts,
      },
      { requiredKeys: ['eventId', 'type', 'occurredAt'] },
    );
    let fast = 0;
    fc.assert(
      fc.property(fc.array(ev, { minLength: 1, maxLength: 5 }), (events) => {
        if (agrees({ events }) === 'fast') fast += 1;
      }),
      { numRuns: 1000 },
    );
    assert.ok(fast > 5, `fast path taken ${fast} times`);
  });
});
