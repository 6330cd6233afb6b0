/**
 * The synthetic inventory: vehicles in stock at the window start, daily new listings, planned
 * sales to buyers outside the dataset, planned price drops, and the pools customers browse.
 * Everything is planned up front from the PRNG; customer purchases only move a sale earlier.
 */
import { priceBand, PRICE_BANDS } from '../../shared/features/event-weights.js';
import { BODY_STYLES, MAKES, STORES, type BodyStyle, type FuelType } from './catalog-data.js';
import { Prng, WeightedPicker } from './prng.js';

export const DAY_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;
/** Mean days a vehicle stays listed before someone (outside the dataset) buys it. */
const MEAN_DAYS_ON_LOT = 45;
/** Age (years) distribution of used stock, index = age. */
const AGE_WEIGHTS = [5, 14, 16, 15, 13, 11, 9, 7, 5, 3, 2];

/** Flat model table: one entry per (make, model). */
export interface ModelTable {
  make: string[];
  makeIndex: Int16Array;
  model: string[];
  body: Uint8Array;
  msrp: Float64Array;
  fuel: FuelType[];
  hybridShare: Float64Array;
  popularity: Float64Array;
  trims: (readonly string[])[];
}

export function buildModelTable(): ModelTable {
  const t: ModelTable = { make: [], makeIndex: new Int16Array(0), model: [], body: new Uint8Array(0), msrp: new Float64Array(0), fuel: [], hybridShare: new Float64Array(0), popularity: new Float64Array(0), trims: [] };
  const makeIdx: number[] = [];
  const body: number[] = [];
  const msrp: number[] = [];
  const hybrid: number[] = [];
  const pop: number[] = [];
  MAKES.forEach((mk, mi) => {
    for (const md of mk.models) {
      t.make.push(mk.make);
      makeIdx.push(mi);
      t.model.push(md.model);
      body.push(BODY_STYLES.indexOf(md.bodyStyle));
      msrp.push(md.msrp);
      t.fuel.push(md.fuelType);
      hybrid.push(md.hybridShare ?? 0);
      pop.push(md.popularity);
      t.trims.push(mk.trims);
    }
  });
  t.makeIndex = Int16Array.from(makeIdx);
  t.body = Uint8Array.from(body);
  t.msrp = Float64Array.from(msrp);
  t.hybridShare = Float64Array.from(hybrid);
  t.popularity = Float64Array.from(pop);
  return t;
}

export const BAND_COUNT = PRICE_BANDS.length;
export function bandIndex(price: number): number {
  const b = priceBand(price);
  return PRICE_BANDS.findIndex((x) => x.band === b);
}

/** The vehicles of the whole window, indexed 0..count-1 in listing order. */
export class Inventory {
  count = 0;
  model: Int16Array;
  year: Int16Array;
  trim: Int8Array;
  fuel: (FuelType | undefined)[];
  mileage: Int32Array;
  basePrice: Float64Array;
  band: Int8Array;
  store: Int16Array;
  listedMs: Float64Array;
  /** Sale time (epoch ms); +Infinity when not sold within the horizon. */
  soldMs: Float64Array;
  purchased: Uint8Array;
  /** Most recent engagement by a dataset customer (epoch ms), to keep sales after it. */
  lastEngagedMs: Float64Array;
  /** 0.1..1: how likely a customer who comes across the vehicle engages it. */
  attract: Float32Array;
  /** Planned price changes, grouped by vehicle: [pcStart[v], pcStart[v] + pcCount[v]). */
  pcStart: Int32Array;
  pcCount: Uint8Array;
  pcMs: number[] = [];
  pcPrice: number[] = [];
  pcPrevious: number[] = [];
  /** First vehicle index listed on window day d (d = 0..days; earlier ones are the start stock); `dayFirst[days + 1]` = count. */
  dayFirst: Int32Array;

  private constructor(
    readonly models: ModelTable,
    capacity: number,
    days: number,
  ) {
    this.model = new Int16Array(capacity);
    this.year = new Int16Array(capacity);
    this.trim = new Int8Array(capacity);
    this.fuel = new Array<FuelType | undefined>(capacity);
    this.mileage = new Int32Array(capacity);
    this.basePrice = new Float64Array(capacity);
    this.band = new Int8Array(capacity);
    this.store = new Int16Array(capacity);
    this.listedMs = new Float64Array(capacity);
    this.soldMs = new Float64Array(capacity);
    this.purchased = new Uint8Array(capacity);
    this.lastEngagedMs = new Float64Array(capacity);
    this.attract = new Float32Array(capacity);
    this.pcStart = new Int32Array(capacity);
    this.pcCount = new Uint8Array(capacity);
    this.dayFirst = new Int32Array(days + 2);
  }

  /**
   * Plans the inventory: `stock` vehicles listed before `startMs`, about stock/45 new listings a
   * day through the window, sales by outside buyers (mean 45 days on the lot), price drops every
   * 7–21 days of 2–6 %.
   */
  static plan(rng: Prng, options: { stock: number; startMs: number; days: number; endYear: number }): Inventory {
    const { stock, startMs, days } = options;
    const perDay = stock / MEAN_DAYS_ON_LOT;
    const capacity = Math.ceil(stock + perDay * 1.25 * days) + 16;
    const models = buildModelTable();
    const inv = new Inventory(models, capacity, days);
    const modelPicker = new WeightedPicker(models.popularity);
    const storePicker = new WeightedPicker(STORES.map((s) => s.weight));
    const agePicker = new WeightedPicker(AGE_WEIGHTS);
    const endMs = startMs + days * DAY_MS;

    const add = (listedMs: number, soldMs: number) => {
      const v = inv.count++;
      const mi = modelPicker.pick(rng);
      const age = agePicker.pick(rng);
      const trims = models.trims[mi] as readonly string[];
      const trim = Math.min(trims.length - 1, Math.floor(Math.pow(rng.next(), 1.4) * trims.length));
      const baseFuel = models.fuel[mi] as FuelType;
      const fuel: FuelType = baseFuel === 'gasoline' && rng.chance(models.hybridShare[mi] as number) ? 'hybrid' : baseFuel;
      const mileage = age === 0 ? Math.round(rng.range(5, 1500)) : Math.round(age * rng.range(7_000, 16_000) + rng.range(0, 3_000));
      const depreciation = Math.pow(baseFuel === 'electric' ? 0.82 : 0.865, age);
      const mileageAdj = Math.max(0.75, 1 - (mileage - age * 12_000) / 250_000);
      const raw = (models.msrp[mi] as number) * (1 + 0.07 * trim) * depreciation * mileageAdj * rng.range(0.93, 1.07) * (fuel === 'hybrid' && baseFuel !== 'hybrid' ? 1.06 : 1);
      const price = Math.max(4_990, Math.round(raw / 100) * 100 - 10);
      inv.model[v] = mi;
      inv.year[v] = options.endYear - age + (age === 0 && rng.chance(0.3) ? 1 : 0);
      inv.trim[v] = trim;
      inv.fuel[v] = fuel;
      inv.mileage[v] = mileage;
      inv.basePrice[v] = price;
      inv.band[v] = bandIndex(price);
      inv.store[v] = storePicker.pick(rng);
      inv.listedMs[v] = listedMs;
      inv.soldMs[v] = soldMs >= endMs + DAY_MS ? Number.POSITIVE_INFINITY : soldMs;
      inv.lastEngagedMs[v] = 0;
      inv.attract[v] = 0.1 + 0.9 * Math.pow(rng.next(), 2.2);
      // Price drops, planned from listing until the sale (only those inside the window matter).
      inv.pcStart[v] = inv.pcMs.length;
      let t = listedMs + rng.range(7, 21) * DAY_MS;
      let p = price;
      let n = 0;
      while (t < Math.min(soldMs, endMs + DAY_MS) && n < 250) {
        const next = Math.max(4_990, Math.round((p * (1 - rng.range(0.02, 0.06))) / 100) * 100 - 10);
        if (t >= startMs && next < p) {
          inv.pcMs.push(t);
          inv.pcPrice.push(next);
          inv.pcPrevious.push(p);
          n += 1;
        }
        p = next;
        t += rng.range(7, 21) * DAY_MS;
      }
      // Drops before the window only change the price the window starts with.
      inv.pcCount[v] = n;
      if (listedMs < startMs) inv.basePrice[v] = n > 0 ? (inv.pcPrevious[inv.pcStart[v] as number] as number) : p;
      inv.band[v] = bandIndex(inv.basePrice[v] as number);
    };

    // Stock at the window start: listed up to 60 days before; memoryless time to sale.
    for (let i = 0; i < stock; i++) {
      const listed = startMs - rng.range(0.05, 60) * DAY_MS;
      add(Math.round(listed), Math.round(startMs + rng.exponential(MEAN_DAYS_ON_LOT) * DAY_MS));
    }
    // New listings each day of the window.
    for (let d = 0; d < days; d++) {
      inv.dayFirst[d] = inv.count;
      const n = Math.round(perDay * rng.range(0.75, 1.25));
      const times: number[] = [];
      for (let i = 0; i < n && inv.count < capacity; i++) times.push(Math.round(startMs + d * DAY_MS + rng.range(13, 23.5) * HOUR_MS));
      times.sort((a, b) => a - b);
      for (const t of times) add(t, Math.round(t + Math.max(0.5, rng.exponential(MEAN_DAYS_ON_LOT)) * DAY_MS));
    }
    inv.dayFirst[days] = inv.count;
    inv.dayFirst[days + 1] = inv.count;
    return inv;
  }

  /** For sale at `ms`: listed at or before it and not sold yet. */
  available(v: number, ms: number): boolean {
    return (this.listedMs[v] as number) <= ms && ms < (this.soldMs[v] as number);
  }

  /** Price at `ms` after the planned drops. */
  priceAt(v: number, ms: number): number {
    let p = this.basePrice[v] as number;
    const s = this.pcStart[v] as number;
    const e = s + (this.pcCount[v] as number);
    for (let i = s; i < e; i++) {
      if ((this.pcMs[i] as number) <= ms) p = this.pcPrice[i] as number;
      else break;
    }
    return p;
  }

  /**
   * A customer buys `v` at `ms`: the sale moves to a few hours later (never after the planned
   * outside sale, never before the vehicle's last engagement). Returns the sale time.
   */
  sell(v: number, ms: number, rng: Prng): number {
    const planned = this.soldMs[v] as number;
    const sold = Math.min(planned, Math.max(ms + rng.range(1, 4) * HOUR_MS, (this.lastEngagedMs[v] as number) + 1000));
    this.soldMs[v] = Math.round(sold);
    this.purchased[v] = 1;
    return this.soldMs[v] as number;
  }

  makeOf(v: number): string {
    return this.models.make[this.model[v] as number] as string;
  }

  bodyOf(v: number): BodyStyle {
    return BODY_STYLES[this.models.body[this.model[v] as number] as number] as BodyStyle;
  }

  trimOf(v: number): string {
    return (this.models.trims[this.model[v] as number] as readonly string[])[this.trim[v] as number] as string;
  }
}

const EMPTY = new Int32Array(0);

/** Index lists customers browse: by model+band, make+body+band, body+band (band -1 = any band). */
export class Pools {
  private readonly byModel: Int32Array[];
  private readonly byMake: Int32Array[];
  private readonly byBody: Int32Array[];
  private readonly bodies = BODY_STYLES.length;

  constructor(inv: Inventory) {
    const b = BAND_COUNT + 1;
    const models = inv.models;
    const makes = MAKES.length;
    const lists = (n: number) => Array.from({ length: n }, () => [] as number[]);
    const m = lists(models.model.length * b);
    const k = lists(makes * this.bodies * b);
    const y = lists(this.bodies * b);
    for (let v = 0; v < inv.count; v++) {
      const mi = inv.model[v] as number;
      const mk = models.makeIndex[mi] as number;
      const body = models.body[mi] as number;
      const band = (inv.band[v] as number) + 1;
      m[mi * b + band]!.push(v);
      m[mi * b]!.push(v);
      k[(mk * this.bodies + body) * b + band]!.push(v);
      k[(mk * this.bodies + body) * b]!.push(v);
      y[body * b + band]!.push(v);
      y[body * b]!.push(v);
    }
    const pack = (l: number[][]) => l.map((x) => (x.length ? Int32Array.from(x) : EMPTY));
    this.byModel = pack(m);
    this.byMake = pack(k);
    this.byBody = pack(y);
  }

  /** Vehicles of a model in a price band (-1: any band). */
  model(model: number, band: number): Int32Array {
    return this.byModel[model * (BAND_COUNT + 1) + band + 1] ?? EMPTY;
  }

  /** Vehicles of a make and body style in a price band (-1: any band). */
  make(make: number, body: number, band: number): Int32Array {
    return this.byMake[(make * this.bodies + body) * (BAND_COUNT + 1) + band + 1] ?? EMPTY;
  }

  /** Vehicles of a body style in a price band (-1: any band). */
  body(body: number, band: number): Int32Array {
    return this.byBody[body * (BAND_COUNT + 1) + band + 1] ?? EMPTY;
  }
}
