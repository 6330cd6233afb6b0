import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parseEvent, type EventType } from '../../shared/domain/event.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { EVENT_COLUMNS, VEHICLE_COLUMNS, readEventsParquet, readVehiclesParquet } from '../../shared/lake/parquet-codec.js';
import { generateDataset, type GenerateResult } from '../../scripts/generate/generate-dataset.js';
import { Prng } from '../../scripts/generate/prng.js';

const FIXTURE = { customers: 2000, vehicles: 500, days: 7, seed: 7, end: '2026-03-07' } as const;

async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJson();
}

describe('showroom generate (fixture size)', function () {
  this.timeout(120_000);
  let dir: string;
  let lakeRoot: string;
  let result: GenerateResult;
  let db: DuckDBInstance;
  let conn: DuckDBConnection;
  let events: string;

  before(async function () {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'generate-test-'));
    lakeRoot = path.join(dir, 'lake');
    result = await generateDataset({ ...FIXTURE, lake: new LocalLake(lakeRoot), stagingDir: dir });
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
    events = `read_parquet('${lakeRoot}/events/*/*/*.parquet', hive_partitioning = false)`;
    await conn.run(`CREATE TABLE cat AS SELECT * FROM read_parquet('${lakeRoot}/vehicles/date=2026-03-08/vehicles.parquet')`);
    await conn.run(`CREATE TABLE ev AS SELECT e.*, cat.make, cat.bodyStyle FROM ${events} e LEFT JOIN cat USING (vehicleId)`);
  });

  after(async function () {
    conn?.closeSync();
    db?.closeSync();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes the DESIGN.md layout with the documented columns, readable by DuckDB, with the reported counts', async function () {
    const objects = await new LocalLake(lakeRoot).list('');
    const eventKeys = objects.filter((o) => o.key.startsWith('events/'));
    assert.ok(eventKeys.every((o) => /^events\/date=2026-03-0[1-7]\/hour=\d\d\/generate-00000000\.parquet$/.test(o.key)), 'event keys follow the layout');
    assert.equal(eventKeys.length, result.eventFiles);
    assert.deepEqual(
      objects.filter((o) => o.key.startsWith('vehicles/')).map((o) => o.key),
      ['01', '02', '03', '04', '05', '06', '07', '08'].map((d) => `vehicles/date=2026-03-${d}/vehicles.parquet`),
    );
    assert.equal(result.files, objects.length);
    assert.equal(result.bytes, objects.reduce((s, o) => s + o.size, 0));

    const evCols = await rows(conn, `DESCRIBE SELECT * FROM ${events}`);
    assert.deepEqual(evCols.map((r) => r.column_name), EVENT_COLUMNS);
    assert.deepEqual(evCols.map((r) => r.column_type), ['VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'TIMESTAMP', 'TIMESTAMP', 'VARCHAR']);
    const vCols = await rows(conn, `DESCRIBE SELECT * FROM read_parquet('${lakeRoot}/vehicles/date=2026-03-01/vehicles.parquet', hive_partitioning = false)`);
    assert.deepEqual(vCols.map((r) => r.column_name), VEHICLE_COLUMNS);
    assert.deepEqual(vCols.map((r) => r.column_type), ['VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'INTEGER', 'VARCHAR', 'VARCHAR', 'DOUBLE', 'INTEGER', 'VARCHAR', 'VARCHAR', 'TIMESTAMP', 'TIMESTAMP']);

    const byType = await rows(conn, `SELECT type, count(*)::INTEGER AS n, count(DISTINCT eventId)::INTEGER AS ids FROM ${events} GROUP BY type`);
    const counts = Object.fromEntries(byType.map((r) => [r.type, r.n])) as Record<EventType, number>;
    for (const r of byType) assert.equal(r.n, r.ids, `eventIds are unique (${String(r.type)})`);
    for (const [type, n] of Object.entries(result.eventsByType)) assert.equal(counts[type as EventType] ?? 0, n, type);
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), result.events);
    const customers = await rows(conn, `SELECT count(DISTINCT customerId)::INTEGER AS n FROM ${events}`);
    assert.ok((customers[0]!.n as number) >= FIXTURE.customers * 0.95, 'nearly every customer has events');

    // Every event stays inside the window, in the partition of its occurredAt.
    const misplaced = await rows(
      conn,
      `SELECT count(*)::INTEGER AS n FROM read_parquet('${lakeRoot}/events/*/*/*.parquet', hive_partitioning = true)
       WHERE strftime(occurredAt, '%Y-%m-%d') <> date::VARCHAR OR strftime(occurredAt, '%H') <> lpad(hour::VARCHAR, 2, '0') OR receivedAt < occurredAt`,
    );
    assert.equal(misplaced[0]!.n, 0);
  });

  it('produces events that pass the event schema, and the codec reads the files back', async function () {
    const file = path.join(lakeRoot, (await new LocalLake(lakeRoot).list('events/date=2026-03-03/hour=02/'))[0]!.key);
    const decoded = await readEventsParquet(file);
    assert.ok(decoded.length > 0);
    for (const e of decoded) {
      const r = parseEvent(e, { keepReceivedAt: true });
      assert.ok(r.ok, `invalid generated event ${JSON.stringify(e)}: ${JSON.stringify(r.ok ? [] : r.fields)}`);
    }
    // Every non-view event and a sample of the views (zod is the slow part).
    const all = await rows(conn, `SELECT eventId, type, customerId, vehicleId, sessionId, strftime(occurredAt, '%Y-%m-%dT%H:%M:%S.%gZ') AS occurredAt, strftime(receivedAt, '%Y-%m-%dT%H:%M:%S.%gZ') AS receivedAt, properties
      FROM ${events} WHERE type <> 'view' OR hash(eventId) % 8 = 0`);
    let bad = 0;
    for (const r of all) {
      const raw = Object.fromEntries(Object.entries({ ...r, properties: r.properties === null ? undefined : JSON.parse(r.properties as string) }).filter(([, v]) => v !== null && v !== undefined));
      if (!parseEvent(raw, { keepReceivedAt: true }).ok) bad += 1;
    }
    assert.equal(bad, 0, 'every generated event is valid');
    const vehicles = await readVehiclesParquet(path.join(lakeRoot, 'vehicles/date=2026-03-08/vehicles.parquet'));
    assert.equal(vehicles.length, result.vehicles);
  });

  it('has a realistic catalog and inventory churn', async function () {
    const cat = await rows(conn, `SELECT count(DISTINCT make)::INTEGER AS makes, count(DISTINCT model)::INTEGER AS models, count(DISTINCT bodyStyle)::INTEGER AS bodies,
      count(DISTINCT storeCity)::INTEGER AS cities, min(year)::INTEGER AS minYear, max(year)::INTEGER AS maxYear, min(price) AS minPrice, max(price) AS maxPrice FROM cat`);
    const c = cat[0]!;
    assert.ok((c.makes as number) >= 20, `makes ${String(c.makes)}`);
    assert.ok((c.models as number) >= 60 && (c.bodies as number) >= 6 && (c.cities as number) >= 10);
    assert.ok((c.minYear as number) <= 2018 && (c.maxYear as number) >= 2026);
    // Prices follow the segment: luxury makes cost more than economy ones.
    const seg = await rows(conn, `SELECT make, median(price) AS p FROM cat WHERE make IN ('Porsche', 'Mercedes-Benz', 'Kia', 'Nissan') GROUP BY make`);
    const p = Object.fromEntries(seg.map((r) => [r.make, r.p as number]));
    assert.ok(p.Porsche! > p.Kia! * 2 && p['Mercedes-Benz']! > p.Nissan!, JSON.stringify(p));

    const perDay = await rows(conn, `SELECT strftime(occurredAt, '%Y-%m-%d') AS d, count(*) FILTER (type = 'vehicle_listed')::INTEGER AS listed,
      count(*) FILTER (type = 'vehicle_sold')::INTEGER AS sold, count(*) FILTER (type = 'vehicle_price_changed')::INTEGER AS changed FROM ev GROUP BY d ORDER BY d`);
    assert.equal(perDay.length, 7);
    for (const d of perDay) assert.ok((d.listed as number) > 0 && (d.sold as number) > 0 && (d.changed as number) > 0, JSON.stringify(d));
    const listed = await rows(conn, `SELECT count(*)::INTEGER AS n, count(json_extract_string(properties, '$.vehicle.model'))::INTEGER AS withAttrs FROM ev WHERE type = 'vehicle_listed'`);
    assert.equal(listed[0]!.n, listed[0]!.withAttrs, 'vehicle_listed carries properties.vehicle');
    // Snapshots do not leak the future.
    for (const d of ['2026-03-01', '2026-03-05']) {
      const leak = await rows(conn, `SELECT count(*)::INTEGER AS n FROM read_parquet('${lakeRoot}/vehicles/date=${d}/vehicles.parquet') WHERE listedAt >= TIMESTAMP '${d}' OR soldAt >= TIMESTAMP '${d}'`);
      assert.equal(leak[0]!.n, 0);
    }
    const later = await rows(conn, `SELECT count(*)::INTEGER AS n FROM read_parquet('${lakeRoot}/vehicles/date=2026-03-01/vehicles.parquet') s JOIN cat USING (vehicleId) WHERE s.soldAt IS NULL AND cat.soldAt IS NOT NULL`);
    assert.ok((later[0]!.n as number) > 0, 'the early snapshot holds vehicles sold later, unsold at the time');
  });

  it('has the event mix views ≫ searches > favorites > leads > test drives > purchases', function () {
    const n = result.eventsByType;
    assert.ok(n.view > 5 * n.search, JSON.stringify(n));
    assert.ok(n.search > n.favorite && n.favorite > n.lead && n.lead > n.test_drive && n.test_drive > n.purchase && n.purchase > 0, JSON.stringify(n));
  });

  it('lets customers engage only vehicles for sale, and ends a journey with the purchase', async function () {
    const offSale = await rows(conn, `SELECT count(*)::INTEGER AS n FROM ev JOIN cat USING (vehicleId)
      WHERE ev.customerId IS NOT NULL AND (ev.occurredAt < cat.listedAt OR ev.occurredAt >= coalesce(cat.soldAt, TIMESTAMP '9999-01-01'))`);
    assert.equal(offSale[0]!.n, 0);
    const afterPurchase = await rows(conn, `SELECT count(*)::INTEGER AS n FROM ev JOIN (SELECT customerId, occurredAt AS bought FROM ev WHERE type = 'purchase') p USING (customerId)
      WHERE ev.occurredAt > p.bought`);
    assert.equal(afterPurchase[0]!.n, 0);
    // Sales follow purchases within hours (a sale after the window's end is not written).
    const soldAfter = await rows(conn, `SELECT count(*)::INTEGER AS purchases, count(s.eventId)::INTEGER AS sold FROM ev p
      LEFT JOIN ev s ON s.vehicleId = p.vehicleId AND s.type = 'vehicle_sold' AND s.occurredAt > p.occurredAt
      WHERE p.type = 'purchase' AND p.occurredAt < TIMESTAMP '2026-03-07 19:00:00'`);
    assert.ok((soldAfter[0]!.purchases as number) > 0);
    assert.equal(soldAfter[0]!.sold, soldAfter[0]!.purchases, 'each purchased vehicle is then sold');
  });

  it('has drift: the last active day predicts the next engaged make/body style better than all-time favourites', async function () {
    // Held out: each customer's last engaged vehicle event. Predictors from the events before it:
    // the most frequent make/body style of the customer's last active UTC day vs of all their history.
    await conn.run(`CREATE TABLE eng AS SELECT customerId, vehicleId, make, bodyStyle, occurredAt, eventId, occurredAt::DATE AS day FROM ev
      WHERE type IN ('view', 'favorite', 'lead', 'test_drive', 'purchase') AND customerId IS NOT NULL`);
    await conn.run(`CREATE TABLE held AS SELECT customerId, arg_max(make, (occurredAt, eventId)) AS make, arg_max(bodyStyle, (occurredAt, eventId)) AS body,
      max(day) AS day, max(occurredAt) AS t, arg_max(eventId, (occurredAt, eventId)) AS id FROM eng GROUP BY customerId`);
    const predict = async (history: string, col: 'make' | 'bodyStyle', target: 'make' | 'body') =>
      (
        await rows(
          conn,
          `WITH hist AS (SELECT e.* FROM eng e JOIN held h USING (customerId) WHERE ${history}),
           lastday AS (SELECT customerId, max(day) AS d FROM hist GROUP BY customerId HAVING count(DISTINCT day) >= 2),
           recent AS (SELECT h.customerId, h.${col} AS v, count(*) AS n FROM hist h JOIN lastday l ON h.customerId = l.customerId AND h.day = l.d GROUP BY ALL),
           alltime AS (SELECT h.customerId, h.${col} AS v, count(*) AS n FROM hist h JOIN lastday l USING (customerId) GROUP BY ALL),
           r AS (SELECT customerId, arg_max(v, (n, v)) AS v FROM recent GROUP BY customerId),
           a AS (SELECT customerId, arg_max(v, (n, v)) AS v FROM alltime GROUP BY customerId)
           SELECT count(*)::INTEGER AS customers, avg((r.v = held.${target})::INTEGER) AS recent, avg((a.v = held.${target})::INTEGER) AS alltime
           FROM held JOIN r USING (customerId) JOIN a USING (customerId)`,
        )
      )[0]!;
    // Everything before the held-out event (its own day included), customers active on 2+ days.
    const beforeEvent = '(e.occurredAt < h.t OR (e.occurredAt = h.t AND e.eventId < h.id))';
    // Stricter: only days before the held-out event's day, so the drift is across sessions and days.
    const earlierDays = 'e.day < h.day';
    const results: Record<string, Record<string, unknown>> = {};
    for (const [name, history] of [['beforeEvent', beforeEvent], ['earlierDays', earlierDays]] as const) {
      results[`${name}.make`] = await predict(history, 'make', 'make');
      results[`${name}.bodyStyle`] = await predict(history, 'bodyStyle', 'body');
    }
    if (process.env.SHOWROOM_TEST_VERBOSE) console.log(results);
    const check = (key: string, minCustomers: number, margin: number) => {
      const r = results[key]!;
      const msg = `${key}: last day ${String(r.recent)} vs all-time ${String(r.alltime)} over ${String(r.customers)} customers`;
      assert.ok((r.customers as number) >= minCustomers, msg);
      assert.ok((r.recent as number) >= (r.alltime as number) + margin, msg);
    };
    check('beforeEvent.make', 500, 0.08);
    check('beforeEvent.bodyStyle', 500, 0.08);
    check('earlierDays.make', 200, 0.05);
    check('earlierDays.bodyStyle', 200, 0.05);
  });

  it('is deterministic: the same seed gives the same events and catalog, another seed different ones', async function () {
    const small = { customers: 300, vehicles: 80, days: 3, end: '2026-03-03' };
    const digest = async (seed: number) => {
      const root = path.join(dir, `det-${seed}-${Math.floor(new Prng(seed + Date.now()).next() * 1e9)}`);
      await generateDataset({ ...small, seed, lake: new LocalLake(root), stagingDir: dir });
      const ev = await rows(conn, `SELECT count(*)::INTEGER AS n, sum(hash(eventId, type, customerId, vehicleId, sessionId, occurredAt, receivedAt, properties))::VARCHAR AS h FROM read_parquet('${root}/events/*/*/*.parquet')`);
      const ve = await rows(conn, `SELECT sum(hash(COLUMNS(*)))::VARCHAR AS h FROM read_parquet('${root}/vehicles/*/*.parquet')`);
      return JSON.stringify([ev, ve]);
    };
    const a = await digest(11);
    const b = await digest(11);
    const c = await digest(12);
    assert.equal(a, b);
    assert.notEqual(a, c);
  });
});

/** Gini coefficient of non-negative counts (0 = all equal, → 1 = one holds everything). */
function gini(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  let g = 0;
  sorted.forEach((x, i) => (g += (2 * (i + 1) - sorted.length - 1) * x));
  return g / (sorted.length * total);
}

/** Share of the total held by the largest `q` of the counts. */
function topShare(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  return sorted.slice(0, Math.ceil(q * sorted.length)).reduce((a, b) => a + b, 0) / total;
}

/**
 * The real-world shapes the generator reproduces, measured on a seeded dataset and compared with
 * published figures (README, "What the generator reproduces"). The bands are those figures, not
 * the generator's own output: where the generator sits outside what is published, the test
 * says so rather than the band moving to fit it. Measured with seed 7 (2026-12): views top 20 %
 * 0.50, Gini 0.48; sessions median 6 events, 4.6 % single-event; view→lead 1.6 % of viewed
 * vehicles, lead→test drive 29 %, test drive→purchase 25 %; days' supply 37.
 */
describe('showroom generate: shapes against published figures (2,000 customers, 500 vehicles, 14 days)', function () {
  this.timeout(180_000);
  const SPEC = { customers: 2000, vehicles: 500, days: 14, seed: 7, end: '2026-03-14' } as const;
  let dir: string;
  let db: DuckDBInstance;
  let conn: DuckDBConnection;

  before(async function () {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'generate-shapes-'));
    const root = path.join(dir, 'lake');
    await generateDataset({ ...SPEC, lake: new LocalLake(root), stagingDir: dir });
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
    await conn.run(`CREATE TABLE ev AS SELECT * FROM read_parquet('${root}/events/*/*/*.parquet', hive_partitioning = false)`);
    // The catalog as of the day after the window: every vehicle listed in or before it.
    await conn.run(`CREATE TABLE cat AS SELECT * FROM read_parquet('${root}/vehicles/date=2026-03-15/vehicles.parquet')`);
  });

  after(async function () {
    conn?.closeSync();
    db?.closeSync();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('has heavy-tailed vehicle popularity: the most viewed 20 % of vehicles get 40–90 % of the views', async function () {
    // Published: in retail the top 20 % of items take about 80 % of sales or interactions (the
    // Pareto shape of long-tail studies); 20 % would be no concentration at all. Each used vehicle is
    // one unique item, listed for weeks, so its concentration is expected below retail's.
    const views = (await rows(conn, `SELECT count(ev.eventId)::INTEGER AS n FROM cat LEFT JOIN ev ON ev.vehicleId = cat.vehicleId AND ev.type = 'view' GROUP BY cat.vehicleId`)).map((r) => r.n as number);
    assert.ok(views.length >= 500, `vehicles ${views.length}`);
    const top20 = topShare(views, 0.2);
    const g = gini(views);
    const msg = `top 20 % share ${top20.toFixed(3)}, Gini ${g.toFixed(3)}`;
    assert.ok(top20 >= 0.4 && top20 <= 0.9, msg);
    assert.ok(g >= 0.3 && g <= 0.8, msg);
    // The most viewed 1 % is not a handful of runaway vehicles (no item holds a retail bestseller's share).
    assert.ok(topShare(views, 0.01) <= 0.15, msg);
  });

  it('has sessions of a few events (median 3–10), most with more than one event', async function () {
    // Published: public e-commerce session logs (YOOCHOOSE, DIGINETICA, used for session-based
    // recommenders) average about 3–6 events per session; car shoppers view several listings per visit.
    const [s] = await rows(conn, `WITH s AS (SELECT sessionId, count(*) AS n FROM ev WHERE sessionId IS NOT NULL GROUP BY sessionId)
      SELECT count(*)::INTEGER AS sessions, median(n)::DOUBLE AS median, avg((n = 1)::INTEGER)::DOUBLE AS single FROM s`);
    const msg = JSON.stringify(s);
    assert.ok((s!.sessions as number) >= 3000, msg);
    assert.ok((s!.median as number) >= 3 && (s!.median as number) <= 10, msg);
    // Web analytics put single-page (bounce) visits at 40–60 %: the generator has far fewer — a known gap (README).
    assert.ok((s!.single as number) > 0 && (s!.single as number) <= 0.6, msg);
  });

  it('has the funnel view → lead → test drive → purchase at published conversion rates', async function () {
    const [f] = await rows(conn, `SELECT count(DISTINCT (customerId, vehicleId)) FILTER (type = 'view')::INTEGER AS viewed,
      count(*) FILTER (type = 'view')::INTEGER AS views, count(*) FILTER (type = 'favorite')::INTEGER AS favorites,
      count(*) FILTER (type = 'lead')::INTEGER AS leads, count(*) FILTER (type = 'test_drive')::INTEGER AS testDrives,
      count(*) FILTER (type = 'purchase')::INTEGER AS purchases FROM ev`);
    const n = f as Record<string, number>;
    const msg = JSON.stringify(n);
    assert.ok(n.views! > n.favorites! && n.favorites! > n.leads! && n.leads! > n.testDrives! && n.testDrives! > n.purchases! && n.purchases! > 0, msg);
    // Published (dealer website benchmarks): 1–3 % of vehicle detail page views become a lead.
    assert.ok(n.leads! / n.viewed! >= 0.005 && n.leads! / n.viewed! <= 0.05, `view → lead ${(n.leads! / n.viewed!).toFixed(4)}: ${msg}`);
    // Published: dealers set appointments for about a third of internet leads, about half of them show up.
    assert.ok(n.testDrives! / n.leads! >= 0.1 && n.testDrives! / n.leads! <= 0.5, `lead → test drive ${(n.testDrives! / n.leads!).toFixed(3)}: ${msg}`);
    // Published: internet leads close at about 8–15 % over weeks to months; a 14-day window
    // cuts journeys short, so the lower bound is looser.
    assert.ok(n.purchases! / n.leads! >= 0.03 && n.purchases! / n.leads! <= 0.2, `lead → purchase ${(n.purchases! / n.leads!).toFixed(3)}: ${msg}`);
    assert.ok(n.purchases! / n.testDrives! >= 0.1 && n.purchases! / n.testDrives! <= 0.6, `test drive → purchase ${(n.purchases! / n.testDrives!).toFixed(3)}: ${msg}`);
  });

  it("turns used stock in 30–60 days (days' supply = mean inventory / daily sales)", async function () {
    // Published: Cox Automotive's used-vehicle days' supply has run at about 40–55 days (2023–2024).
    // In a steady state days' supply is the mean time to sale (Little's law); a 14-day window
    // cannot observe 45-day lifetimes directly (censored), this ratio can.
    const [d] = await rows(conn, `WITH days AS (SELECT unnest(generate_series(TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-14', INTERVAL 1 DAY)) AS day)
      SELECT avg((SELECT count(*) FROM cat WHERE listedAt <= day AND (soldAt IS NULL OR soldAt > day)))::DOUBLE AS inventory,
        (SELECT count(*) FROM cat WHERE soldAt >= TIMESTAMP '2026-03-01' AND soldAt < TIMESTAMP '2026-03-15')::DOUBLE / 14 AS salesPerDay FROM days`);
    const supply = (d!.inventory as number) / (d!.salesPerDay as number);
    assert.ok(supply >= 30 && supply <= 60, `days' supply ${supply.toFixed(1)} (${JSON.stringify(d)})`);
  });
});
