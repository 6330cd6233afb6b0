/**
 * `showroom generate` as a function: a deterministic synthetic dataset (catalog, inventory
 * churn, customer journeys) written to a lake in the DESIGN.md layout:
 * `events/date=D/hour=HH/generate-00000000.parquet` and `vehicles/date=D/vehicles.parquet`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EVENT_TYPES, type EventType } from '../../shared/domain/event.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import { eventFileKey, vehicleSnapshotKey } from '../../shared/lake/lake-paths.js';
import { BODY_STYLES, STORES } from './catalog-data.js';
import { DuckDbDatasetWriter, EVENT_TYPE_CODE, type DayBuffer, type IdFormat, type StagedFile } from './duckdb-dataset-writer.js';
import { DAY_MS, Inventory, Pools } from './inventory.js';
import { Customers } from './journeys.js';
import { Prng, hashString } from './prng.js';

export interface GenerateOptions {
  /** Customers with at least one session in the window. */
  customers: number;
  /** Vehicles in stock when the window starts (about stock/45 more are listed every day). */
  vehicles: number;
  /** Days of events: the window is [end − days + 1, end], UTC days. */
  days: number;
  seed: number;
  /** Last day of events, `YYYY-MM-DD` (UTC). */
  end: string;
  lake: Lake;
  /** Local folder for files before they are put into the lake (default: the OS temp folder). */
  stagingDir?: string;
  signal?: AbortSignal;
  /** DuckDB threads for Parquet encoding (default 2). */
  threads?: number;
}

export interface GenerateProgress {
  phase: 'plan' | 'simulate' | 'snapshots';
  done: number;
  total: number;
}

export interface GenerateResult {
  seed: number;
  /** First and last day of events (UTC). */
  start: string;
  end: string;
  customers: number;
  /** Customers who bought a vehicle (their journey ended). */
  purchasers: number;
  /** Distinct vehicles in the catalog (start stock + listings listed up to the end of `end`). */
  vehicles: number;
  vehiclesInStockAtStart: number;
  sessions: number;
  events: number;
  eventsByType: Record<EventType, number>;
  /** Files written: event files + catalog snapshots. */
  files: number;
  eventFiles: number;
  snapshotFiles: number;
  bytes: number;
  seconds: number;
  lake: string;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** UTC date string of epoch ms. */
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Writer name of generated event files (`<writer>-<seq>.parquet`). */
export const GENERATE_WRITER = 'generate';

function validate(o: GenerateOptions): void {
  const bad: { field: string; message: string }[] = [];
  if (!Number.isInteger(o.customers) || o.customers < 1 || o.customers > 50_000_000) bad.push({ field: 'customers', message: 'must be an integer 1..50000000' });
  if (!Number.isInteger(o.vehicles) || o.vehicles < 10 || o.vehicles > 5_000_000) bad.push({ field: 'vehicles', message: 'must be an integer 10..5000000' });
  if (!Number.isInteger(o.days) || o.days < 1 || o.days > 366) bad.push({ field: 'days', message: 'must be an integer 1..366' });
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) bad.push({ field: 'seed', message: 'must be an integer 0..4294967295' });
  if (!DATE_RE.test(o.end) || Number.isNaN(Date.parse(`${o.end}T00:00:00Z`))) bad.push({ field: 'end', message: 'must be YYYY-MM-DD' });
  if (bad.length > 0) throw new InvalidArgument(`invalid generate options: ${bad.map((b) => `${b.field} ${b.message}`).join('; ')}`, bad);
}

const digits = (n: number) => Math.max(6, String(Math.max(0, n - 1)).length);

/**
 * Generates the dataset into `options.lake`. Same options → byte-identical event content
 * (same eventIds, rows and values). Files are put atomically, one per (date, hour), named
 * `generate-00000000.parquet`, so re-running overwrites the same keys (idempotent).
 * Events with `occurredAt` after `end` 23:59:59.999 are not written. Snapshots are written for
 * every day of the window and for the day after `end` (the catalog as of the end of the data).
 */
export async function generateDataset(options: GenerateOptions, onProgress?: (p: GenerateProgress) => void): Promise<GenerateResult> {
  validate(options);
  const started = performance.now();
  const { customers: customerCount, vehicles: stock, days, seed, lake, signal } = options;
  const endDayMs = Date.parse(`${options.end}T00:00:00Z`);
  const startMs = endDayMs - (days - 1) * DAY_MS;
  const endMs = endDayMs + DAY_MS;
  const endYear = new Date(endDayMs).getUTCFullYear();

  onProgress?.({ phase: 'plan', done: 0, total: 1 });
  const root = new Prng(hashString(`showroom-generate:${seed}`));
  const inv = Inventory.plan(root.fork('inventory'), { stock, startMs, days, endYear });
  const pools = new Pools(inv);
  const customers = new Customers(root.fork('customers'), inv, pools, customerCount, endYear);
  const plan = customers.planSessions(startMs, days);
  const sessions = plan.start.length;
  onProgress?.({ phase: 'plan', done: 1, total: 1 });
  signal?.throwIfAborted();

  const ids: IdFormat = {
    eventIdPrefix: `gen-${hashString(JSON.stringify([seed, customerCount, stock, days, options.end])).toString(36)}-`,
    customerPrefix: 'c-',
    customerDigits: digits(customerCount),
    vehiclePrefix: 'v-',
    vehicleDigits: digits(inv.count),
    sessionPrefix: 's-',
  };
  const staging = await fs.mkdtemp(path.join(options.stagingDir ?? os.tmpdir(), 'showroom-generate-'));
  const writer = await DuckDbDatasetWriter.open({ stagingDir: staging, ids, threads: options.threads });
  const eventsByType = Object.fromEntries(EVENT_TYPES.map((t) => [t, 0])) as Record<EventType, number>;
  let events = 0;
  let seq = 0;
  let files = 0;
  let eventFiles = 0;
  let bytes = 0;
  let flushing: Promise<void> = Promise.resolve();

  const putStaged = async (staged: StagedFile[]) => {
    for (const s of staged) {
      const st = await fs.stat(s.file);
      await lake.put(eventFileKey(s.date, s.hour, GENERATE_WRITER, 0), s.file);
      await fs.rm(s.file, { force: true });
      files += 1;
      eventFiles += 1;
      bytes += st.size;
    }
  };

  try {
    // Events for a later day (a sale hours after a late purchase, a session past midnight).
    const pending: { type: number; c: number; v: number; s: number; ms: number; p: string | null }[][] = Array.from({ length: days }, () => []);
    let day = 0;
    let buf: DayBuffer = await writer.beginDay(dateOf(startMs));
    const emit = (type: EventType, c: number, v: number, s: number, ms: number, p: string | null) => {
      if (ms >= endMs) return;
      const d = Math.floor((ms - startMs) / DAY_MS);
      const code = EVENT_TYPE_CODE[type];
      eventsByType[type] += 1;
      events += 1;
      if (d === day) buf.add(seq++, code, c, v, s, ms, p);
      else pending[d]!.push({ type: code, c, v, s, ms, p });
    };
    let next = 0;
    for (day = 0; day < days; day++) {
      const dayStart = startMs + day * DAY_MS;
      const dayEnd = dayStart + DAY_MS;
      if (day > 0) buf = await writer.beginDay(dateOf(dayStart));
      for (const e of pending[day]!) buf.add(seq++, e.type, e.c, e.v, e.s, e.ms, e.p);
      pending[day] = [];

      for (; next < sessions && (plan.start[next] as number) < dayEnd; next++) {
        customers.simulateSession(plan.customer[next] as number, next, plan.start[next] as number, emit);
        if ((next & 4095) === 0) {
          signal?.throwIfAborted();
          onProgress?.({ phase: 'simulate', done: next, total: sessions });
        }
      }

      // Inventory events of the day: new listings, price drops, sales to outside buyers.
      for (let v = inv.dayFirst[day] as number; v < (inv.dayFirst[day + 1] as number); v++) {
        const mi = inv.model[v] as number;
        const fuel = inv.fuel[v];
        const vehicle = {
          make: inv.models.make[mi] as string,
          model: inv.models.model[mi] as string,
          trim: inv.trimOf(v),
          year: inv.year[v] as number,
          bodyStyle: BODY_STYLES[inv.models.body[mi] as number] as string,
          ...(fuel ? { fuelType: fuel } : {}),
          price: inv.basePrice[v] as number,
          mileage: inv.mileage[v] as number,
          storeId: STORES[inv.store[v] as number]!.storeId,
        };
        emit('vehicle_listed', -1, v, -1, inv.listedMs[v] as number, JSON.stringify({ price: vehicle.price, vehicle }));
      }
      const listedSoFar = inv.dayFirst[day + 1] as number;
      for (let v = 0; v < listedSoFar; v++) {
        const sold = inv.soldMs[v] as number;
        const s = inv.pcStart[v] as number;
        const e = s + (inv.pcCount[v] as number);
        for (let i = s; i < e; i++) {
          const ms = inv.pcMs[i] as number;
          if (ms >= dayStart && ms < dayEnd && ms < sold && ms >= (inv.listedMs[v] as number)) {
            emit('vehicle_price_changed', -1, v, -1, ms, JSON.stringify({ price: inv.pcPrice[i], previousPrice: inv.pcPrevious[i] }));
          }
        }
        if (inv.purchased[v] === 0 && sold >= dayStart && sold < dayEnd) {
          emit('vehicle_sold', -1, v, -1, sold, JSON.stringify({ price: inv.priceAt(v, sold) }));
        }
      }

      // Encode this day on DuckDB's threads while the next day is simulated (one day in flight).
      await flushing;
      const full = buf;
      flushing = writer.flushDay(full).then(putStaged);
      flushing.catch(() => undefined); // handled by the next await; avoids an unhandled-rejection crash meanwhile
      onProgress?.({ phase: 'simulate', done: next, total: sessions });
    }
    await flushing;
    signal?.throwIfAborted();

    // Catalog snapshots: every day of the window and the day after the end.
    const rows = function* () {
      for (let v = 0; v < inv.count; v++) {
        const mi = inv.model[v] as number;
        const store = STORES[inv.store[v] as number]!;
        const sold = inv.soldMs[v] as number;
        yield {
          index: v,
          make: inv.models.make[mi] as string,
          model: inv.models.model[mi] as string,
          trim: inv.trimOf(v),
          year: inv.year[v] as number,
          bodyStyle: BODY_STYLES[inv.models.body[mi] as number] as string,
          fuelType: inv.fuel[v] ?? 'gasoline',
          price: inv.basePrice[v] as number,
          mileage: inv.mileage[v] as number,
          storeId: store.storeId,
          storeCity: store.city,
          listedMs: inv.listedMs[v] as number,
          soldMs: Number.isFinite(sold) ? sold : Number.NaN,
        };
      }
    };
    await writer.addVehicles(rows());
    const pcV: number[] = [];
    const pcMs: number[] = [];
    const pcP: number[] = [];
    for (let v = 0; v < inv.count; v++) {
      const s = inv.pcStart[v] as number;
      for (let i = s; i < s + (inv.pcCount[v] as number); i++) {
        if ((inv.pcMs[i] as number) < (inv.soldMs[v] as number)) {
          pcV.push(v);
          pcMs.push(inv.pcMs[i] as number);
          pcP.push(inv.pcPrice[i] as number);
        }
      }
    }
    await writer.addPriceChanges(pcV, pcMs, pcP, pcV.length);
    let snapshotFiles = 0;
    for (let d = 0; d <= days; d++) {
      signal?.throwIfAborted();
      const asOf = startMs + d * DAY_MS;
      const file = path.join(staging, 'vehicles', `${dateOf(asOf)}.parquet`);
      await writer.writeSnapshot(asOf, file);
      const st = await fs.stat(file);
      await lake.put(vehicleSnapshotKey(dateOf(asOf)), file);
      await fs.rm(file, { force: true });
      files += 1;
      snapshotFiles += 1;
      bytes += st.size;
      onProgress?.({ phase: 'snapshots', done: d + 1, total: days + 1 });
    }

    let purchasers = 0;
    for (let c = 0; c < customerCount; c++) if (customers.stage[c] === 3) purchasers += 1;
    return {
      seed,
      start: dateOf(startMs),
      end: options.end,
      customers: customerCount,
      purchasers,
      vehicles: inv.count,
      vehiclesInStockAtStart: stock,
      sessions,
      events,
      eventsByType,
      files,
      eventFiles,
      snapshotFiles,
      bytes,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      lake: lake.description,
    };
  } finally {
    await flushing.catch(() => undefined);
    writer.close();
    await fs.rm(staging, { recursive: true, force: true });
  }
}
