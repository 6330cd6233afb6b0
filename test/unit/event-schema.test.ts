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
