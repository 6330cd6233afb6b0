/**
 * Bulk Parquet writer of the generator, on DuckDB (`@duckdb/node-api`): rows are appended
 * int-coded through the appender (no per-row string building in JS), and DuckDB's COPY turns
 * them into the lake's event and vehicle files (SNAPPY) with the exact column names and types of
 * `shared/lake/parquet-codec.ts` (strings, TIMESTAMP_MILLIS, INT32, DOUBLE). COPY runs on DuckDB's
 * threads, so the simulation of the next day overlaps the encoding of the previous one.
 * Measured: ~4x faster than @dsnp/parquetjs for the 200k/20k/30-day dataset.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { EVENT_TYPES, type EventType } from '../../shared/domain/event.js';
import { Unavailable } from '../../shared/errors/app-error.js';

const sql = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Code of each event type in the appended rows (index in EVENT_TYPES). */
export const EVENT_TYPE_CODE: Readonly<Record<EventType, number>> = Object.fromEntries(EVENT_TYPES.map((t, i) => [t, i])) as Record<EventType, number>;

/** Names of the generated ids: `<prefix><zero-padded index>`. */
export interface IdFormat {
  eventIdPrefix: string;
  customerPrefix: string;
  customerDigits: number;
  vehiclePrefix: string;
  vehicleDigits: number;
  sessionPrefix: string;
}

/** Static attributes of one vehicle (the catalog master row). */
export interface VehicleRow {
  index: number;
  make: string;
  model: string;
  trim: string;
  year: number;
  bodyStyle: string;
  fuelType: string;
  /** Listing price, USD. */
  price: number;
  mileage: number;
  storeId: string;
  storeCity: string;
  listedMs: number;
  /** Epoch ms, or NaN while unsold. */
  soldMs: number;
}

/** One day of events being appended. Append with {@link DayBuffer.add}; hand it to `flushDay`. */
export class DayBuffer {
  rows = 0;
  constructor(
    readonly table: string,
    readonly date: string,
    private readonly appender: DuckDBAppender,
  ) {}

  /** Appends one event; ids < 0 mean absent. `ms` is epoch milliseconds (UTC). */
  add(seq: number, type: number, customer: number, vehicle: number, session: number, ms: number, properties: string | null): void {
    const a = this.appender;
    a.appendInteger(seq);
    a.appendUTinyInt(type);
    if (customer >= 0) a.appendInteger(customer);
    else a.appendNull();
    if (vehicle >= 0) a.appendInteger(vehicle);
    else a.appendNull();
    if (session >= 0) a.appendInteger(session);
    else a.appendNull();
    a.appendDouble(ms);
    if (properties === null) a.appendNull();
    else a.appendVarchar(properties);
    a.endRow();
    this.rows += 1;
  }

  close(): void {
    this.appender.closeSync();
  }
}

/** A staged Parquet file, ready to be put into the lake. */
export interface StagedFile {
  date: string;
  hour: number;
  file: string;
  rows: number;
}

export class DuckDbDatasetWriter {
  private tableSeq = 0;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly appendConn: DuckDBConnection,
    private readonly copyConn: DuckDBConnection,
    private readonly stagingDir: string,
    private readonly ids: IdFormat,
  ) {}

  /** Opens an in-memory DuckDB. `threads` bounds DuckDB's own worker threads. */
  static async open(options: { stagingDir: string; ids: IdFormat; threads?: number; memoryLimit?: string }): Promise<DuckDbDatasetWriter> {
    try {
      const instance = await DuckDBInstance.create(':memory:', {
        threads: String(options.threads ?? 2),
        memory_limit: options.memoryLimit ?? '2GB',
        preserve_insertion_order: 'false',
      });
      const appendConn = await instance.connect();
      const copyConn = await instance.connect();
      await appendConn.run(`CREATE TABLE veh (vi INTEGER, make VARCHAR, model VARCHAR, trim VARCHAR, year INTEGER, bodyStyle VARCHAR, fuelType VARCHAR,
        price DOUBLE, mileage INTEGER, storeId VARCHAR, storeCity VARCHAR, listedMs DOUBLE, soldMs DOUBLE)`);
      await appendConn.run('CREATE TABLE pc (vi INTEGER, ms DOUBLE, price DOUBLE)');
      return new DuckDbDatasetWriter(instance, appendConn, copyConn, options.stagingDir, options.ids);
    } catch (err) {
      throw new Unavailable(`cannot start DuckDB for generation: ${(err as Error).message}`, err);
    }
  }

  /** Starts the event table of one UTC day. */
  async beginDay(date: string): Promise<DayBuffer> {
    const table = `ev_${this.tableSeq++}`;
    await this.appendConn.run(`CREATE TABLE ${table} (seq INTEGER, t UTINYINT, c INTEGER, v INTEGER, s INTEGER, ms DOUBLE, p VARCHAR)`);
    return new DayBuffer(table, date, await this.appendConn.createAppender(table));
  }

  /**
   * Closes the day's appender and encodes its rows into one SNAPPY Parquet file per hour
   * (`<staging>/<date>/hour=HH/generate-0.parquet`), rows ordered by occurredAt.
   */
  async flushDay(day: DayBuffer): Promise<StagedFile[]> {
    day.close();
    const dir = path.join(this.stagingDir, day.date);
    const out: StagedFile[] = [];
    if (day.rows > 0) {
      const id = this.ids;
      const types = `[${EVENT_TYPES.map(sql).join(', ')}]`;
      const padded = (col: string, prefix: string, digits: number) => `CASE WHEN ${col} IS NOT NULL THEN ${sql(prefix)} || lpad(${col}::VARCHAR, ${digits}, '0') END`;
      await this.copyConn.run(`COPY (
          SELECT ${sql(id.eventIdPrefix)} || seq::VARCHAR AS eventId,
                 ${types}[t + 1] AS type,
                 ${padded('c', id.customerPrefix, id.customerDigits)} AS customerId,
                 ${padded('v', id.vehiclePrefix, id.vehicleDigits)} AS vehicleId,
                 CASE WHEN s IS NOT NULL THEN ${sql(id.sessionPrefix)} || s::VARCHAR END AS sessionId,
                 make_timestamp_ms(ms::BIGINT)::TIMESTAMP_MS AS occurredAt,
                 make_timestamp_ms((ms + 40 + (seq::BIGINT * 2654435761) % 1500)::BIGINT)::TIMESTAMP_MS AS receivedAt,
                 p AS properties,
                 strftime(make_timestamp_ms(ms::BIGINT), '%H') AS hour
          FROM ${day.table} ORDER BY ms, seq)
        TO ${sql(dir)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880, PARTITION_BY (hour), FILENAME_PATTERN 'generate-{i}', OVERWRITE_OR_IGNORE true)`);
      const counts = (await this.copyConn.runAndReadAll(`SELECT strftime(make_timestamp_ms(ms::BIGINT), '%H') AS h, count(*)::INTEGER FROM ${day.table} GROUP BY h ORDER BY h`)).getRows();
      for (const [h, n] of counts) {
        out.push({ date: day.date, hour: Number(h), file: path.join(dir, `hour=${String(h)}`, 'generate-0.parquet'), rows: Number(n) });
      }
    }
    await this.copyConn.run(`DROP TABLE ${day.table}`);
    return out;
  }

  /** Adds catalog master rows (final listedAt/soldAt). */
  async addVehicles(rows: Iterable<VehicleRow>): Promise<void> {
    const a = await this.appendConn.createAppender('veh');
    for (const r of rows) {
      a.appendInteger(r.index);
      a.appendVarchar(r.make);
      a.appendVarchar(r.model);
      a.appendVarchar(r.trim);
      a.appendInteger(r.year);
      a.appendVarchar(r.bodyStyle);
      a.appendVarchar(r.fuelType);
      a.appendDouble(r.price);
      a.appendInteger(r.mileage);
      a.appendVarchar(r.storeId);
      a.appendVarchar(r.storeCity);
      a.appendDouble(r.listedMs);
      if (Number.isNaN(r.soldMs)) a.appendNull();
      else a.appendDouble(r.soldMs);
      a.endRow();
    }
    a.closeSync();
  }

  /** Adds price changes (vehicle index, epoch ms, new price). */
  async addPriceChanges(vehicle: ArrayLike<number>, ms: ArrayLike<number>, price: ArrayLike<number>, count: number): Promise<void> {
    const a = await this.appendConn.createAppender('pc');
    for (let i = 0; i < count; i++) {
      a.appendInteger(vehicle[i] as number);
      a.appendDouble(ms[i] as number);
      a.appendDouble(price[i] as number);
      a.endRow();
    }
    a.closeSync();
  }

  /**
   * Writes the catalog as of `asOfMs` (a UTC midnight) to `file`: every vehicle listed before it,
   * price after the changes before it, `soldAt` only when sold before it (no future leaks).
   */
  async writeSnapshot(asOfMs: number, file: string): Promise<number> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const id = this.ids;
    await this.copyConn.run(`COPY (
        SELECT ${sql(id.vehiclePrefix)} || lpad(veh.vi::VARCHAR, ${id.vehicleDigits}, '0') AS vehicleId,
               make, model, trim, year::INTEGER AS year, bodyStyle, fuelType,
               coalesce(cur.price, veh.price)::DOUBLE AS price, mileage::INTEGER AS mileage, storeId, storeCity,
               make_timestamp_ms(listedMs::BIGINT)::TIMESTAMP_MS AS listedAt,
               CASE WHEN soldMs < ${asOfMs} THEN make_timestamp_ms(soldMs::BIGINT)::TIMESTAMP_MS END AS soldAt
        FROM veh LEFT JOIN (SELECT vi, arg_max(price, ms) AS price FROM pc WHERE ms < ${asOfMs} GROUP BY vi) cur ON cur.vi = veh.vi
        WHERE listedMs < ${asOfMs} ORDER BY veh.vi)
      TO ${sql(file)} (FORMAT parquet, COMPRESSION snappy)`);
    const n = (await this.copyConn.runAndReadAll(`SELECT count(*)::INTEGER FROM veh WHERE listedMs < ${asOfMs}`)).getRows()[0]?.[0];
    return Number(n ?? 0);
  }

  close(): void {
    this.appendConn.closeSync();
    this.copyConn.closeSync();
    this.instance.closeSync();
  }
}
