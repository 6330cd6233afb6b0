import assert from 'node:assert/strict';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { parseEvent, parseEventBatch, partitionKeyOf } from '../../shared/domain/event.js';

const view = { eventId: 'e1', type: 'view', customerId: 'c1', vehicleId: 'v1', occurredAt: '2026-03-01T12:00:00Z' };

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidArgument, String(err));
    return err.fields.map((f) => f.field);
  }
  assert.fail('expected InvalidArgument');
}

describe('event schema', () => {
  it('accepts a valid event, normalises occurredAt and sets receivedAt', () => {
    const [e] = parseEventBatch(view, '2026-03-01T12:00:01.000Z');
    assert.equal(e!.occurredAt, '2026-03-01T12:00:00.000Z');
    assert.equal(e!.receivedAt, '2026-03-01T12:00:01.000Z');
  });

  it('rejects unknown fields by name, at top level and inside properties', () => {
    assert.deepEqual(fieldsOf(() => parseEventBatch({ ...view, colour: 'red' })), ['colour']);
    assert.deepEqual(fieldsOf(() => parseEventBatch({ ...view, properties: { filters: { wheels: 4 } } })), ['properties.filters.wheels']);
  });

  it('requires customerId for customer events and vehicleId for inventory events', () => {
    assert.deepEqual(fieldsOf(() => parseEventBatch({ eventId: 'e', type: 'favorite', vehicleId: 'v', occurredAt: view.occurredAt })), ['customerId']);
    assert.deepEqual(fieldsOf(() => parseEventBatch({ eventId: 'e', type: 'vehicle_sold', occurredAt: view.occurredAt })), ['vehicleId']);
    assert.deepEqual(
      fieldsOf(() => parseEventBatch({ eventId: 'e', type: 'vehicle_price_changed', vehicleId: 'v', occurredAt: view.occurredAt })),
      ['properties.price'],
    );
    const search = parseEvent({ eventId: 's', type: 'search', customerId: 'c', occurredAt: view.occurredAt, properties: { filters: { bodyStyle: 'SUV', priceMax: 30000 } } });
    assert.ok(search.ok);
  });

  it('rejects bad timestamps, empty ids and unknown types, naming each', () => {
    const fields = fieldsOf(() => parseEventBatch({ eventId: '', type: 'teleport', customerId: 'c', occurredAt: '01/03/2026' }));
    assert.ok(fields.includes('eventId'));
    assert.ok(fields.includes('type'));
    assert.ok(fields.includes('occurredAt'));
    assert.ok(fieldsOf(() => parseEventBatch({ ...view, eventId: 'x'.repeat(129) })).includes('eventId'));
  });

  it('accepts ids from the id alphabet only, naming the field and the alphabet (issue 13: 3, 9)', () => {
    for (const good of ['c-0042', 'web:7f3a', 'a.b_c-d:e@f+g=h~i|j', 'ABC123', 'x'.repeat(128), 'bench:12', 'user@example.com']) {
      assert.ok(parseEvent({ ...view, customerId: good, eventId: good }).ok, good);
    }
    for (const bad of ['evil/c1', '<script>x</script>', 'a#b', 'a?b', 'a\\b', '50%', 'user 1', 'e-\uD800', 'e-\uDC00', 'a\u0000b', 'café', 'x'.repeat(129)]) {
      for (const field of ['eventId', 'customerId', 'vehicleId', 'sessionId']) {
        const fields = fieldsOf(() => parseEventBatch({ events: [view, { ...view, [field]: bad }] }));
        assert.deepEqual([...new Set(fields)], [`events[1].${field}`], `${field} = ${JSON.stringify(bad)}`);
      }
    }
    const r = parseEvent({ ...view, customerId: 'evil/c1' });
    assert.ok(!r.ok);
    assert.match(r.fields[0]!.message, /customerId must be 1–128 characters from A–Z a–z 0–9/);
  });

  it('refuses control characters and lone surrogates in free text, and keeps other Unicode (issue 13: 9)', () => {
    const bad = ['a\u0000', '\u0007', 'x\u007F', '\u0085', 'two\nlines', 'e-\uD800', '\uDC00x'];
    for (const text of bad) {
      for (const [properties, field] of [
        [{ query: text }, 'properties.query'],
        [{ channel: text }, 'properties.channel'],
        [{ filters: { make: text } }, 'properties.filters.make'],
        [{ filters: { location: text } }, 'properties.filters.location'],
        [{ vehicle: { make: text, model: 'm', year: 2020, bodyStyle: 'suv', price: 1 } }, 'properties.vehicle.make'],
        [{ vehicle: { make: 'm', model: 'm', year: 2020, bodyStyle: 'suv', price: 1, storeId: text } }, 'properties.vehicle.storeId'],
      ] as const) {
        const fields = fieldsOf(() => parseEventBatch({ ...view, properties }));
        assert.deepEqual(fields, [field], JSON.stringify(text));
      }
    }
    assert.ok(parseEvent({ ...view, properties: { query: '😀 Škoda Octavia\u00A0RS', filters: { location: 'Malmö' } } }).ok);
  });

  it('reports every invalid event of a batch by index', () => {
    const fields = fieldsOf(() =>
      parseEventBatch({ events: [view, { ...view, eventId: 'e2', occurredAt: 'yesterday' }, { ...view, eventId: 'e3', extra: 1 }] }),
    );
    assert.deepEqual(fields, ['events[1].occurredAt', 'events[2].extra']);
  });

  it('limits batches to 1..500 events and rejects unknown batch keys', () => {
    assert.deepEqual(fieldsOf(() => parseEventBatch({ events: [] })), ['events']);
    assert.deepEqual(fieldsOf(() => parseEventBatch({ events: Array.from({ length: 501 }, (_, i) => ({ ...view, eventId: `e${i}` })) })), ['events']);
    assert.deepEqual(fieldsOf(() => parseEventBatch({ events: [view], source: 'x' })), ['source']);
    assert.deepEqual(fieldsOf(() => parseEventBatch([view])), ['(body)']);
  });

  it('partitions customer events by customer and inventory events by vehicle', () => {
    assert.equal(partitionKeyOf({ eventId: 'a', type: 'view', customerId: 'c9', vehicleId: 'v1' }), 'c:c9');
    assert.equal(partitionKeyOf({ eventId: 'b', type: 'vehicle_sold', vehicleId: 'v1' }), 'v:v1');
  });
});
