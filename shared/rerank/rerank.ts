import type { CustomerEventType, SearchFilters } from '../domain/event.js';
import type { PopularityLists, ScoredVehicle } from '../domain/prediction.js';
import { vehicleTitle, type Vehicle } from '../domain/vehicle.js';
import { EVENT_WEIGHTS, priceBand, timeDecay } from '../features/event-weights.js';
import type { RerankPolicy } from './rerank-policy.js';

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
}

export interface RerankInput {
  /** The precomputed list (model scores, higher is better); empty for an unknown customer. */
  base: readonly ScoredVehicle[];
  /** The run's popularity lists (cold start and extra candidates). */
  popularity?: PopularityLists;
  /** Absent when the live profile could not be read (serve the base list without live signals). */
  session?: SessionSignals;
  /** Nearest neighbours of a vehicle (similarity, higher is closer). */
  neighbors: (vehicleId: string) => readonly ScoredVehicle[] | undefined;
  vehicle: (vehicleId: string) => RerankVehicle | undefined;
  inventory: InventoryView;
  policy: RerankPolicy;
  limit: number;
  /** Epoch milliseconds; ages of events are measured from here. */
  now: number;
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
  /** Rules that changed this item's position besides its score (`diversity-deferred`). */
  filters: string[];
  reasons: string[];
}

export type FilterReason = 'sold' | 'hidden' | 'purchased';

export interface RerankResult {
  items: RankedItem[];
  /** Candidates considered (before filters). */
  candidates: number;
  /** Candidates removed by hard filters, by reason. */
  filtered: Record<FilterReason, number>;
  /** Candidates pushed out of the top k by the diversity cap. */
  deferred: number;
}

/** One candidate and, once scored, its score split into parts (one object per candidate: few allocations). */
interface Candidate {
  vehicleId: string;
  source: CandidateSource;
  base: number;
  /** Raw session affinity (Σ weight · decay · similarity). */
  session: number;
  /** Recent vehicle contributing most to the session affinity, with its event type. */
  bestFrom: string | undefined;
  bestFromType: CustomerEventType | undefined;
  bestContribution: number;
  v: RerankVehicle | undefined;
  score: number;
  sessionAmount: number;
  search: number;
  searchText: PreparedSearch | undefined;
  attribute: number;
  makeShare: number;
  bodyShare: number;
  priceDrop: number;
  livePrice: number | undefined;
  seen: number;
  /** Decay of the customer's newest view of this vehicle (0 when not viewed recently). */
  viewedDecay: number;
  group: string | undefined;
}

const NO_NEIGHBORS: readonly ScoredVehicle[] = [];

/** Aggregated interest in one recently engaged vehicle. */
interface Interest {
  vehicleId: string;
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

interface PreparedSearch {
  make?: string;
  model?: string;
  bodyStyle?: string;
  fuelType?: string;
  priceMin: number;
  priceMax: number;
  hasPrice: boolean;
  yearMin: number;
  yearMax: number;
  hasYear: boolean;
  mileageMax?: number;
  count: number;
  decay: number;
  filters: SearchFilters;
  query?: string;
  text?: string;
}

function prepareSearch(s: RecentSearch, decay: number): PreparedSearch {
  const f = s.filters;
  const hasPrice = f.priceMin !== undefined || f.priceMax !== undefined;
  const hasYear = f.yearMin !== undefined || f.yearMax !== undefined;
  const p: PreparedSearch = {
    make: f.make?.toLowerCase(),
    model: f.model?.toLowerCase(),
    bodyStyle: f.bodyStyle?.toLowerCase(),
    fuelType: f.fuelType?.toLowerCase(),
    priceMin: f.priceMin ?? 0,
    priceMax: f.priceMax ?? Infinity,
    hasPrice,
    yearMin: f.yearMin ?? 0,
    yearMax: f.yearMax ?? 9999,
    hasYear,
    mileageMax: f.mileageMax,
    count: 0,
    decay,
    filters: f,
    query: s.query,
  };
  p.count = [p.make, p.model, p.bodyStyle, p.fuelType, p.mileageMax].filter((x) => x !== undefined).length + (hasPrice ? 1 : 0) + (hasYear ? 1 : 0);
  return p;
}

/** Fraction of the search's filters the vehicle satisfies (0..1). */
function searchMatch(s: PreparedSearch, v: RerankVehicle, f: VehicleFacets, price: number): number {
  let hit = 0;
  if (s.make !== undefined && s.make === f.make) hit += 1;
  if (s.model !== undefined && s.model === f.model) hit += 1;
  if (s.bodyStyle !== undefined && s.bodyStyle === f.bodyStyle) hit += 1;
  if (s.fuelType !== undefined && s.fuelType === f.fuelType) hit += 1;
  if (s.hasPrice && price >= s.priceMin && price <= s.priceMax) hit += 1;
  if (s.hasYear && v.year >= s.yearMin && v.year <= s.yearMax) hit += 1;
  if (s.mileageMax !== undefined && v.mileage !== undefined && v.mileage <= s.mileageMax) hit += 1;
  return hit / s.count;
}

function normaliser(list: readonly ScoredVehicle[]): (score: number, index: number) => number {
  let max = 0;
  for (const s of list) if (s.score > max) max = s.score;
  const n = list.length;
  if (max > 0 && Number.isFinite(max)) return (score) => Math.max(0, Math.min(1, score / max));
  return (_score, index) => (n <= 1 ? 1 : 1 - index / n);
}

/**
 * Re-ranks a customer's precomputed list with live signals (DESIGN.md §6). Pure: no I/O,
 * no clock (pass `now`), deterministic for the same inputs (ties broken by vehicleId).
 *
 * Candidates = base list ∪ neighbours of recently engaged vehicles ∪ popular.
 * Score = baseWeight·base + sessionWeight·tanh(Σ eventWeight·decay·similarity / scale)
 *       + search match + attribute affinity (make, body style, price band of engaged vehicles)
 *       + price drop − seen penalty.
 * Hard filters: sold (live or catalog), hidden, purchased. Diversity: at most
 * `maxPerMakeModel` per make + model in the top `diversityTopK`; the cap is relaxed only when
 * no other candidate is left.
 */
export function rerank(input: RerankInput): RerankResult {
  const { policy, session, now } = input;
  const limit = Math.max(0, Math.floor(input.limit));
  const candidates = new Map<string, Candidate>();
  const add = (vehicleId: string, source: CandidateSource, base: number): Candidate => {
    let c = candidates.get(vehicleId);
    if (!c) {
      c = {
        vehicleId, source, base, session: 0, bestFrom: undefined, bestFromType: undefined, bestContribution: 0,
        v: undefined, score: 0, sessionAmount: 0, search: 0, searchText: undefined, attribute: 0, makeShare: 0, bodyShare: 0,
        priceDrop: 0, livePrice: undefined, seen: 0, viewedDecay: 0, group: undefined,
      };
      candidates.set(vehicleId, c);
    } else if (base > c.base) {
      c.base = base;
    }
    return c;
  };

  const baseNorm = normaliser(input.base);
  input.base.forEach((s, i) => add(s.vehicleId, 'prediction', policy.baseWeight * baseNorm(s.score, i)));

  const popular = input.popularity?.overall ?? [];
  const popCount = Math.min(popular.length, input.base.length === 0 ? Math.max(policy.popularCandidates, limit * 2) : policy.popularCandidates);
  if (popCount > 0) {
    const popSlice = popular.slice(0, popCount);
    const popNorm = normaliser(popSlice);
    const weight = input.base.length === 0 ? policy.baseWeight : policy.popularityWeight;
    popSlice.forEach((s, i) => add(s.vehicleId, 'popular', weight * popNorm(s.score, i)));
  }

  // Session: aggregate decayed, type-weighted interest per recently engaged vehicle.
  const interest = new Map<string, Interest>();
  const attrWeights = { make: new Map<string, number>(), bodyStyle: new Map<string, number>(), priceBand: new Map<string, number>() };
  let attrTotal = 0;
  if (session) {
    const recent = session.recent;
    const nRecent = Math.min(recent.length, policy.maxRecentVehicles);
    for (let r = 0; r < nRecent; r++) {
      const e = recent[r];
      const typeWeight = EVENT_WEIGHTS[e.type];
      const decay = timeDecay(now - e.at, policy.halfLifeMs);
      const w = typeWeight * (e.value ?? 1) * decay;
      let it = interest.get(e.vehicleId);
      if (!it) {
        it = { vehicleId: e.vehicleId, w: 0, type: e.type, typeWeight: -Infinity, viewedDecay: 0, order: interest.size };
        interest.set(e.vehicleId, it);
      }
      it.w += w;
      if (Math.abs(typeWeight) > it.typeWeight) {
        it.typeWeight = Math.abs(typeWeight);
        it.type = e.type;
      }
      if (e.type === 'view' && decay > it.viewedDecay) it.viewedDecay = decay;
    }
    const engaged = [...interest.values()];
    for (const it of engaged) {
      if (it.w <= 0) continue;
      const v = input.vehicle(it.vehicleId);
      if (!v) continue;
      const price = input.inventory.price(it.vehicleId) ?? v.price;
      const f = facetsOf(v);
      bump(attrWeights.make, f.make, it.w);
      bump(attrWeights.bodyStyle, f.bodyStyle, it.w);
      bump(attrWeights.priceBand, priceBand(price), it.w);
      attrTotal += it.w;
    }
    // Expand the neighbours of the strongest engagements only (newest first on ties): bounded work.
    engaged.sort((a, b) => Math.abs(b.w) - Math.abs(a.w) || a.order - b.order);
    const expand = Math.min(engaged.length, Math.max(0, policy.maxExpandedVehicles));
    for (let e = 0; e < engaged.length; e++) {
      const it = engaged[e];
      const vehicleId = it.vehicleId;
      const positive = it.w > 0;
      if (e < expand) {
        const neighbors = input.neighbors(vehicleId) ?? NO_NEIGHBORS;
        const n = Math.min(neighbors.length, policy.maxNeighborsPerVehicle);
        let maxSim = 1;
        for (let i = 0; i < n; i++) if (neighbors[i].score > maxSim) maxSim = neighbors[i].score;
        for (let i = 0; i < n; i++) {
          const nb = neighbors[i];
          if (nb.vehicleId === vehicleId) continue;
          const contribution = it.w * (nb.score / maxSim);
          const c = positive ? add(nb.vehicleId, 'neighbor', 0) : candidates.get(nb.vehicleId);
          if (!c) continue;
          c.session += contribution;
          if (contribution > c.bestContribution || (contribution === c.bestContribution && c.bestFrom !== undefined && vehicleId < c.bestFrom)) {
            c.bestContribution = contribution;
            c.bestFrom = vehicleId;
            c.bestFromType = it.type;
          }
        }
      }
      const self = positive && e < expand ? add(vehicleId, 'neighbor', 0) : candidates.get(vehicleId);
      if (self) self.session += it.w * policy.selfSimilarity;
    }
  }

  const searches = session
    ? session.searches
        .slice(0, policy.maxSearches)
        .map((x) => prepareSearch(x, timeDecay(now - x.at, policy.searchHalfLifeMs)))
        .filter((x) => x.count > 0)
    : [];
  // Popular vehicles of the body styles the customer searched for.
  const byBody = input.popularity?.byBodyStyle;
  if (byBody) {
    const weight = input.base.length === 0 ? policy.baseWeight : policy.popularityWeight;
    for (const s of searches) {
      const bs = s.filters.bodyStyle;
      if (!bs) continue;
      const list = byBody[bs] ?? byBody[bs.toLowerCase()] ?? Object.entries(byBody).find(([k]) => k.toLowerCase() === bs.toLowerCase())?.[1];
      if (!list) continue;
      const slice = list.slice(0, Math.ceil(policy.popularCandidates / 2));
      const norm = normaliser(slice);
      slice.forEach((p, i) => add(p.vehicleId, 'popular', 0.5 * weight * norm(p.score, i)));
    }
  }
  // Seen penalty: mark the candidates the customer viewed (a pass over the engagements, not a lookup per candidate).
  for (const it of interest.values()) {
    if (it.viewedDecay <= 0) continue;
    const c = candidates.get(it.vehicleId);
    if (c) c.viewedDecay = it.viewedDecay;
  }
  const filtered: Record<FilterReason, number> = { sold: 0, hidden: 0, purchased: 0 };
  const scored: Candidate[] = [];
  const mix = policy.attributeMix;

  for (const c of candidates.values()) {
    const v = input.vehicle(c.vehicleId);
    if (input.inventory.isSold(c.vehicleId) || (v?.soldAt !== undefined && v.soldAt !== '')) {
      filtered.sold += 1;
      continue;
    }
    if (session !== undefined && session.hidden.has(c.vehicleId)) {
      filtered.hidden += 1;
      continue;
    }
    if (session !== undefined && session.purchased.has(c.vehicleId)) {
      filtered.purchased += 1;
      continue;
    }
    const sc = c;
    sc.v = v;
    if (c.session !== 0) sc.sessionAmount = policy.sessionWeight * Math.tanh(c.session / policy.sessionScale);
    if (v) {
      const live = input.inventory.price(c.vehicleId);
      const price = live ?? v.price;
      const facets = facetsOf(v);
      sc.group = facets.group;
      let bestSearch = 0;
      for (const s of searches) {
        const fraction = searchMatch(s, v, facets, price);
        const value = (fraction === 1 ? 1 : fraction * 0.5) * s.decay;
        if (value > bestSearch) {
          bestSearch = value;
          sc.searchText = fraction === 1 ? s : undefined;
        }
      }
      if (bestSearch > 0) sc.search = policy.searchWeight * bestSearch;
      if (attrTotal > 0) {
        sc.makeShare = (attrWeights.make.get(facets.make) ?? 0) / attrTotal;
        sc.bodyShare = (attrWeights.bodyStyle.get(facets.bodyStyle) ?? 0) / attrTotal;
        const band = live === undefined && facets.priceBand !== undefined ? facets.priceBand : priceBand(price);
        const bandShare = (attrWeights.priceBand.get(band) ?? 0) / attrTotal;
        sc.attribute = policy.attributeWeight * (mix.make * sc.makeShare + mix.bodyStyle * sc.bodyShare + mix.priceBand * bandShare);
      }
      if (live !== undefined && v.price > 0 && live < v.price) {
        sc.priceDrop = policy.priceDropWeight * Math.min(1, ((v.price - live) / v.price) * 10);
        sc.livePrice = live;
      }
    }
    if (c.viewedDecay > 0) sc.seen = -policy.seenPenalty * c.viewedDecay;
    sc.score = c.base + sc.sessionAmount + sc.search + sc.attribute + sc.priceDrop + sc.seen;
    scored.push(sc);
  }

  // Items leave in score order from a binary heap: only the ones returned (plus the deferred)
  // are ordered, not every candidate. The order is the one a full sort by byScore gives.
  const heap = new CandidateHeap(scored);

  // Diversity: greedy fill of the top k under the per-group cap; deferred items follow.
  const k = Math.min(policy.diversityTopK, limit);
  const out: RankedItem[] = [];
  const deferred: Candidate[] = [];
  const perGroup = new Map<string, number>();
  while (out.length < k && heap.size > 0) {
    const item = heap.pop();
    if (item.group !== undefined) {
      const n = perGroup.get(item.group) ?? 0;
      if (n >= policy.maxPerMakeModel) {
        deferred.push(item);
        continue;
      }
      perGroup.set(item.group, n + 1);
    }
    out.push(explainItem(item, input));
  }
  let d = 0;
  while (out.length < limit && (d < deferred.length || heap.size > 0)) {
    // Merge the deferred items and the rest in score order.
    const a = deferred[d];
    const b = heap.peek();
    if (b === undefined || (a !== undefined && byScore(a, b) < 0)) {
      out.push(explainItem(a, input, out.length < k ? 'diversity-relaxed' : 'diversity-deferred'));
      d += 1;
    } else {
      out.push(explainItem(heap.pop(), input));
    }
  }
  return { items: out, candidates: candidates.size, filtered, deferred: deferred.length };
}

/** Max-heap of candidates in `byScore` order (best first), built in place in O(n). */
class CandidateHeap {
  private readonly a: Candidate[];
  size: number;
  constructor(items: Candidate[]) {
    this.a = items;
    this.size = items.length;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }
  peek(): Candidate | undefined {
    return this.size > 0 ? this.a[0] : undefined;
  }
  /** Removes and returns the best item; call only when size > 0. */
  pop(): Candidate {
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
    const item = a[i];
    for (;;) {
      let best = 2 * i + 1;
      if (best >= n) break;
      const r = best + 1;
      if (r < n && byScore(a[r], a[best]) < 0) best = r;
      if (byScore(a[best], item) >= 0) break;
      a[i] = a[best];
      i = best;
    }
    a[i] = item;
  }
}

function byScore(a: Candidate, b: Candidate): number {
  if (b.score !== a.score) return b.score - a.score;
  const x = a.vehicleId;
  const y = b.vehicleId;
  return x < y ? -1 : x > y ? 1 : 0;
}

const facetCache = new WeakMap<RerankVehicle, VehicleFacets>();

/** Lower-cased facets of a vehicle: precomputed on it, or memoised per attribute object. */
function facetsOf(v: RerankVehicle): VehicleFacets {
  if (v.facets !== undefined) return v.facets;
  let f = facetCache.get(v);
  if (!f) {
    f = vehicleFacets(v);
    facetCache.set(v, f);
  }
  return f;
}

/** Builds boosts and reasons, only for the items returned. */
function explainItem(sc: Candidate, input: RerankInput, filter?: string): RankedItem {
  const c = sc;
  const v = sc.v;
  const boosts: Boost[] = [];
  const reasons: string[] = [];
  if (sc.sessionAmount !== 0) {
    boosts.push({ kind: 'session', amount: sc.sessionAmount });
    if (sc.sessionAmount > 0 && c.bestFrom !== undefined && c.bestFromType !== undefined) {
      const from = input.vehicle(c.bestFrom);
      if (from) reasons.push(`because you ${VERB[c.bestFromType]} ${vehicleTitle(from)}`);
    }
  }
  if (sc.search > 0) {
    boosts.push({ kind: 'search', amount: sc.search });
    if (sc.searchText) {
      sc.searchText.text ??= describeSearch(sc.searchText.filters, sc.searchText.query);
      reasons.push(`matches your search: ${sc.searchText.text}`);
    }
  }
  if (sc.attribute > 0 && v) {
    boosts.push({ kind: 'attribute', amount: sc.attribute });
    if (sc.bodyShare >= 0.5) reasons.push(`you have been looking at ${v.bodyStyle}s`);
    else if (sc.makeShare >= 0.5) reasons.push(`you have been looking at ${v.make}`);
  }
  if (sc.priceDrop > 0 && sc.livePrice !== undefined) {
    boosts.push({ kind: 'price-drop', amount: sc.priceDrop });
    reasons.push(`price dropped to ${usd.format(sc.livePrice)}`);
  }
  if (sc.seen !== 0) boosts.push({ kind: 'seen', amount: sc.seen });
  if (c.source === 'prediction') reasons.push('recommended for you');
  else if (c.source === 'popular') reasons.push('popular right now');
  return { vehicleId: c.vehicleId, score: sc.score, baseScore: c.base, source: c.source, boosts, filters: filter ? [filter] : [], reasons };
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}
