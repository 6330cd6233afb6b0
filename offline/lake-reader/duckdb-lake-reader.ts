import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import { CUSTOMER_EVENT_TYPES, VEHICLE_ENGAGEMENT_TYPES, vehicleAttributesSchema } from '../../shared/domain/event.js';
import { ID_PATTERN, isValidId } from '../../shared/domain/ids.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { AppError, InvalidArgument, NotFound, Unavailable } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import { type Catalog, type InteractionDataset, type SkippedRows } from './interaction-dataset.js';

const DAY_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;

/** YYYY-MM-DD of an epoch-ms instant (UTC). */
export function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The window `[asOf − lookbackDays, asOf)` in epoch ms. */
export function windowOf(asOf: string, lookbackDays: number): { startMs: number; asOfMs: number } {
  const asOfMs = Date.parse(asOf);
  if (!Number.isFinite(asOfMs)) throw new InvalidArgument(`asOf must be an ISO-8601 instant, got "${asOf}"`);
  if (!(lookbackDays > 0)) throw new InvalidArgument(`lookbackDays must be positive, got ${lookbackDays}`);
  return { startMs: asOfMs - lookbackDays * DAY_MS, asOfMs };
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** The id alphabet (shared/domain/ids.ts) as a DuckDB (RE2) pattern literal. */
const ID_REGEX_SQL = sqlString(ID_PATTERN.source);
const MAX_EXAMPLE_CHARS = 80;

/** A bad id as a log example: quoted (control characters escaped), shortened. */
function example(field: string, id: string): string {
  const shown = id.length > MAX_EXAMPLE_CHARS ? `${id.slice(0, MAX_EXAMPLE_CHARS)}…` : id;
  return `${field} ${JSON.stringify(shown)}`;
}

/** Thrown when the window holds no customer interaction: a run on it would be empty. */
export class EmptyWindow extends AppError {
  constructor(message: string) {
    super('empty-window', 422, message);
  }
}

/**
 * Reads the Parquet lake with DuckDB: the interactions of a window (de-duplicated by eventId)
 * and the catalog as of an instant (latest snapshot at or before it + inventory events since).
 * Only the date/hour partitions overlapping the window are listed, fetched (`lake.localRoot`)
 * and scanned. Rows whose eventId, customerId or vehicleId is outside the id alphabet
 * (`shared/domain/ids.ts`) are left out and counted (`stats.skipped`): one such row never fails a
 * run. One DuckDB in-memory instance per reader; `close()` frees it.
 */
export class DuckDbLakeReader {
  private instance?: DuckDBInstance;
  private connection?: DuckDBConnection;

  constructor(
    private readonly lake: Lake,
    private readonly options: { threads?: number } = {},
  ) {}

  private async conn(): Promise<DuckDBConnection> {
    if (!this.connection) {
      try {
        this.instance = await DuckDBInstance.create(':memory:', { threads: String(this.options.threads ?? 2) });
        this.connection = await this.instance.connect();
      } catch (err) {
        throw new Unavailable('cannot start DuckDB', err);
      }
    }
    return this.connection;
  }

  close(): void {
    this.connection?.closeSync();
    this.instance?.closeSync();
    this.connection = undefined;
    this.instance = undefined;
  }

  /** Event Parquet files (local paths) whose hour partition overlaps `[startMs, endMs)`. */
  private async eventFiles(startMs: number, endMs: number): Promise<string[]> {
    const prefixes: string[] = [];
    for (let d = Date.parse(`${utcDate(startMs)}T00:00:00Z`); d < endMs; d += DAY_MS) prefixes.push(`events/date=${utcDate(d)}/`);
    const keys: string[] = [];
    const used: string[] = [];
    for (const prefix of prefixes) {
      const objects = await this.lake.list(prefix);
      let any = false;
      for (const o of objects) {
        const m = /date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/[^/]+\.parquet$/.exec(o.key);
        if (!m) continue;
        const hourStart = Date.parse(`${m[1]}T${m[2]}:00:00Z`);
        if (hourStart + HOUR_MS <= startMs || hourStart >= endMs) continue;
        keys.push(o.key);
        any = true;
      }
      if (any) used.push(prefix);
    }
    if (keys.length === 0) return [];
    const root = await this.lake.localRoot(used);
    return keys.map((k) => join(root, k));
  }

  /**
   * Customer interactions with `occurredAt` in `[asOf − lookbackDays, asOf)`, each eventId once
   * (grouped by a 64-bit hash of the eventId: two distinct ids collide with probability ~n²/2⁶⁵,
   * about 3·10⁻⁶ for 10M events), plus the catalog as of `asOf`. Throws EmptyWindow when there is no interaction and NotFound
   * when the lake holds no catalog snapshot at or before `asOf`. Events and catalog rows with an
   * id outside the id alphabet are left out, counted in `stats.skipped`.
   */
  async readDataset(options: { asOf: string; lookbackDays: number; signal?: AbortSignal }): Promise<InteractionDataset> {
    const { startMs, asOfMs } = windowOf(options.asOf, options.lookbackDays);
    const catalog = await this.readCatalog(new Date(asOfMs).toISOString());
    options.signal?.throwIfAborted();
    const files = await this.eventFiles(startMs, asOfMs);
    if (files.length === 0) {
      throw new EmptyWindow(`no event files in the lake (${this.lake.description}) for [${new Date(startMs).toISOString()}, ${new Date(asOfMs).toISOString()})`);
    }
    const c = await this.conn();
    const types = VEHICLE_ENGAGEMENT_TYPES.map(sqlString).join(', ');
    const typeList = `[${CUSTOMER_EVENT_TYPES.map(sqlString).join(', ')}]`;
    const fileList = `[${files.map(sqlString).join(', ')}]`;
    const steps: Record<string, number> = {};
    let mark = Date.now();
    const step = (name: string) => {
      const now = Date.now();
      steps[name] = now - mark;
      mark = now;
    };
    const source = `read_parquet(${fileList}, union_by_name = true)`;
    const where = `epoch_ms(occurredAt) >= ${startMs} AND epoch_ms(occurredAt) < ${asOfMs} AND type IN (${types}) AND customerId IS NOT NULL AND vehicleId IS NOT NULL`;
    await c.run('DROP TABLE IF EXISTS evd; DROP TABLE IF EXISTS veh; DROP TABLE IF EXISTS cust;');
    // One scan of the Parquet files, de-duplicated on the fly. At-least-once delivery: every eventId
    // counts once (grouped on a 64-bit hash of it: two distinct ids collide with probability
    // ~n²/2⁶⁵, about 3·10⁻⁶ for 10M events). Ids of up to 12 bytes are inlined by DuckDB, so
    // carrying the id strings costs about as much as carrying hashes.
    await c.run(`
      CREATE TEMP TABLE evd AS
      SELECT any_value(customerId) AS c, any_value(vehicleId) AS v,
             any_value(list_position(${typeList}, type) - 1)::UTINYINT AS code,
             any_value(epoch_ms(occurredAt))::DOUBLE AS t,
             any_value(CASE WHEN properties IS NULL THEN 1
                   ELSE coalesce(TRY_CAST(json_extract_string(properties, '$.value') AS FLOAT), 1) END)::FLOAT AS val,
             count(*)::INTEGER AS copies,
             min(eventId) FILTER (WHERE NOT regexp_full_match(eventId, ${ID_REGEX_SQL})) AS badEventId
      FROM ${source} WHERE ${where} GROUP BY hash(eventId)`);
    options.signal?.throwIfAborted();
    step('scanMs');
    await this.indexTables(c);
    step('indexMs');
    const skipped = await this.dropInvalidIds(c, catalog);
    step('idCheckMs');
    const summary = (await c.runAndReadAll('SELECT count(*)::DOUBLE, coalesce(sum(copies), 0)::DOUBLE, coalesce(bool_and(val = 1), true) FROM evd')).getRows()[0]!;
    const n = Number(summary[0]);
    const copies = Number(summary[1]);
    const allOnes = summary[2] === true;
    if (n === 0) {
      await c.run('DROP TABLE IF EXISTS evd; DROP TABLE IF EXISTS veh; DROP TABLE IF EXISTS cust;');
      throw new EmptyWindow(`no customer interaction with a vehicle in [${new Date(startMs).toISOString()}, ${new Date(asOfMs).toISOString()}) (${files.length} event files read)`);
    }
    const perCustomer = await c.runAndReadAll('SELECT c, cnt FROM cust ORDER BY idx');
    const [customerColumn, countColumn] = perCustomer.getColumns() as [DuckDBValue[], DuckDBValue[]];
    const customerIds = customerColumn.map(String);
    const customerStart = new Int32Array(customerIds.length + 1);
    for (let i = 0; i < customerIds.length; i++) customerStart[i + 1] = customerStart[i]! + (countColumn[i] as number);
    const eventVehicleIds = (await c.runAndReadAll('SELECT v FROM veh ORDER BY idx')).getColumns()[0]!.map(String);
    step('idsMs');

    const customer = new Int32Array(n);
    for (let ci = 0; ci < customerIds.length; ci++) customer.fill(ci, customerStart[ci]!, customerStart[ci + 1]!);
    const vehicle = new Int32Array(n);
    const type = new Uint8Array(n);
    const time = new Float64Array(n);
    const value = new Float32Array(n);
    if (allOnes) value.fill(1);
    // Vehicle index and type code packed in one INTEGER column (fewer per-item reads in JS).
    const result = await c.stream(`
      SELECT (veh.idx * 256 + evd.code)::INTEGER, evd.t${allOnes ? '' : ', evd.val'}
      FROM evd JOIN cust ON evd.c = cust.c JOIN veh ON evd.v = veh.v
      ORDER BY cust.idx, evd.t, 1`);
    let row = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const rows = chunk.rowCount;
      const v0 = chunk.getColumnVector(0);
      const v1 = chunk.getColumnVector(1);
      for (let i = 0; i < rows; i++) {
        const packed = v0.getItem(i) as number;
        vehicle[row + i] = packed >> 8;
        type[row + i] = packed & 255;
        time[row + i] = v1.getItem(i) as number;
      }
      if (!allOnes) {
        const v2 = chunk.getColumnVector(2);
        for (let i = 0; i < rows; i++) value[row + i] = v2.getItem(i) as number;
      }
      row += rows;
      if (options.signal?.aborted) break;
    }
    step('fetchMs');
    options.signal?.throwIfAborted();
    await c.run('DROP TABLE IF EXISTS evd; DROP TABLE IF EXISTS veh; DROP TABLE IF EXISTS cust;');

    // Vehicle index: vehicles in events first (their indices are fixed), then catalog-only ones.
    const vehicleIds = eventVehicleIds.slice();
    const known = new Set(vehicleIds);
    for (const id of catalog.vehicles.keys()) if (!known.has(id)) vehicleIds.push(id);
    const vehicles = vehicleIds.map((id) => catalog.vehicles.get(id));
    const forSale = Uint8Array.from(vehicleIds, (id) => (catalog.forSale.has(id) ? 1 : 0));
    return {
      startMs,
      asOfMs,
      customerIds,
      vehicleIds,
      vehicles,
      forSale,
      n,
      customer,
      vehicle,
      type,
      time,
      value,
      customerStart,
      stats: { events: n, duplicates: copies - n, inventoryEvents: catalog.inventoryEventsApplied, snapshotDate: catalog.snapshotDate, files: files.length, steps, skipped },
    };
  }

  /**
   * Dense indices: vehicles (`veh`) and customers with their interaction counts (`cust`, the CSR
   * offsets without fetching a customer column), in id order (binary string order).
   */
  private async indexTables(c: DuckDBConnection): Promise<void> {
    await c.run('DROP TABLE IF EXISTS veh; DROP TABLE IF EXISTS cust;');
    await c.run('CREATE TEMP TABLE veh AS SELECT v, (row_number() OVER (ORDER BY v) - 1)::INTEGER AS idx FROM (SELECT DISTINCT v FROM evd)');
    await c.run('CREATE TEMP TABLE cust AS SELECT c, cnt, (row_number() OVER (ORDER BY c) - 1)::INTEGER AS idx FROM (SELECT c, count(*)::INTEGER AS cnt FROM evd GROUP BY c)');
  }

  /**
   * Deletes from `evd` the events whose eventId, customerId or vehicleId is outside the id
   * alphabet (Cosmos DB cannot hold a document for such a customer or vehicle, and such an id may
   * have changed on the way into the lake), counting each once under its first bad field, and
   * rebuilds the index tables. The customer and vehicle ids are checked on the distinct ids of
   * `cust` and `veh`, so the usual case (every id valid) costs a pass over the ids, not the events.
   */
  private async dropInvalidIds(c: DuckDBConnection, catalog: Catalog): Promise<SkippedRows> {
    const skipped: SkippedRows = {
      eventId: 0,
      customerId: 0,
      vehicleId: 0,
      catalogVehicleId: catalog.skippedVehicleIds?.count ?? 0,
      examples: [...(catalog.skippedVehicleIds?.examples ?? [])],
    };
    const found = (
      await c.runAndReadAll(`
        SELECT (SELECT count(*) FROM evd WHERE badEventId IS NOT NULL)
             + (SELECT count(*) FROM cust WHERE NOT regexp_full_match(c, ${ID_REGEX_SQL}))
             + (SELECT count(*) FROM veh WHERE NOT regexp_full_match(v, ${ID_REGEX_SQL}))`)
    ).getRows()[0]![0];
    if (Number(found) === 0) return skipped;
    const badC = `c IN (SELECT c FROM cust WHERE NOT regexp_full_match(c, ${ID_REGEX_SQL}))`;
    const badV = `v IN (SELECT v FROM veh WHERE NOT regexp_full_match(v, ${ID_REGEX_SQL}))`;
    const rows = (
      await c.runAndReadAll(`
        SELECT field, count(*)::DOUBLE, min(id) FROM (
          SELECT CASE WHEN badEventId IS NOT NULL THEN 'eventId' WHEN ${badC} THEN 'customerId' ELSE 'vehicleId' END AS field,
                 CASE WHEN badEventId IS NOT NULL THEN badEventId WHEN ${badC} THEN c ELSE v END AS id
          FROM evd WHERE badEventId IS NOT NULL OR ${badC} OR ${badV})
        GROUP BY field ORDER BY field`)
    ).getRows();
    for (const [field, count, id] of rows) {
      skipped[String(field) as 'eventId' | 'customerId' | 'vehicleId'] = Number(count);
      skipped.examples.push(example(String(field), String(id)));
    }
    await c.run(`DELETE FROM evd WHERE badEventId IS NOT NULL OR ${badC} OR ${badV}`);
    await this.indexTables(c);
    return skipped;
  }

  /**
   * The catalog as of `asOf`: the latest `vehicles/date=D/vehicles.parquet` with D 00:00 UTC ≤ asOf,
   * then the inventory events in `[D 00:00, asOf)` in time order (sold → not for sale, listed →
   * for sale with `properties.vehicle` attributes, price_changed → new price).
   */
  async readCatalog(asOf: string): Promise<Catalog> {
    const asOfMs = Date.parse(asOf);
    const snapshots = (await this.lake.list('vehicles/'))
      .map((o) => /^vehicles\/date=(\d{4}-\d{2}-\d{2})\/vehicles\.parquet$/.exec(o.key)?.[1])
      .filter((d): d is string => d !== undefined && Date.parse(`${d}T00:00:00Z`) <= asOfMs)
      .sort();
    const snapshotDate = snapshots[snapshots.length - 1];
    if (!snapshotDate) {
      throw new NotFound(`no vehicle catalog in the lake (${this.lake.description}) at or before ${asOf}: expected vehicles/date=YYYY-MM-DD/vehicles.parquet`);
    }
    const root = await this.lake.localRoot([`vehicles/date=${snapshotDate}/`]);
    const c = await this.conn();
    const file = join(root, 'vehicles', `date=${snapshotDate}`, 'vehicles.parquet');
    const rows = (
      await c.runAndReadAll(`
        SELECT vehicleId, make, model, trim, year::INTEGER, bodyStyle, fuelType, price::DOUBLE, mileage::INTEGER,
               storeId, storeCity, epoch_ms(listedAt)::DOUBLE, epoch_ms(soldAt)::DOUBLE
        FROM read_parquet(${sqlString(file)})`)
    ).getRows();
    const vehicles = new Map<string, Vehicle>();
    const forSale = new Set<string>();
    const str = (x: DuckDBValue) => (x === null || x === undefined ? undefined : String(x));
    const num = (x: DuckDBValue) => (x === null || x === undefined ? undefined : Number(x));
    const skippedVehicleIds = { count: 0, examples: [] as string[] };
    const skipVehicle = (id: string): boolean => {
      if (isValidId(id)) return false;
      skippedVehicleIds.count += 1;
      if (skippedVehicleIds.examples.length < 2) skippedVehicleIds.examples.push(example('catalog vehicleId', id));
      return true;
    };
    for (const r of rows) {
      if (skipVehicle(String(r[0]))) continue;
      const listedMs = num(r[11]!);
      const soldMs = num(r[12]!);
      const v: Vehicle = stripUndefined({
        vehicleId: String(r[0]),
        make: str(r[1]!) ?? '',
        model: str(r[2]!) ?? '',
        trim: str(r[3]!),
        year: num(r[4]!) ?? 0,
        bodyStyle: str(r[5]!) ?? 'unknown',
        fuelType: str(r[6]!),
        price: num(r[7]!) ?? 0,
        mileage: num(r[8]!),
        storeId: str(r[9]!),
        storeCity: str(r[10]!),
        listedAt: listedMs === undefined ? undefined : new Date(listedMs).toISOString(),
        soldAt: soldMs === undefined || soldMs >= asOfMs ? undefined : new Date(soldMs).toISOString(),
      });
      vehicles.set(v.vehicleId, v);
      const listed = listedMs === undefined || listedMs < asOfMs;
      const sold = soldMs !== undefined && soldMs < asOfMs;
      if (listed && !sold) forSale.add(v.vehicleId);
    }

    const startMs = Date.parse(`${snapshotDate}T00:00:00Z`);
    let applied = 0;
    const files = startMs < asOfMs ? await this.eventFiles(startMs, asOfMs) : [];
    if (files.length > 0) {
      const inv = (
        await c.runAndReadAll(`
          SELECT vehicleId, any_value(type), any_value(epoch_ms(occurredAt))::DOUBLE AS t, any_value(properties)
          FROM read_parquet([${files.map(sqlString).join(', ')}], union_by_name = true)
          WHERE type IN ('vehicle_listed', 'vehicle_sold', 'vehicle_price_changed') AND vehicleId IS NOT NULL
            AND epoch_ms(occurredAt) >= ${startMs} AND epoch_ms(occurredAt) < ${asOfMs}
          GROUP BY eventId, vehicleId ORDER BY t`)
      ).getRows();
      for (const r of inv) {
        const id = String(r[0]);
        if (skipVehicle(id)) continue;
        const type = String(r[1]);
        const t = Number(r[2]);
        const props = parseProps(r[3]);
        applied += 1;
        if (type === 'vehicle_sold') {
          forSale.delete(id);
          const v = vehicles.get(id);
          if (v) v.soldAt = new Date(t).toISOString();
        } else if (type === 'vehicle_listed') {
          const attrs = vehicleAttributesSchema.safeParse(props?.vehicle);
          const prev = vehicles.get(id);
          const next: Vehicle | undefined = attrs.success
            ? { ...attrs.data, vehicleId: id, listedAt: new Date(t).toISOString() }
            : prev
              ? { ...prev, listedAt: new Date(t).toISOString() }
              : undefined;
          if (next) {
            delete next.soldAt;
            vehicles.set(id, next);
          }
          // A listed vehicle without attributes is still for sale; it just cannot be described.
          forSale.add(id);
        } else if (type === 'vehicle_price_changed') {
          const v = vehicles.get(id);
          const price = typeof props?.price === 'number' ? props.price : undefined;
          if (v && price !== undefined) v.price = price;
        }
      }
    }
    return { asOf: new Date(asOfMs).toISOString(), snapshotDate, vehicles, forSale, inventoryEventsApplied: applied, skippedVehicleIds };
  }
}

function parseProps(raw: DuckDBValue | undefined): { vehicle?: unknown; price?: unknown } | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    const p: unknown = JSON.parse(String(raw));
    return p && typeof p === 'object' ? (p as { vehicle?: unknown; price?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
