import type { ScoredVehicle } from '../domain/prediction.js';
import { PRICE_BANDS } from '../features/event-weights.js';
import type { InventoryView, RerankVehicle } from './rerank.js';

/** One vehicle of a run as the catalog is built from it (a `neighbors` document). */
export interface CatalogEntry {
  vehicleId: string;
  /** Attributes; absent when the run knows none (the re-ranker then asks its fallback). */
  vehicle?: RerankVehicle;
  /** Nearest neighbours, most similar first. */
  neighbors?: readonly ScoredVehicle[];
}

/** Codes of one vehicle's lower-cased facets (−1 = none). */
export interface FacetCodes {
  make: number;
  model: number;
  bodyStyle: number;
  fuelType: number;
  /** Make + model: the diversity group. */
  group: number;
  /** Index in PRICE_BANDS of the catalog price. */
  band: number;
}

/** Index of `price` in PRICE_BANDS (the band `priceBand(price)` names). */
export function priceBandIndex(price: number): number {
  for (let i = 0; i < PRICE_BANDS.length; i++) if (price < PRICE_BANDS[i].max) return i;
  return PRICE_BANDS.length - 1;
}

/**
 * Layout of a catalog vehicle's record: 48 bytes per index in one buffer, read through two views —
 * `facets` (int32, FACET_STRIDE per index: codes, flags, year) and `numbers` (float64,
 * NUMBER_STRIDE per index: price and mileage after the int32 fields). What the re-ranker reads
 * of a candidate sits in one record (one or two cache lines instead of one per field array).
 */
export const FACET_STRIDE = 12;
export const NUMBER_STRIDE = 6;
export const N_PRICE = 4;
/** NaN when unknown. */
export const N_MILEAGE = 5;
export const F_MAKE = 0;
export const F_MODEL = 1;
export const F_BODY = 2;
export const F_FUEL = 3;
/** Make + model: the diversity group. */
export const F_GROUP = 4;
export const F_BAND = 5;
/**
 * Bit 0: the catalog has the vehicle's attributes; bit 1: the catalog marks it sold; bits 2 and
 * 3: the live inventory the catalog was last indexed for (`indexInventory`) marks it sold / has
 * a live price for it (in `livePrices`).
 */
export const F_FLAGS = 6;
export const F_YEAR = 7;
export const FLAG_ATTRIBUTES = 1;
export const FLAG_SOLD = 2;
export const FLAG_LIVE_SOLD = 4;
export const FLAG_LIVE_PRICE = 8;

/** A scored list as the re-ranker reads it: catalog indices (−1 for unknown ids) and scores, contiguous. */
export interface IndexedList {
  idx: Int32Array;
  score: Float64Array;
}

/** Where `indicesOf` keeps the indices of a list of vehicle ids. */
const IDS_INDEX = Symbol('showroom.rerankCatalogIds');
type MemoIds = readonly { vehicleId: string }[] & { [IDS_INDEX]?: { catalog: RerankCatalog; idx: Int32Array } };

/** Where `indexList` keeps a list's IndexedList. */
const LIST_INDEX = Symbol('showroom.rerankCatalogIndex');
type MemoList = readonly ScoredVehicle[] & { [LIST_INDEX]?: IndexedList & { catalog: RerankCatalog } };

/** Notes how a vehicle spells the value of a code: the first spelling, or null once two differ. */
function spell(names: (string | null)[], code: number, name: string): void {
  const known = names[code];
  if (known === undefined) names[code] = name;
  else if (known !== null && known !== name) names[code] = null;
}

/** Interns lower-cased strings as small integers. */
class Codes {
  private readonly map = new Map<string, number>();
  /** The code of `value` (lower-cased by the caller), assigned on first sight; −1 for undefined. */
  code(value: string | undefined): number {
    if (value === undefined) return -1;
    let c = this.map.get(value);
    if (c === undefined) {
      c = this.map.size;
      this.map.set(value, c);
    }
    return c;
  }
  /** The code of `value` if known, else −2 (matches nothing, not even "none"). */
  find(value: string | undefined): number {
    if (value === undefined) return -1;
    return this.map.get(value) ?? -2;
  }
}

/**
 * A run's vehicles and neighbour lists indexed densely, built once per run (the API builds it
 * when it loads the run's `neighbors` container): vehicle ids become indices, neighbour lists
 * become index/score arrays, and lower-cased make / model / body style / fuel type become
 * integer codes. The re-ranker then works on arrays instead of string-keyed maps, and keeps
 * its per-request scratch state here (the re-ranker is synchronous, so one request at a time
 * uses it). Immutable apart from the scratch state, the live-inventory marks (`indexInventory`)
 * and the facet codes of vehicles it first meets through the re-ranker's fallback lookup.
 */
export class RerankCatalog {
  /** Index → vehicle id. Neighbours without an entry of their own get an index too. */
  readonly ids: string[] = [];
  readonly vehicles: (RerankVehicle | undefined)[] = [];
  /** Neighbour list of index i: positions nbStart[i] … nbStart[i+1]−1 of nbIndex / nbScore. */
  readonly nbStart: Int32Array;
  readonly nbIndex: Int32Array;
  readonly nbScore: Float64Array;
  /** Facet codes, flags and year of index i at i·FACET_STRIDE + F_* (codes −1 where the vehicle is unknown); same buffer as `numbers`. */
  readonly facets: Int32Array;
  /** Catalog price and mileage of index i at i·NUMBER_STRIDE + N_PRICE / N_MILEAGE; same buffer as `facets`. */
  readonly numbers: Float64Array;
  /** "because you viewed …" reasons of catalog vehicles by index × event type, filled as the re-ranker gives them. */
  readonly reasons: (string | undefined)[] = [];
  private readonly index = new Map<string, number>();
  private readonly codes = { make: new Codes(), model: new Codes(), bodyStyle: new Codes(), fuelType: new Codes(), group: new Codes() };
  /** How the catalog's vehicles spell each make / body style code: their one spelling, or null when they differ. */
  private readonly spelling = { make: [] as (string | null)[], bodyStyle: [] as (string | null)[] };
  /** "you have been looking at …" texts by make / body style code, made on first use. */
  private readonly lookingAtTexts = { make: [] as (string | undefined)[], bodyStyle: [] as (string | undefined)[] };
  /**
   * Facet codes of vehicles met through the re-ranker's fallback (not in the catalog). Catalog
   * vehicles never enter it: a WeakMap with many entries slows V8's garbage collector down
   * (ephemeron marking), which shows as long pauses on the request path.
   */
  private readonly fallbackCodes = new WeakMap<RerankVehicle, FacetCodes>();

  /** Builds the catalog of `entries` (later duplicates of a vehicle id replace earlier ones). */
  static from(entries: Iterable<CatalogEntry>): RerankCatalog {
    return new RerankCatalog([...entries]);
  }

  private constructor(entries: CatalogEntry[]) {
    const own = new Map<string, CatalogEntry>();
    for (const e of entries) own.set(e.vehicleId, e);
    // Indices in order of how often a vehicle is someone's neighbour (then id): the vehicles
    // requests touch most sit together at the start of every array (fewer cache misses per call).
    const inDegree = new Map<string, number>();
    let links = 0;
    for (const e of own.values()) {
      for (const nb of e.neighbors ?? []) inDegree.set(nb.vehicleId, (inDegree.get(nb.vehicleId) ?? 0) + 1);
      links += e.neighbors?.length ?? 0;
    }
    for (const id of own.keys()) if (!inDegree.has(id)) inDegree.set(id, 0);
    const order = [...inDegree].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [id] of order) this.intern(id);
    const n = this.ids.length;
    this.nbStart = new Int32Array(n + 1);
    this.nbIndex = new Int32Array(links);
    this.nbScore = new Float64Array(links);
    const records = new ArrayBuffer(n * FACET_STRIDE * 4);
    this.facets = new Int32Array(records);
    this.numbers = new Float64Array(records);
    this.livePrices = new Float64Array(n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      this.nbStart[i] = at;
      const e = own.get(this.ids[i]);
      this.vehicles.push(e?.vehicle);
      for (const nb of e?.neighbors ?? []) {
        this.nbIndex[at] = this.index.get(nb.vehicleId)!;
        this.nbScore[at] = nb.score;
        at += 1;
      }
      const v = e?.vehicle;
      const f = i * FACET_STRIDE;
      this.facets.fill(-1, f, f + F_YEAR + 1);
      this.facets[f + F_FLAGS] = 0;
      this.numbers[i * NUMBER_STRIDE + N_PRICE] = NaN;
      this.numbers[i * NUMBER_STRIDE + N_MILEAGE] = NaN;
      if (v) {
        const c = this.computeCodes(v);
        spell(this.spelling.make, c.make, v.make);
        spell(this.spelling.bodyStyle, c.bodyStyle, v.bodyStyle);
        this.facets[f + F_MAKE] = c.make;
        this.facets[f + F_MODEL] = c.model;
        this.facets[f + F_BODY] = c.bodyStyle;
        this.facets[f + F_FUEL] = c.fuelType;
        this.facets[f + F_GROUP] = c.group;
        this.facets[f + F_BAND] = c.band;
        this.facets[f + F_FLAGS] = FLAG_ATTRIBUTES | (v.soldAt !== undefined && v.soldAt !== '' ? FLAG_SOLD : 0);
        this.facets[f + F_YEAR] = v.year;
        this.numbers[i * NUMBER_STRIDE + N_PRICE] = v.price;
        if (v.mileage !== undefined) this.numbers[i * NUMBER_STRIDE + N_MILEAGE] = v.mileage;
      }
    }
    this.nbStart[n] = at;
  }

  private intern(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.index.set(id, i);
      this.ids.push(id);
    }
    return i;
  }

  /** Vehicles (with or without attributes) the catalog indexes. */
  get size(): number {
    return this.ids.length;
  }

  /** Index of a vehicle id, −1 when the catalog does not know it. */
  indexOf(vehicleId: string): number {
    return this.index.get(vehicleId) ?? -1;
  }

  /** Whether the catalog has a neighbour list or attributes for `vehicleId`. */
  has(vehicleId: string): boolean {
    const i = this.index.get(vehicleId);
    return i !== undefined && (this.vehicles[i] !== undefined || this.nbStart[i + 1] > this.nbStart[i]);
  }

  /** The neighbour list of `vehicleId` (most similar first), undefined when it has none. */
  neighborsOf(vehicleId: string): ScoredVehicle[] | undefined {
    const i = this.index.get(vehicleId);
    if (i === undefined || this.nbStart[i + 1] === this.nbStart[i]) return undefined;
    const out: ScoredVehicle[] = [];
    for (let k = this.nbStart[i]; k < this.nbStart[i + 1]; k++) out.push({ vehicleId: this.ids[this.nbIndex[k]], score: this.nbScore[k] });
    return out;
  }

  /** Attributes of `vehicleId` in the catalog, if any. */
  vehicle(vehicleId: string): RerankVehicle | undefined {
    const i = this.index.get(vehicleId);
    return i === undefined ? undefined : this.vehicles[i];
  }

  /** Facet codes of a vehicle the catalog does not hold (read catalog vehicles' codes from the arrays), memoised per attribute object. */
  facetCodes(v: RerankVehicle): FacetCodes {
    let c = this.fallbackCodes.get(v);
    if (!c) {
      c = this.computeCodes(v);
      this.fallbackCodes.set(v, c);
    }
    return c;
  }

  private computeCodes(v: RerankVehicle): FacetCodes {
    const make = v.facets?.make ?? v.make.toLowerCase();
    const model = v.facets?.model ?? v.model.toLowerCase();
    return {
      make: this.codes.make.code(make),
      model: this.codes.model.code(model),
      bodyStyle: this.codes.bodyStyle.code(v.facets?.bodyStyle ?? v.bodyStyle.toLowerCase()),
      fuelType: this.codes.fuelType.code(v.facets ? v.facets.fuelType : v.fuelType?.toLowerCase()),
      group: this.codes.group.code(`${make}|${model}`),
      band: priceBandIndex(v.price),
    };
  }

  /**
   * "you have been looking at SUVs" / "you have been looking at Toyota" for a make or body style
   * code of the catalog, when all its vehicles spell the value alike (undefined otherwise: name
   * it from the vehicle). One string per code: reasons need not touch vehicle objects.
   */
  lookingAt(facet: 'make' | 'bodyStyle', code: number): string | undefined {
    const texts = this.lookingAtTexts[facet];
    const known = texts[code];
    if (known !== undefined) return known;
    const name = this.spelling[facet][code];
    if (name === undefined || name === null) return undefined;
    return (texts[code] = facet === 'make' ? `you have been looking at ${name}` : `you have been looking at ${name}s`);
  }

  /** Code of a search filter value (compared lower-cased): −1 when absent, −2 when no vehicle has it. */
  codeOf(facet: 'make' | 'model' | 'bodyStyle' | 'fuelType', value: string | undefined): number {
    return this.codes[facet].find(value?.toLowerCase());
  }

  /**
   * Catalog indices of a list's vehicle ids (−1 for unknown ones), memoised on the list like
   * `indexList` (a customer's recent engagements recur while the profile is unchanged).
   */
  indicesOf(list: readonly { vehicleId: string }[]): Int32Array {
    const memo = (list as MemoIds)[IDS_INDEX];
    if (memo !== undefined && memo.catalog === this && memo.idx.length === list.length) return memo.idx;
    const idx = new Int32Array(list.length);
    for (let i = 0; i < list.length; i++) idx[i] = this.indexOf(list[i].vehicleId);
    if (Object.isExtensible(list)) Object.defineProperty(list, IDS_INDEX, { value: { catalog: this, idx }, configurable: true, writable: true, enumerable: false });
    return idx;
  }

  /**
   * A scored list's catalog indices (−1 for unknown ids) and scores in typed arrays, memoised on
   * the list object itself (cached prediction documents and popularity lists recur) in a
   * non-enumerable symbol property that names this catalog — not in a WeakMap, whose entries
   * slow the garbage collector down. The re-ranker then reads a cached list from two contiguous
   * arrays instead of a hundred scattered objects. (Lists are not modified once scored.)
   */
  indexList(list: readonly ScoredVehicle[]): IndexedList {
    const memo = (list as MemoList)[LIST_INDEX];
    if (memo !== undefined && memo.catalog === this && memo.idx.length === list.length) return memo;
    const idx = new Int32Array(list.length);
    const score = new Float64Array(list.length);
    for (let i = 0; i < list.length; i++) {
      idx[i] = this.indexOf(list[i].vehicleId);
      score[i] = list[i].score;
    }
    const indexed = { catalog: this as RerankCatalog, idx, score };
    if (Object.isExtensible(list)) Object.defineProperty(list, LIST_INDEX, { value: indexed, configurable: true, writable: true, enumerable: false });
    return indexed;
  }

  /** Live prices by index where the record's FLAG_LIVE_PRICE is set (see `indexInventory`). */
  readonly livePrices: Float64Array;
  /** Which inventory the records' live flags describe, and the indices they are set on. */
  private indexed: { of: object; revision: number; slots: number[] } | undefined;

  /**
   * Marks the live state of `inventory` in the records (FLAG_LIVE_SOLD, FLAG_LIVE_PRICE and
   * `livePrices`), once per revision of it: the re-ranker then reads it in the flags word of a
   * candidate's record, which it reads anyway, instead of looking vehicle ids up. Clears only
   * the indices the previous revision marked. Returns false (nothing marked) for an inventory
   * that cannot tell its revision.
   */
  indexInventory(inventory: InventoryView): boolean {
    const revision = inventory.revision;
    if (revision === undefined || !inventory.soldIds || !inventory.pricedIds) return false;
    const known = this.indexed;
    if (known && known.of === inventory && known.revision === revision) return true;
    const f = this.facets;
    for (const i of known?.slots ?? []) f[i * FACET_STRIDE + F_FLAGS] &= ~(FLAG_LIVE_SOLD | FLAG_LIVE_PRICE);
    const slots: number[] = [];
    for (const id of inventory.soldIds()) {
      const i = this.indexOf(id);
      if (i < 0) continue;
      f[i * FACET_STRIDE + F_FLAGS] |= FLAG_LIVE_SOLD;
      slots.push(i);
    }
    for (const [id, p] of inventory.pricedIds()) {
      const i = this.indexOf(id);
      if (i < 0) continue;
      f[i * FACET_STRIDE + F_FLAGS] |= FLAG_LIVE_PRICE;
      this.livePrices[i] = p;
      slots.push(i);
    }
    this.indexed = { of: inventory, revision, slots };
    return true;
  }

  // Per-request scratch state of the re-ranker (see rerank.ts), sized to the catalog plus room
  // for vehicles the catalog does not know.
  /** @internal */ scratch: RerankScratch | undefined;
}

/**
 * State of one re-rank call. Vehicles have slots (catalog index, or an extra slot past the
 * catalog for vehicles it does not know); a slot is a candidate when `mark[2·slot] ===
 * generation`, and then `mark[2·slot+1]` is its candidate index. Everything about candidates
 * lives in small dense arrays by candidate index (insertion order), so a call touches a few
 * kilobytes instead of catalog-sized arrays.
 */
export interface RerankScratch {
  generation: number;
  /** Slots `mark` has room for. */
  capacity: number;
  mark: Int32Array;
  /** Candidates the per-candidate arrays have room for (grown on demand). */
  room: number;
  slot: Int32Array;
  base: Float64Array;
  session: Float64Array;
  bestContribution: Float64Array;
  /** Slot of the engaged vehicle that contributed most (names the reason), −1 when none. */
  bestFrom: Int32Array;
  bestFromType: Int8Array;
  source: Uint8Array;
  viewedDecay: Float64Array;
  /** 1 when the candidate is a recently engaged vehicle (RerankPolicy.recentEngaged). */
  engaged: Uint8Array;
  score: Float64Array;
  /** Candidates left after the hard filters (heap storage). */
  scored: Int32Array;
  /** Interest per make / body style / price band code (grown when a call meets a new code). */
  attrMake: Float64Array;
  attrBody: Float64Array;
  attrBand: Float64Array;
}

/** Allocates scratch state for `capacity` slots and `room` candidates. */
export function allocScratch(capacity: number, room = 512): RerankScratch {
  const s: RerankScratch = {
    generation: 0,
    capacity,
    mark: new Int32Array(2 * capacity),
    room: 0,
    slot: new Int32Array(0),
    base: new Float64Array(0),
    session: new Float64Array(0),
    bestContribution: new Float64Array(0),
    bestFrom: new Int32Array(0),
    bestFromType: new Int8Array(0),
    source: new Uint8Array(0),
    viewedDecay: new Float64Array(0),
    engaged: new Uint8Array(0),
    score: new Float64Array(0),
    scored: new Int32Array(0),
    attrMake: new Float64Array(64),
    attrBody: new Float64Array(16),
    attrBand: new Float64Array(PRICE_BANDS.length),
  };
  growCandidates(s, room);
  return s;
}

/** Room for `room` candidates in `s` (the first ones kept). */
export function growCandidates(s: RerankScratch, room: number): void {
  const f64 = (a: Float64Array) => {
    const g = new Float64Array(room);
    g.set(a.subarray(0, Math.min(a.length, room)));
    return g;
  };
  const i32 = (a: Int32Array) => {
    const g = new Int32Array(room);
    g.set(a.subarray(0, Math.min(a.length, room)));
    return g;
  };
  s.slot = i32(s.slot);
  s.base = f64(s.base);
  s.session = f64(s.session);
  s.bestContribution = f64(s.bestContribution);
  s.bestFrom = i32(s.bestFrom);
  const t = new Int8Array(room);
  t.set(s.bestFromType.subarray(0, Math.min(s.bestFromType.length, room)));
  s.bestFromType = t;
  const src = new Uint8Array(room);
  src.set(s.source.subarray(0, Math.min(s.source.length, room)));
  s.source = src;
  const engaged = new Uint8Array(room);
  engaged.set(s.engaged.subarray(0, Math.min(s.engaged.length, room)));
  s.engaged = engaged;
  s.viewedDecay = f64(s.viewedDecay);
  s.score = f64(s.score);
  s.scored = i32(s.scored);
  s.room = room;
}

/** Room for `capacity` slots in `s` (the marks of the current call kept). */
export function growSlots(s: RerankScratch, capacity: number): void {
  const m = new Int32Array(2 * capacity);
  m.set(s.mark);
  s.mark = m;
  s.capacity = capacity;
}
