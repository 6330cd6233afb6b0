import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import {
  EVENT_COLUMNS,
  VEHICLE_COLUMNS,
  readEventsParquet,
  readVehiclesParquet,
  writeEventsParquet,
  writeVehiclesParquet,
} from '../../shared/lake/parquet-codec.js';

const events: ShowroomEvent[] = [
  {
    eventId: 'e-1',
    type: 'search',
    customerId: 'c-1',
    sessionId: 's-1',
    occurredAt: '2026-03-01T10:15:30.123Z',
    receivedAt: '2026-03-01T10:15:30.456Z',
    properties: { filters: { make: 'Toyota', bodyStyle: 'SUV', priceMax: 35000 }, query: 'rav4' },
  },
  { eventId: 'e-2', type: 'view', customerId: 'c-1', vehicleId: 'v-9', occurredAt: '2026-03-01T10:16:00.000Z', receivedAt: '2026-03-01T10:16:00.001Z' },
  {
    eventId: 'e-3',
    type: 'vehicle_price_changed',
    vehicleId: 'v-9',
    occurredAt: '2026-03-01T23:59:59.999Z',
    receivedAt: '2026-03-02T00:00:00.000Z',
    properties: { price: 31990, previousPrice: 32990 },
  },
];

const vehicles: Vehicle[] = [
  {
    vehicleId: 'v-9',
    make: 'Toyota',
    model: 'RAV4',
    trim: 'XLE',
    year: 2021,
    bodyStyle: 'SUV',
    fuelType: 'hybrid',
    price: 31990.5,
    mileage: 24012,
    storeId: 'store-3',
    storeCity: 'Austin, TX',
    listedAt: '2026-02-20T08:00:00.000Z',
    soldAt: '2026-03-05T17:30:00.000Z',
  },
  { vehicleId: 'v-10', make: 'Ford', model: 'F-150', year: 2019, bodyStyle: 'Pickup', price: 28500 },
];

describe('parquet-codec', function () {
  let dir: string;
  before(async function () {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parquet-codec-'));
  });
  after(async function () {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('round-trips events with timestamps, optional fields and properties', async function () {
    const file = path.join(dir, 'events.parquet');
    await writeEventsParquet(file, events);
    const back = await readEventsParquet(file);
    assert.deepEqual(back, events);
  });

  it('round-trips vehicles with optional fields', async function () {
    const file = path.join(dir, 'vehicles.parquet');
    await writeVehiclesParquet(file, vehicles);
    assert.deepEqual(await readVehiclesParquet(file), vehicles);
  });

  it('writes the documented columns and types, which DuckDB reads back', async function () {
    const ev = path.join(dir, 'duck-events.parquet');
    const vf = path.join(dir, 'duck-vehicles.parquet');
    await writeEventsParquet(ev, events);
    await writeVehiclesParquet(vf, vehicles);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const describeCols = async (file: string) =>
        (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRowObjectsJson().map((r) => [r.column_name, r.column_type]);
      assert.deepEqual(await describeCols(ev), [
        ['eventId', 'VARCHAR'],
        ['type', 'VARCHAR'],
        ['customerId', 'VARCHAR'],
        ['vehicleId', 'VARCHAR'],
        ['sessionId', 'VARCHAR'],
        ['occurredAt', 'TIMESTAMP'],
        ['receivedAt', 'TIMESTAMP'],
        ['properties', 'VARCHAR'],
      ]);
      assert.deepEqual((await describeCols(ev)).map((c) => c[0]), EVENT_COLUMNS);
      const converted = (await conn.runAndReadAll(`SELECT name, type, converted_type FROM parquet_schema('${ev}') WHERE name LIKE '%At'`)).getRowObjectsJson();
      assert.deepEqual(converted.map((r) => [r.name, r.type, r.converted_type]), [
        ['occurredAt', 'INT64', 'TIMESTAMP_MILLIS'],
        ['receivedAt', 'INT64', 'TIMESTAMP_MILLIS'],
      ]);
      assert.deepEqual(await describeCols(vf), [
        ['vehicleId', 'VARCHAR'],
        ['make', 'VARCHAR'],
        ['model', 'VARCHAR'],
        ['trim', 'VARCHAR'],
        ['year', 'INTEGER'],
        ['bodyStyle', 'VARCHAR'],
        ['fuelType', 'VARCHAR'],
        ['price', 'DOUBLE'],
        ['mileage', 'INTEGER'],
        ['storeId', 'VARCHAR'],
        ['storeCity', 'VARCHAR'],
        ['listedAt', 'TIMESTAMP'],
        ['soldAt', 'TIMESTAMP'],
      ]);
      assert.deepEqual((await describeCols(vf)).map((c) => c[0]), VEHICLE_COLUMNS);
      const rows = (
        await conn.runAndReadAll(
          `SELECT eventId, epoch_ms(occurredAt) AS ms, customerId, json_extract_string(properties, '$.filters.make') AS make
           FROM read_parquet('${ev}') ORDER BY eventId`,
        )
      ).getRowObjectsJson();
      assert.deepEqual(rows, [
        { eventId: 'e-1', ms: String(Date.parse('2026-03-01T10:15:30.123Z')), customerId: 'c-1', make: 'Toyota' },
        { eventId: 'e-2', ms: String(Date.parse('2026-03-01T10:16:00.000Z')), customerId: 'c-1', make: null },
        { eventId: 'e-3', ms: String(Date.parse('2026-03-01T23:59:59.999Z')), customerId: null, make: null },
      ]);
      const v = (await conn.runAndReadAll(`SELECT count(*) AS n, sum(price) AS p, count(soldAt) AS sold FROM read_parquet('${vf}')`)).getRowObjectsJson();
      assert.deepEqual(v, [{ n: '2', p: 60490.5, sold: '1' }]);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
