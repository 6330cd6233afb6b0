import type { CustomerEventType, SearchFilters } from '../domain/event.js';
import type { PopularityLists, ScoredVehicle } from '../domain/prediction.js';
import { vehicleTitle, type Vehicle } from '../domain/vehicle.js';
import { EVENT_WEIGHTS, priceBand, timeDecay } from '../features/event-weights.js';
import { allocScratch, F_BAND, F_BODY, F_FLAGS, F_FUEL, F_GROUP, F_MAKE, F_MODEL, F_YEAR, FACET_STRIDE, FLAG_ATTRIBUTES, FLAG_LIVE_PRICE, FLAG_LIVE_SOLD, FLAG_SOLD, growCandidates, growSlots, N_MILEAGE, N_PRICE, NUMBER_STRIDE, priceBandIndex, type FacetCodes, type RerankCatalog, type RerankScratch } from './rerank-catalog.js';
import { recentEngagedCap, type RerankPolicy } from './rerank-policy.js';

/** One vehicle the customer engaged with recently. `at` is epoch milliseconds (UTC). */
export interface RecentEngagement {
  vehicleId: string;
  type: CustomerEventType;
  at: number;
  /** `properties.value` of the event; multiplies the event-type weight (default 1). */
  value?: number;
}

/** One recent search. `at` is epoch milliseconds (UTC). */
export interface RecentSearch {
  filters: SearchFilters;
  query?: string;
  at: number;
}

/** What the re-ranker needs to know about the customer's recent behaviour. */
export interface SessionSignals {
  /** Newest first. */
  recent: readonly RecentEngagement[];
  /** Newest first. */
  searches: readonly RecentSearch[];
  hidden: ReadonlySet<string>;
  purchased: ReadonlySet<string>;
}

/** Attributes the re-ranker uses to name, match and diversify a vehicle. */
export type RerankVehicle = Pick<Vehicle, 'make' | 'model' | 'year' | 'bodyStyle' | 'price'> &
  Partial<Pick<Vehicle, 'trim' | 'fuelType' | 'mileage' | 'soldAt'>> & {
    /** Lower-cased facets, precomputed once per neighbour table (`vehicleFacets(v)`); computed and memoised when absent. */
    facets?: VehicleFacets;
  };

/** Lower-cased make / model / body style / fuel type and the diversity group (`make|model`) of a vehicle. */
export interface VehicleFacets {
  make: string;
  model: string;
  bodyStyle: string;
  fuelType?: string;
  group: string;
  /** Price band of the catalog price. */
  priceBand?: string;
}

/** Computes a vehicle's facets (for callers that precompute them once, e.g. per neighbour table). */
export function vehicleFacets(v: Pick<Vehicle, 'make' | 'model' | 'bodyStyle' | 'price'> & Partial<Pick<Vehicle, 'fuelType'>>): VehicleFacets {
  const make = v.make.toLowerCase();
  const model = v.model.toLowerCase();
  return { make, model, bodyStyle: v.bodyStyle.toLowerCase(), fuelType: v.fuelType?.toLowerCase(), group: `${make}|${model}`, priceBand: priceBand(v.price) };
}

/** Live inventory state (from Redis): sold / unavailable vehicles and current prices (USD). */
export interface InventoryView {
  isSold(vehicleId: string): boolean;
  price(vehicleId: string): number | undefined;
  /**
   * Optional change counter: given together with `soldIds` and `pricedIds`, the re-ranker marks
   * the state in the catalog's records once per change (`RerankCatalog.indexInventory`) instead
   * of looking vehicle ids up per candidate (it must change whenever `isSold` or `price` would
   * answer differently).
   */
  readonly revision?: number;
  soldIds?(): Iterable<string>;
  pricedIds?(): Iterable<[string, number]>;
}

export interface RerankInput {
  /** The precomputed list (model scores, higher is better); empty for an unknown customer. */
  base: readonly ScoredVehicle[];
  /** The run's popularity lists (cold start and extra candidates). */
  popularity?: PopularityLists;
  /** Absent when the live profile could not be read (serve the base list without live signals). */
  session?: SessionSignals;
  /** The run's vehicles and nearest-neighbour lists, indexed once per run (`RerankCatalog.from`). */
  catalog: RerankCatalog;
  /** Attributes of a vehicle the catalog does not describe (e.g. listed after the run), if known. */
  vehicle?: (vehicleId: string) => RerankVehicle | undefined;
  inventory: InventoryView;
  policy: RerankPolicy;
  limit: number;
  /** Epoch milliseconds; ages of events are measured from here. */
  now: number;
  /** Build each item's `boosts` (the score's parts; default true). Without, `boosts` is empty: less garbage per request. */
  boosts?: boolean;
}

export type BoostKind = 'session' | 'search' | 'attribute' | 'seen' | 'price-drop';

export interface Boost {
  kind: BoostKind;
  /** Score contribution (negative for penalties). */
  amount: number;
}

export type CandidateSource = 'prediction' | 'neighbor' | 'popular';

export interface RankedItem {
  vehicleId: string;
  score: number;
  /** Base contribution: weighted, normalised precomputed score (or popularity). */
  baseScore: number;
  source: CandidateSource;
  boosts: Boost[];
  /**
   * Rules that changed this item's position besides its score: `diversity-deferred` /
   * `diversity-relaxed` (make + model cap), `recent-deferred` / `recent-relaxed` (cap of recently
   * engaged vehicles, RerankPolicy.recentEngaged).
   */
  filters: string[];
  reasons: string[];
}

/** `engaged`: a recently engaged vehicle under the `exclude` policy (RerankPolicy.recentEngaged). */
export type FilterReason = 'sold' | 'hidden' | 'purchased' | 'engaged';

export interface RerankResult {
  items: RankedItem[];
  /** Candidates considered (before filters). */
  candidates: number;
  /** Candidates removed by hard filters, by reason. */
  filtered: Record<FilterReason, number>;
  /** Candidates pushed out of the top k by the diversity cap. */
  deferred: number;
  /** Recently engaged candidates pushed out of the top k by the policy's cap (RerankPolicy.recentEngaged). */
  engagedDeferred: number;
}

/** Aggregated interest in one recently engaged vehicle. */
interface Interest {
  /** Slot of the vehicle (catalog index, or an extra slot for a vehicle the catalog does not know). */
  slot: number;
  /** Σ event weight · value · decay. */
  w: number;
  /** Event type with the largest |weight| (names the reason). */
  type: CustomerEventType;
  typeWeight: number;
  /** Decay of the newest view (seen penalty), 0 when never viewed. */
  viewedDecay: number;
  /** Position of the first (newest) engagement. */
  order: number;
}

const VERB: Record<CustomerEventType, string> = {
  view: 'viewed',
  favorite: 'saved',
  unfavorite: 'unsaved',
  search: 'searched for',
  lead: 'asked about',
  test_drive: 'test-drove',
  purchase: 'bought',
  hide: 'hid',
};

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 0 });

/** "SUV under $30,000", "Toyota RAV4 2019 or newer": how a search is named to people. */
export function describeSearch(f: SearchFilters, query?: string): string {
  const parts: string[] = [];
  if (f.yearMin !== undefined && f.yearMax === undefined) parts.push(`${f.yearMin}+`);
  if (f.fuelType) parts.push(f.fuelType);
  if (f.make) parts.push(f.make);
  if (f.model) parts.push(f.model);
  if (f.bodyStyle) parts.push(f.bodyStyle);
  if (parts.length === 0 || (parts.length === 1 && f.yearMin !== undefined && f.yearMax === undefined)) parts.push('vehicles');
  if (f.yearMin !== undefined && f.yearMax !== undefined) parts.push(`${f.yearMin}–${f.yearMax}`);
  if (f.yearMax !== undefined && f.yearMin === undefined) parts.push(`${f.yearMax} or older`);
  if (f.priceMax !== undefined && f.priceMin !== undefined) parts.push(`${usd.format(f.priceMin)}–${usd.format(f.priceMax)}`);
  else if (f.priceMax !== undefined) parts.push(`under ${usd.format(f.priceMax)}`);
  else if (f.priceMin !== undefined) parts.push(`over ${usd.format(f.priceMin)}`);
  if (f.mileageMax !== undefined) parts.push(`under ${f.mileageMax.toLocaleString('en-US')} miles`);
  if (f.location) parts.push(`near ${f.location}`);
  const text = parts.join(' ');
  return query ? `${text} ("${query}")` : text;
}

/** Reasons naming recent searches (customers repeat them across requests; formatting prices with Intl is slow). */
const searchReasons = new Map<string, string>();
const SEARCH_NAMES_MAX = 10_000;

/** "matches your search: SUV under $30,000", memoised by the filters and query (bounded: cleared when full). */
function describeSearchCached(f: SearchFilters, query?: string): string {
  const key = query === undefined ? JSON.stringify(f) : `${JSON.stringify(f)}\u0000${query}`;
  let reason = searchReasons.get(key);
  if (reason === undefined) {
    reason = `matches your search: ${describeSearch(f, query)}`;
    if (searchReasons.size >= SEARCH_NAMES_MAX) searchReasons.clear();
    searchReasons.set(key, reason);
  }
  return reason;
}

/** "price dropped to $x" texts by price (formatting with Intl is slow; bounded: cleared when full). */
const priceDrops = new Map<number, string>();

function priceDropText(price: number): string {
  let text = priceDrops.get(price);
  if (text === undefined) {
    text = `price dropped to ${usd.format(price)}`;
    if (priceDrops.size >= SEARCH_NAMES_MAX) priceDrops.clear();
    priceDrops.set(price, text);
  }
  return text;
}

/** Where `searchReason` keeps a search's reason text. */
const SEARCH_REASON = Symbol('showroom.rerankSearchReason');

/** The reason naming a recent search, memoised on the search (a customer's kept profile recurs; searches are not modified). */
function searchReason(s: RecentSearch): string {
  const holder = s as RecentSearch & { [SEARCH_REASON]?: string };
  const known = holder[SEARCH_REASON];
  if (known !== undefined) return known;
  const text = describeSearchCached(s.filters, s.query);
  if (Object.isExtensible(s)) Object.defineProperty(s, SEARCH_REASON, { value: text, configurable: true, writable: true, enumerable: false });
  return text;
}

/** Short reason texts seen before, as one flat string each (bounded: cleared when full). */
const texts = new Map<string, string>();

/** The memoised copy of a reason text: responses serialise the same long-lived strings instead of a new concatenation per item. */
function memoText(text: string): string {
  const known = texts.get(text);
  if (known !== undefined) return known;
  if (texts.size >= SEARCH_NAMES_MAX) texts.clear();
  texts.set(text, text);
  return text;
}

/**
 * A recent search resolved against the catalog once per call. A class with every field set in
 * the constructor: objects whose shape changes later (a property added after creation) were
 * kept alive by V8 through the next young-generation GC, one per request.
 */
class PreparedSearch {
  /** Codes of the lower-cased filter values in the catalog (−1 absent, −2 no vehicle has it). */
  readonly make: number;
  readonly model: number;
  readonly bodyStyle: number;
  readonly fuelType: number;
  readonly priceMin: number;
  readonly priceMax: number;
  readonly hasPrice: boolean;
  readonly yearMin: number;
  readonly yearMax: number;
  readonly hasYear: boolean;
  readonly mileageMax: number | undefined;
  /** Filters the search sets (a vehicle's match is the fraction of them it satisfies). */
  readonly count: number;
  readonly filters: SearchFilters;
  /** The search itself (its reason, "matches your search: SUV under $30,000", is memoised on it). */
  readonly source: RecentSearch;

  constructor(
    s: RecentSearch,
    readonly decay: number,
    catalog: RerankCatalog,
  ) {
    const f = s.filters;
    this.make = catalog.codeOf('make', f.make);
    this.model = catalog.codeOf('model', f.model);
    this.bodyStyle = catalog.codeOf('bodyStyle', f.bodyStyle);
    this.fuelType = catalog.codeOf('fuelType', f.fuelType);
    this.hasPrice = f.priceMin !== undefined || f.priceMax !== undefined;
    this.hasYear = f.yearMin !== undefined || f.yearMax !== undefined;
    this.priceMin = f.priceMin ?? 0;
    this.priceMax = f.priceMax ?? Infinity;
    this.yearMin = f.yearMin ?? 0;
    this.yearMax = f.yearMax ?? 9999;
    this.mileageMax = f.mileageMax;
    this.count =
      (f.make !== undefined ? 1 : 0) + (f.model !== undefined ? 1 : 0) + (f.bodyStyle !== undefined ? 1 : 0) + (f.fuelType !== undefined ? 1 : 0) + (f.mileageMax !== undefined ? 1 : 0) + (this.hasPrice ? 1 : 0) + (this.hasYear ? 1 : 0);
    this.filters = f;
    this.source = s;
  }
}

const SOURCES: readonly CandidateSource[] = ['prediction', 'neighbor', 'popular'];
const SOURCE = { prediction: 0, neighbor: 1, popular: 2 } as const;
const TYPES = Object.keys(EVENT_WEIGHTS) as CustomerEventType[];
const TYPE_CODE = Object.fromEntries(TYPES.map((t, i) => [t, i])) as Record<CustomerEventType, number>;
/** Slots beyond the catalog for vehicles it does not know (engaged, listed after the run, ...). */
const MIN_EXTRA_SLOTS = 256;
/** Shared empty lists of items without boosts or filters (never mutated). */
const NO_BOOSTS = Object.freeze([]) as unknown as Boost[];
const NO_FILTERS = Object.freeze([]) as unknown as string[];
const NO_FACETS: FacetCodes = { make: -1, model: -1, bodyStyle: -1, fuelType: -1, group: -1, band: -1 };

/** A scored candidate's score split into parts (built for the items returned only). */
interface Parts {
  sessionAmount: number;
  search: number;
  searchText: PreparedSearch | undefined;
  attribute: number;
  makeShare: number;
  bodyShare: number;
  priceDrop: number;
  livePrice: number | undefined;
  seen: number;
}

/**
 * Re-ranks a customer's precomputed list with live signals (DESIGN.md §6). Pure: no I/O,
 * no clock (pass `now`), deterministic for the same inputs (ties broken by vehicleId).
 *
 * Candidates = base list ∪ neighbours of recently engaged vehicles ∪ popular.
 * Score = baseWeight·base + sessionWeight·tanh(Σ eventWeight·decay·similarity / scale)
 *       + search match + attribute affinity (make, body style, price band of engaged vehicles)
 *       + price drop − seen penalty.
 * Hard filters: sold (live or catalog), hidden, purchased (and recently engaged under the
 * `exclude` policy). Recently engaged vehicles (the profile's recent list): at most the
 * policy's cap (`recentEngaged`, default 2) in the top `diversityTopK` — the list's places go
 * to vehicles the customer has not seen, however strong a just-viewed vehicle's own session
 * boost is. Diversity: at most `maxPerMakeModel` per make + model in the top `diversityTopK`.
 * Both caps are relaxed only when no other candidate is left.
 *
 * Candidates are dense indices into small scratch arrays kept on the catalog (see
 * RerankScratch); what the scoring reads of a catalog vehicle sits in one interleaved record
 * (RerankCatalog.facets): no per-candidate objects, string-keyed maps or catalog-wide arrays.
 */
export function rerank(input: RerankInput): RerankResult {
  return new Reranker(input).run();
}

/** One re-rank call: the candidates (dense indices, see RerankScratch) and what is known about them. */
class Reranker {
  private readonly cat: RerankCatalog;
  private readonly n: number;
  private readonly sc: RerankScratch;
  private readonly gen: number;
  /** Candidates so far; candidate i has slot `sc.slot[i]`. */
  private count = 0;
  private readonly extraIds: string[] = [];
  private readonly extraIndex = new Map<string, number>();
  private readonly extraVehicles: (RerankVehicle | undefined)[] = [];
  private readonly fallback = new Map<number, RerankVehicle | undefined>();
  /** Σ interest per make / body style / price band code of the engaged vehicles (scratch arrays, zeroed per call). */
  private attrMake: Float64Array;
  private attrBody: Float64Array;
  private readonly attrBand: Float64Array;
  private attrTotal = 0;
  private searches: PreparedSearch[] = [];
  /** Whether the catalog's records carry the live inventory (see InventoryView.revision); else look ids up. */
  private readonly live: boolean;

  constructor(private readonly input: RerankInput) {
    const cat = input.catalog;
    this.cat = cat;
    this.n = cat.size;
    this.live = cat.indexInventory(input.inventory);
    const want = this.n + MIN_EXTRA_SLOTS;
    if (!cat.scratch || cat.scratch.capacity < want) cat.scratch = allocScratch(want);
    const sc = cat.scratch;
    this.sc = sc;
    sc.generation = (sc.generation + 1) & 0x7fffffff;
    if (sc.generation === 0) {
      sc.mark.fill(0);
      sc.generation = 1;
    }
    this.gen = sc.generation;
    sc.attrMake.fill(0);
    sc.attrBody.fill(0);
    sc.attrBand.fill(0);
    this.attrMake = sc.attrMake;
    this.attrBody = sc.attrBody;
    this.attrBand = sc.attrBand;
  }

  /** Slot of a vehicle id: its catalog index, else an extra slot (assigned on first sight). */
  private slotOf(vehicleId: string, known: number): number {
    if (known >= 0) return known;
    let s = this.extraIndex.get(vehicleId);
    if (s === undefined) {
      s = this.n + this.extraIds.length;
      // More unknown vehicles than room: grow the marks (keeps this call's).
      if (s >= this.sc.capacity) growSlots(this.sc, this.sc.capacity * 2);
      this.extraIndex.set(vehicleId, s);
      this.extraIds.push(vehicleId);
      this.extraVehicles.push(this.input.vehicle?.(vehicleId));
    }
    return s;
  }

  private idOf(slot: number): string {
    return slot < this.n ? this.cat.ids[slot] : this.extraIds[slot - this.n];
  }

  /** Whether the catalog holds the attributes of `slot`'s vehicle (then its facets and numbers are in the catalog arrays). */
  private inCatalog(slot: number): boolean {
    return slot < this.n && (this.cat.facets[slot * FACET_STRIDE + F_FLAGS] & FLAG_ATTRIBUTES) !== 0;
  }

  private vehicleOf(slot: number): RerankVehicle | undefined {
    if (slot >= this.n) return this.extraVehicles[slot - this.n];
    const v = this.cat.vehicles[slot];
    if (v !== undefined || this.input.vehicle === undefined) return v;
    if (!this.fallback.has(slot)) this.fallback.set(slot, this.input.vehicle(this.cat.ids[slot]));
    return this.fallback.get(slot);
  }

  /** Facet codes of a slot's vehicle; for catalog vehicles written into one reused object (valid until the next call). */
  private codesOf(slot: number, v: RerankVehicle | undefined): FacetCodes {
    if (v === undefined) return NO_FACETS;
    if (this.inCatalog(slot)) {
      const f = this.cat.facets;
      const o = slot * FACET_STRIDE;
      const t = this.tmpCodes;
      t.make = f[o + F_MAKE];
      t.model = f[o + F_MODEL];
      t.bodyStyle = f[o + F_BODY];
      t.fuelType = f[o + F_FUEL];
      t.group = f[o + F_GROUP];
      t.band = f[o + F_BAND];
      return t;
    }
    return this.cat.facetCodes(v);
  }
  private readonly tmpCodes: FacetCodes = { make: -1, model: -1, bodyStyle: -1, fuelType: -1, group: -1, band: -1 };

  /** The live price of a slot's vehicle, if the inventory has one. */
  private livePrice(slot: number): number | undefined {
    if (this.live && slot < this.n) {
      return (this.cat.facets[slot * FACET_STRIDE + F_FLAGS] & FLAG_LIVE_PRICE) !== 0 ? this.cat.livePrices[slot] : undefined;
    }
    return this.input.inventory.price(this.idOf(slot));
  }

  /** Candidate index of a slot, −1 when it is not a candidate. */
  private candidateOf(slot: number): number {
    const m = this.sc.mark;
    return m[2 * slot] === this.gen ? m[2 * slot + 1] : -1;
  }

  /** Adds a candidate (or raises its base score); returns its candidate index. */
  private add(slot: number, source: number, base: number): number {
    const sc = this.sc;
    const m = sc.mark;
    if (m[2 * slot] === this.gen) {
      const c = m[2 * slot + 1];
      if (base > sc.base[c]) sc.base[c] = base;
      return c;
    }
    const c = this.count++;
    if (c >= sc.room) growCandidates(sc, sc.room * 2);
    m[2 * slot] = this.gen;
    m[2 * slot + 1] = c;
    sc.slot[c] = slot;
    sc.base[c] = base;
    sc.source[c] = source;
    sc.session[c] = 0;
    sc.bestContribution[c] = 0;
    sc.bestFrom[c] = -1;
    sc.bestFromType[c] = -1;
    sc.viewedDecay[c] = 0;
    sc.engaged[c] = 0;
    return c;
  }

  private addList(list: readonly ScoredVehicle[], count: number, source: number, weight: number): void {
    const { idx, score } = this.cat.indexList(list);
    const n = Math.min(count, idx.length);
    // Normalised scores: score / max when the max is positive and finite, else by rank.
    let max = 0;
    for (let i = 0; i < n; i++) if (score[i] > max) max = score[i];
    const byScore = max > 0 && Number.isFinite(max);
    for (let i = 0; i < n; i++) {
      const norm = byScore ? Math.max(0, Math.min(1, score[i] / max)) : n <= 1 ? 1 : 1 - i / n;
      this.add(idx[i] >= 0 ? idx[i] : this.slotOf(list[i].vehicleId, -1), source, weight * norm);
    }
  }

  run(): RerankResult {
    const { input } = this;
    const { policy, session, now } = input;
    const limit = Math.max(0, Math.floor(input.limit));
    const coldStart = input.base.length === 0;

    this.addList(input.base, input.base.length, SOURCE.prediction, policy.baseWeight);
    const popular = input.popularity?.overall ?? [];
    const popCount = Math.min(popular.length, coldStart ? Math.max(policy.popularCandidates, limit * 2) : policy.popularCandidates);
    if (popCount > 0) this.addList(popular, popCount, SOURCE.popular, coldStart ? policy.baseWeight : policy.popularityWeight);

    const interest = session ? this.session(session) : [];
    this.searches = [];
    if (session) {
      const ns = Math.min(session.searches.length, policy.maxSearches);
      for (let q = 0; q < ns; q++) {
        const x = session.searches[q];
        const s = new PreparedSearch(x, timeDecay(now - x.at, policy.searchHalfLifeMs), this.cat);
        if (s.count > 0) this.searches.push(s);
      }
    }
    // Popular vehicles of the body styles the customer searched for.
    const byBody = input.popularity?.byBodyStyle;
    if (byBody) {
      const weight = coldStart ? policy.baseWeight : policy.popularityWeight;
      for (const s of this.searches) {
        const bs = s.filters.bodyStyle;
        if (!bs) continue;
        const list = byBody[bs] ?? byBody[bs.toLowerCase()] ?? Object.entries(byBody).find(([k]) => k.toLowerCase() === bs.toLowerCase())?.[1];
        if (list) this.addList(list, Math.ceil(policy.popularCandidates / 2), SOURCE.popular, 0.5 * weight);
      }
    }
    const sc = this.sc;
    // Seen penalty and the recent-engagement policy: mark the candidates the customer engaged with (viewed).
    for (const it of interest) {
      const c = this.candidateOf(it.slot);
      if (c < 0) continue;
      sc.engaged[c] = 1;
      if (it.viewedDecay > 0) sc.viewedDecay[c] = it.viewedDecay;
    }
    const cap = recentEngagedCap(policy);
    const exclude = policy.recentEngaged === 'exclude';

    const filtered: Record<FilterReason, number> = { sold: 0, hidden: 0, purchased: 0, engaged: 0 };
    const scored = sc.scored;
    let m = 0;
    const hidden = session && session.hidden.size > 0 ? session.hidden : undefined;
    const purchased = session && session.purchased.size > 0 ? session.purchased : undefined;
    const { inventory } = input;
    const facets = this.cat.facets;
    const live = this.live;
    for (let c = 0; c < this.count; c++) {
      const slot = sc.slot[c];
      let soldHere: boolean;
      let v: RerankVehicle | undefined;
      if (this.inCatalog(slot)) {
        soldHere = (facets[slot * FACET_STRIDE + F_FLAGS] & FLAG_SOLD) !== 0;
      } else {
        v = this.vehicleOf(slot);
        soldHere = v?.soldAt !== undefined && v.soldAt !== '';
      }
      if (soldHere || (live && slot < this.n ? (facets[slot * FACET_STRIDE + F_FLAGS] & FLAG_LIVE_SOLD) !== 0 : inventory.isSold(this.idOf(slot)))) {
        filtered.sold += 1;
        continue;
      }
      if (hidden?.has(this.idOf(slot))) {
        filtered.hidden += 1;
        continue;
      }
      if (purchased?.has(this.idOf(slot))) {
        filtered.purchased += 1;
        continue;
      }
      if (exclude && sc.engaged[c] === 1) {
        filtered.engaged += 1;
        continue;
      }
      sc.score[c] = this.parts(c, slot, v, undefined);
      scored[m++] = c;
    }

    // Items leave in score order from a binary heap: only the ones returned (plus the deferred)
    // are ordered, not every candidate. The order is the one a full sort by score, then id, gives.
    const heap = new CandidateHeap(scored, m, this);
    const k = Math.min(policy.diversityTopK, limit);
    const out: RankedItem[] = [];
    // Candidates pushed out of the top k, in score order: c for the diversity cap, −1 − c for the recent-engagement cap.
    const deferred: number[] = [];
    let engagedDeferred = 0;
    let engagedTaken = 0;
    const perGroup = new Map<number, number>();
    while (out.length < k && heap.size > 0) {
      const c = heap.pop();
      if (sc.engaged[c] === 1 && engagedTaken >= cap) {
        deferred.push(-1 - c);
        engagedDeferred += 1;
        continue;
      }
      const slot = sc.slot[c];
      const group = this.inCatalog(slot) ? facets[slot * FACET_STRIDE + F_GROUP] : this.codesOf(slot, this.vehicleOf(slot)).group;
      if (group >= 0) {
        const n = perGroup.get(group) ?? 0;
        if (n >= policy.maxPerMakeModel) {
          deferred.push(c);
          continue;
        }
        perGroup.set(group, n + 1);
      }
      if (sc.engaged[c] === 1) engagedTaken += 1;
      out.push(this.explain(c));
    }
    let d = 0;
    while (out.length < limit && (d < deferred.length || heap.size > 0)) {
      // Merge the deferred items and the rest in score order.
      const x = d < deferred.length ? deferred[d] : 0;
      const a = d < deferred.length ? (x < 0 ? -1 - x : x) : -1;
      const b = heap.size > 0 ? heap.peek() : -1;
      if (b < 0 || (a >= 0 && this.before(a, b))) {
        const inTop = out.length < k;
        out.push(this.explain(a, x < 0 ? (inTop ? 'recent-relaxed' : 'recent-deferred') : inTop ? 'diversity-relaxed' : 'diversity-deferred'));
        d += 1;
      } else {
        out.push(this.explain(heap.pop()));
      }
    }
    return { items: out, candidates: this.count, filtered, deferred: deferred.length - engagedDeferred, engagedDeferred };
  }

  /** Whether candidate a ranks before candidate b: higher score, then smaller vehicle id. */
  before(a: number, b: number): boolean {
    const score = this.sc.score;
    const sa = score[a];
    const sb = score[b];
    if (sa !== sb) return sa > sb;
    return this.idOf(this.sc.slot[a]) < this.idOf(this.sc.slot[b]);
  }

  /** Aggregates decayed, type-weighted interest per engaged vehicle and spreads it over neighbours. */
  private session(session: SessionSignals): Interest[] {
    const { policy, now } = this.input;
    const cat = this.cat;
    const sc = this.sc;
    const recent = session.recent;
    const nRecent = Math.min(recent.length, policy.maxRecentVehicles);
    const recentIdx = cat.indicesOf(recent);
    const { groupOf, count } = vehicleGroups(recent, nRecent);
    // One Interest per distinct vehicle, in order of first (newest) engagement.
    const engaged: Interest[] = new Array<Interest>(count);
    for (let r = 0; r < nRecent; r++) {
      const e = recent[r];
      const typeWeight = EVENT_WEIGHTS[e.type];
      const decay = timeDecay(now - e.at, policy.halfLifeMs);
      const w = typeWeight * (e.value ?? 1) * decay;
      const g = groupOf[r];
      let it = engaged[g];
      if (it === undefined) {
        it = { slot: this.slotOf(e.vehicleId, recentIdx[r]), w: 0, type: e.type, typeWeight: -Infinity, viewedDecay: 0, order: g };
        engaged[g] = it;
      }
      it.w += w;
      if (Math.abs(typeWeight) > it.typeWeight) {
        it.typeWeight = Math.abs(typeWeight);
        it.type = e.type;
      }
      if (e.type === 'view' && decay > it.viewedDecay) it.viewedDecay = decay;
    }
    for (const it of engaged) {
      if (it.w <= 0) continue;
      const slot = it.slot;
      let make: number;
      let body: number;
      let price: number;
      if (this.inCatalog(slot)) {
        // From the catalog record (the vehicle object is not touched).
        const o = slot * FACET_STRIDE;
        make = cat.facets[o + F_MAKE];
        body = cat.facets[o + F_BODY];
        price = cat.numbers[slot * NUMBER_STRIDE + N_PRICE];
      } else {
        const v = this.vehicleOf(slot);
        if (!v) continue;
        const codes = this.codesOf(slot, v);
        make = codes.make;
        body = codes.bodyStyle;
        price = v.price;
      }
      const live = this.livePrice(slot);
      if (make >= this.attrMake.length) this.attrMake = this.sc.attrMake = grown(this.attrMake, make);
      if (body >= this.attrBody.length) this.attrBody = this.sc.attrBody = grown(this.attrBody, body);
      const band = live === undefined ? priceBandIndex(price) : priceBandIndex(live);
      this.attrMake[make] += it.w;
      this.attrBody[body] += it.w;
      this.attrBand[band] += it.w;
      this.attrTotal += it.w;
    }
    // Expand the neighbours of the strongest engagements only (newest first on ties): bounded work.
    engaged.sort((a, b) => Math.abs(b.w) - Math.abs(a.w) || a.order - b.order);
    const expand = Math.min(engaged.length, Math.max(0, policy.maxExpandedVehicles));
    const neighborWeight = policy.neighborWeight;
    // Under `exclude` an engaged vehicle is never served: it is not added as a candidate of its own.
    const addSelf = policy.recentEngaged !== 'exclude';
    for (let e = 0; e < engaged.length; e++) {
      const it = engaged[e];
      const self = it.slot;
      const positive = it.w > 0;
      const type = TYPE_CODE[it.type];
      if (e < expand && self < this.n) {
        const from = cat.nbStart[self];
        const to = from + Math.min(cat.nbStart[self + 1] - from, policy.maxNeighborsPerVehicle);
        let maxSim = 1;
        for (let q = from; q < to; q++) if (cat.nbScore[q] > maxSim) maxSim = cat.nbScore[q];
        for (let q = from; q < to; q++) {
          const nb = cat.nbIndex[q];
          if (nb === self) continue;
          const contribution = it.w * neighborWeight * (cat.nbScore[q] / maxSim);
          const c = positive ? this.add(nb, SOURCE.neighbor, 0) : this.candidateOf(nb);
          if (c < 0) continue;
          sc.session[c] += contribution;
          const best = sc.bestFrom[c];
          if (contribution > sc.bestContribution[c] || (contribution === sc.bestContribution[c] && best >= 0 && this.idOf(self) < this.idOf(best))) {
            sc.bestContribution[c] = contribution;
            sc.bestFrom[c] = self;
            sc.bestFromType[c] = type;
          }
        }
      }
      if (positive && addSelf && e < expand) this.add(self, SOURCE.neighbor, 0);
      const own = this.candidateOf(self);
      if (own >= 0) sc.session[own] += it.w * policy.selfSimilarity;
    }
    return engaged;
  }

  /**
   * Candidate c's score; fills `out` with its parts when given (explanations). `v` is the
   * vehicle when the catalog does not hold its attributes (then read from the catalog arrays).
   */
  private parts(c: number, slot: number, v: RerankVehicle | undefined, out: Parts | undefined): number {
    const { policy } = this.input;
    const sc = this.sc;
    const raw = sc.session[c];
    const sessionAmount = raw !== 0 ? policy.sessionWeight * Math.tanh(raw / policy.sessionScale) : 0;
    let search = 0;
    let searchText: PreparedSearch | undefined;
    let attribute = 0;
    let makeShare = 0;
    let bodyShare = 0;
    let priceDrop = 0;
    let livePrice: number | undefined;
    let make = -1;
    let model = -1;
    let bodyStyle = -1;
    let fuelType = -1;
    let band = -1;
    let year = 0;
    let catalogPrice = 0;
    let mileage = NaN;
    let known = false;
    if (this.inCatalog(slot)) {
      const f = this.cat.facets;
      const o = slot * FACET_STRIDE;
      make = f[o + F_MAKE];
      model = f[o + F_MODEL];
      bodyStyle = f[o + F_BODY];
      fuelType = f[o + F_FUEL];
      band = f[o + F_BAND];
      year = f[o + F_YEAR];
      catalogPrice = this.cat.numbers[slot * NUMBER_STRIDE + N_PRICE];
      mileage = this.cat.numbers[slot * NUMBER_STRIDE + N_MILEAGE];
      known = true;
    } else {
      v ??= this.vehicleOf(slot);
      if (v) {
        const codes = this.cat.facetCodes(v);
        make = codes.make;
        model = codes.model;
        bodyStyle = codes.bodyStyle;
        fuelType = codes.fuelType;
        band = codes.band;
        year = v.year;
        catalogPrice = v.price;
        mileage = v.mileage ?? NaN;
        known = true;
      }
    }
    if (known) {
      const live = this.livePrice(slot);
      const price = live ?? catalogPrice;
      let bestSearch = 0;
      const searches = this.searches;
      for (let q = 0; q < searches.length; q++) {
        const s = searches[q];
        // Fraction of the search's filters the vehicle satisfies.
        let hit = 0;
        if (s.make >= 0 && s.make === make) hit += 1;
        if (s.model >= 0 && s.model === model) hit += 1;
        if (s.bodyStyle >= 0 && s.bodyStyle === bodyStyle) hit += 1;
        if (s.fuelType >= 0 && s.fuelType === fuelType) hit += 1;
        if (s.hasPrice && price >= s.priceMin && price <= s.priceMax) hit += 1;
        if (s.hasYear && year >= s.yearMin && year <= s.yearMax) hit += 1;
        if (s.mileageMax !== undefined && mileage <= s.mileageMax) hit += 1;
        const fraction = hit / s.count;
        const value = (fraction === 1 ? 1 : fraction * 0.5) * s.decay;
        if (value > bestSearch) {
          bestSearch = value;
          searchText = fraction === 1 ? s : undefined;
        }
      }
      if (bestSearch > 0) search = policy.searchWeight * bestSearch;
      const total = this.attrTotal;
      if (total > 0) {
        makeShare = make >= 0 && make < this.attrMake.length ? this.attrMake[make] / total : 0;
        bodyShare = bodyStyle >= 0 && bodyStyle < this.attrBody.length ? this.attrBody[bodyStyle] / total : 0;
        const b = live === undefined ? band : priceBandIndex(price);
        const bandShare = b >= 0 ? this.attrBand[b] / total : 0;
        const mix = policy.attributeMix;
        attribute = policy.attributeWeight * (mix.make * makeShare + mix.bodyStyle * bodyShare + mix.priceBand * bandShare);
      }
      if (live !== undefined && catalogPrice > 0 && live < catalogPrice) {
        priceDrop = policy.priceDropWeight * Math.min(1, ((catalogPrice - live) / catalogPrice) * 10);
        livePrice = live;
      }
    }
    const seen = sc.viewedDecay[c] > 0 ? -policy.seenPenalty * sc.viewedDecay[c] : 0;
    if (out) {
      out.sessionAmount = sessionAmount;
      out.search = search;
      out.searchText = searchText;
      out.attribute = attribute;
      out.makeShare = makeShare;
      out.bodyShare = bodyShare;
      out.priceDrop = priceDrop;
      out.livePrice = livePrice;
      out.seen = seen;
    }
    return sc.base[c] + sessionAmount + search + attribute + priceDrop + seen;
  }

  /** Builds boosts and reasons, only for the items returned. */
  private explain(c: number, filter?: string): RankedItem {
    const sc = this.sc;
    const slot = sc.slot[c];
    const id = this.idOf(slot);
    const p: Parts = { sessionAmount: 0, search: 0, searchText: undefined, attribute: 0, makeShare: 0, bodyShare: 0, priceDrop: 0, livePrice: undefined, seen: 0 };
    const score = this.parts(c, slot, undefined, p);
    const withBoosts = this.input.boosts !== false;
    const boosts: Boost[] = withBoosts ? [] : NO_BOOSTS;
    const reasons: string[] = [];
    if (p.sessionAmount !== 0) {
      if (withBoosts) boosts.push({ kind: 'session', amount: p.sessionAmount });
      const from = sc.bestFrom[c];
      if (p.sessionAmount > 0 && from >= 0 && sc.bestFromType[c] >= 0) {
        const reason = this.becauseOf(from, sc.bestFromType[c]);
        if (reason !== undefined) reasons.push(reason);
      }
    }
    if (p.search > 0) {
      if (withBoosts) boosts.push({ kind: 'search', amount: p.search });
      if (p.searchText) {
        reasons.push(searchReason(p.searchText.source));
      }
    }
    if (p.attribute > 0) {
      if (withBoosts) boosts.push({ kind: 'attribute', amount: p.attribute });
      if (p.bodyShare >= 0.5) reasons.push(this.lookingAt(slot, 'bodyStyle'));
      else if (p.makeShare >= 0.5) reasons.push(this.lookingAt(slot, 'make'));
    }
    if (p.priceDrop > 0 && p.livePrice !== undefined) {
      if (withBoosts) boosts.push({ kind: 'price-drop', amount: p.priceDrop });
      reasons.push(priceDropText(p.livePrice));
    }
    if (p.seen !== 0 && withBoosts) boosts.push({ kind: 'seen', amount: p.seen });
    const source = SOURCES[sc.source[c]];
    if (source === 'prediction') reasons.push('recommended for you');
    else if (source === 'popular') reasons.push('popular right now');
    return { vehicleId: id, score, baseScore: sc.base[c], source, boosts, filters: filter ? [filter] : NO_FILTERS, reasons };
  }

  /** "you have been looking at SUVs" for a slot whose vehicle has attributes: by the catalog's code when it can, else from the vehicle. */
  private lookingAt(slot: number, facet: 'make' | 'bodyStyle'): string {
    if (this.inCatalog(slot)) {
      const text = this.cat.lookingAt(facet, this.cat.facets[slot * FACET_STRIDE + (facet === 'make' ? F_MAKE : F_BODY)]);
      if (text !== undefined) return text;
    }
    const v = this.vehicleOf(slot)!;
    return memoText(facet === 'make' ? `you have been looking at ${v.make}` : `you have been looking at ${v.bodyStyle}s`);
  }

  /** "because you viewed 2021 Toyota RAV4 XLE" for an engaged slot and event type (memoised per catalog vehicle and type), undefined when the vehicle is unknown. */
  private becauseOf(slot: number, type: number): string | undefined {
    const v = this.vehicleOf(slot);
    if (v === undefined) return undefined;
    if (slot >= this.n || this.cat.vehicles[slot] !== v) return `because you ${VERB[TYPES[type]]} ${vehicleTitle(v)}`;
    const at = slot * TYPES.length + type;
    return (this.cat.reasons[at] ??= `because you ${VERB[TYPES[type]]} ${vehicleTitle(v)}`);
  }
}

/** Max-heap of candidates in `Reranker.before` order (best first), built in place in O(n) over `a[0..size)`. */
class CandidateHeap {
  constructor(
    private readonly a: Int32Array,
    public size: number,
    private readonly r: Reranker,
  ) {
    for (let i = (size >> 1) - 1; i >= 0; i--) this.down(i);
  }
  /** The best candidate; call only when size > 0. */
  peek(): number {
    return this.a[0];
  }
  /** Removes and returns the best candidate; call only when size > 0. */
  pop(): number {
    const a = this.a;
    const top = a[0];
    this.size -= 1;
    if (this.size > 0) {
      a[0] = a[this.size];
      this.down(0);
    }
    return top;
  }
  private down(i: number): void {
    const a = this.a;
    const n = this.size;
    const r = this.r;
    const item = a[i];
    for (;;) {
      let best = 2 * i + 1;
      if (best >= n) break;
      const right = best + 1;
      if (right < n && r.before(a[right], a[best])) best = right;
      if (!r.before(a[best], item)) break;
      a[i] = a[best];
      i = best;
    }
    a[i] = item;
  }
}

/** Where `vehicleGroups` keeps its answer on a list of engagements. */
const VEHICLE_GROUPS = Symbol('showroom.rerankVehicleGroups');
interface VehicleGroups {
  /** Engagements grouped: for the first n, the index of their vehicle among the distinct vehicles in order of first sight. */
  n: number;
  groupOf: Int32Array;
  count: number;
}

/** The distinct vehicles of the first `n` engagements, memoised on the list (a customer's list recurs while the profile is unchanged). */
function vehicleGroups(recent: readonly RecentEngagement[], n: number): VehicleGroups {
  const holder = recent as unknown as { [VEHICLE_GROUPS]?: VehicleGroups };
  const known = holder[VEHICLE_GROUPS];
  if (known !== undefined && known.n === n && known.groupOf.length === n) return known;
  const seen = new Map<string, number>();
  const groupOf = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const id = recent[r].vehicleId;
    let g = seen.get(id);
    if (g === undefined) {
      g = seen.size;
      seen.set(id, g);
    }
    groupOf[r] = g;
  }
  const groups = { n, groupOf, count: seen.size };
  if (Object.isExtensible(recent)) Object.defineProperty(recent, VEHICLE_GROUPS, { value: groups, configurable: true, writable: true, enumerable: false });
  return groups;
}

/** A zero-filled copy of `a` with room for index `at` (attribute codes first met during a call). */
function grown(a: Float64Array, at: number): Float64Array {
  const g = new Float64Array(Math.max(at + 1, a.length * 2));
  g.set(a);
  return g;
}
