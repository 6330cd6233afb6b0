import assert from 'node:assert/strict';
import { DuckDbLakeReader, EmptyWindow } from '../../offline/lake-reader/duckdb-lake-reader.js';
import { NotFound } from '../../shared/errors/app-error.js';
import { ev, tempLake, vehicle, writeEvents, writeSnapshot } from '../support/offline-lake-fixture.js';

describe('DuckDbLakeReader (local Parquet lake)', () => {
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let reader: DuckDbLakeReader;
  beforeEach(async () => {
    fx = await tempLake();
    reader = new DuckDbLakeReader(fx.lake);
  });
  afterEach(async () => {
    reader.close();
    await fx.cleanup();
  });

  it('reads the window only, de-duplicates by eventId, applies inventory events to the snapshot', async () => {
    await writeSnapshot(fx.lake, fx.dir, '2026-03-01', [vehicle('v1'), vehicle('v2', { bodyStyle: 'sedan' }), vehicle('v3', { soldAt: '2026-03-02T10:00:00.000Z' })]);
    await writeSnapshot(fx.lake, fx.dir, '2026-03-09', [vehicle('v1'), vehicle('v2'), vehicle('v3', { soldAt: '2026-03-02T10:00:00.000Z' })]);
    const inWindow = ev('favorite', 'c1', 'v1', '2026-03-08T12:00:00.000Z', { properties: { value: 2 } });
    const events = [
      ev('view', 'c1', 'v2', '2026-03-01T23:59:59.000Z'), // before the window (lookback 7 days from 03-09T06)
      inWindow,
      ev('view', 'c2', 'v2', '2026-03-09T01:00:00.000Z'),
      ev('search', 'c3', undefined, '2026-03-09T01:00:00.000Z'),
      ev('view', 'c2', 'v1', '2026-03-09T06:00:00.000Z'), // at asOf: excluded
      ev('vehicle_sold', undefined, 'v2', '2026-03-09T02:00:00.000Z'),
      ev('vehicle_listed', undefined, 'v9', '2026-03-09T03:00:00.000Z', {
        properties: { vehicle: { make: 'Kia', model: 'EV6', year: 2023, bodyStyle: 'suv', price: 41_000 } },
      }),
      ev('vehicle_price_changed', undefined, 'v1', '2026-03-09T04:00:00.000Z', { properties: { price: 21_000 } }),
    ];
    await writeEvents(fx.lake, fx.dir, events, 'a', 0);
    await writeEvents(fx.lake, fx.dir, [inWindow], 'b', 1); // the sink delivered it twice
    const data = await reader.readDataset({ asOf: '2026-03-09T06:00:00.000Z', lookbackDays: 7 });
    assert.equal(data.n, 2);
    assert.equal(data.stats.duplicates, 1);
    assert.deepEqual(data.customerIds, ['c1', 'c2']);
    const v = (id: string) => data.vehicleIds.indexOf(id);
    assert.equal(data.value[0], 2);
    assert.equal(data.vehicleIds[data.vehicle[0]!], 'v1');
    assert.equal(data.forSale[v('v1')], 1);
    assert.equal(data.forSale[v('v2')], 0, 'sold by an event after the snapshot');
    assert.equal(data.forSale[v('v3')], 0, 'sold before the snapshot');
    assert.equal(data.forSale[v('v9')], 1, 'listed after the snapshot');
    assert.equal(data.vehicles[v('v9')]?.make, 'Kia');
    assert.equal(data.vehicles[v('v1')]?.price, 21_000);
    assert.equal(data.stats.snapshotDate, '2026-03-09');
    assert.deepEqual(Array.from(data.customerStart), [0, 1, 2]);
  });

  it('says clearly when the window is empty or the lake has no catalog', async () => {
    await assert.rejects(reader.readDataset({ asOf: '2026-03-09T00:00:00Z', lookbackDays: 7 }), (e) => e instanceof NotFound && /no vehicle catalog/.test(e.message));
    await writeSnapshot(fx.lake, fx.dir, '2026-03-01', [vehicle('v1')]);
    await assert.rejects(reader.readDataset({ asOf: '2026-03-09T00:00:00Z', lookbackDays: 7 }), (e) => e instanceof EmptyWindow && /no event files/.test(e.message));
    // Only inventory events in the window: still empty for customers.
    await writeEvents(fx.lake, fx.dir, [ev('vehicle_sold', undefined, 'v1', '2026-03-08T00:00:00.000Z')]);
    await assert.rejects(reader.readDataset({ asOf: '2026-03-09T00:00:00Z', lookbackDays: 7 }), (e) => e instanceof EmptyWindow && /no customer interaction/.test(e.message));
  });
});
