/**
 * Hit rate@k and nDCG@k of one relevant vehicle per request, for the precomputed list and the
 * re-ranked list, per event type; and their lift (re-ranked / precomputed). Two measures:
 *
 * - **discovery** (the headline): every vehicle the customer engaged with before the request
 *   (any customer event naming a vehicle) is removed from both lists, which are then cut at k,
 *   and only requests whose vehicle the customer had never engaged with before count. It asks
 *   whether a list finds the customer's *next new* vehicle.
 * - **re-engagement**: the lists as they are, every request counts. A list that re-surfaces the
 *   vehicles just viewed scores well here, since the next favourite is usually one of them.
 *
 * Besides, the served (re-ranked) list's already-engaged vehicles in its top k, before removal.
 */

export interface ListScore {
  /** Share of requests whose vehicle is in the top k. */
  hitRate: number;
  /** Mean of 1/log2(rank + 2) for a hit at 0-based rank, 0 for a miss. */
  ndcg: number;
}

export type FreshnessMeasure = 'discovery' | 're-engagement';

export interface FreshnessRow {
  measure: FreshnessMeasure;
  /** An event type, `engaged` (favorite + lead + test_drive + purchase), `all`, or `<type>, warm` (customers with a precomputed list only). */
  type: string;
  requests: number;
  /** Requests of customers without a precomputed list (cold start). */
  coldStart: number;
  precomputed: ListScore;
  reranked: ListScore;
  /**
   * The re-ranked list as served (top k, already-engaged vehicles NOT removed): what the
   * customer sees. Equals `reranked` in re-engagement rows; below it in discovery rows when
   * already-engaged vehicles take places of the top k.
   */
  asServed: ListScore;
  /** reranked / precomputed; null when the precomputed score is 0. */
  lift: { hitRate: number | null; ndcg: number | null };
  /**
   * Mean number of already-engaged vehicles in the top k of the re-ranked list as served
   * (before removal), over the row's requests; null when the requests did not say what the
   * customer had engaged with.
   */
  servedEngaged: number | null;
}

/** Gain of the vehicle in a list cut at k: 1/log2(rank+2) when present, else 0. */
export function gainAt(list: readonly string[], vehicleId: string, k: number): number {
  const n = Math.min(k, list.length);
  for (let i = 0; i < n; i++) if (list[i] === vehicleId) return 1 / Math.log2(i + 2);
  return 0;
}

/** The first k vehicles of `list` that are not in `engaged`. */
export function withoutEngaged(list: readonly string[], engaged: ReadonlySet<string>, k: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length && out.length < k; i++) if (!engaged.has(list[i])) out.push(list[i]);
  return out;
}

/** Vehicles of the top k of `list` that are in `engaged`. */
export function engagedInTop(list: readonly string[], engaged: ReadonlySet<string>, k: number): number {
  const n = Math.min(k, list.length);
  let c = 0;
  for (let i = 0; i < n; i++) if (engaged.has(list[i])) c += 1;
  return c;
}

interface Acc {
  requests: number;
  coldStart: number;
  hitBase: number;
  hitRerank: number;
  ndcgBase: number;
  ndcgRerank: number;
  hitServed: number;
  ndcgServed: number;
  /** Requests that said what the customer had engaged with, and Σ already-engaged vehicles in the served top k. */
  known: number;
  servedEngaged: number;
}

const emptyAcc = (): Acc => ({ requests: 0, coldStart: 0, hitBase: 0, hitRerank: 0, ndcgBase: 0, ndcgRerank: 0, hitServed: 0, ndcgServed: 0, known: 0, servedEngaged: 0 });

/** Engaged event types: the main measure. Views are the second measure. */
export const ENGAGED_TYPES = ['favorite', 'lead', 'test_drive', 'purchase'] as const;

const WARM = 'warm:';

/** Adds one observation to the row of `type` (and its warm twin). */
function bump(map: Map<string, Acc>, type: string, gb: number, gr: number, gs: number, coldStart: boolean, served: number | undefined): void {
  for (const t of coldStart ? [type] : [type, `${WARM}${type}`]) {
    let a = map.get(t);
    if (!a) map.set(t, (a = emptyAcc()));
    a.requests += 1;
    if (coldStart) a.coldStart += 1;
    if (gb > 0) a.hitBase += 1;
    if (gr > 0) a.hitRerank += 1;
    a.ndcgBase += gb;
    a.ndcgRerank += gr;
    if (gs > 0) a.hitServed += 1;
    a.ndcgServed += gs;
    if (served !== undefined) {
      a.known += 1;
      a.servedEngaged += served;
    }
  }
}

function merge(map: Map<string, Acc>, types: readonly string[]): Acc {
  const m = emptyAcc();
  for (const t of types) {
    const a = map.get(t);
    if (!a) continue;
    m.requests += a.requests;
    m.coldStart += a.coldStart;
    m.hitBase += a.hitBase;
    m.hitRerank += a.hitRerank;
    m.ndcgBase += a.ndcgBase;
    m.ndcgRerank += a.ndcgRerank;
    m.hitServed += a.hitServed;
    m.ndcgServed += a.ndcgServed;
    m.known += a.known;
    m.servedEngaged += a.servedEngaged;
  }
  return m;
}

function row(measure: FreshnessMeasure, type: string, a: Acc): FreshnessRow {
  const n = Math.max(1, a.requests);
  const precomputed = { hitRate: a.hitBase / n, ndcg: a.ndcgBase / n };
  const reranked = { hitRate: a.hitRerank / n, ndcg: a.ndcgRerank / n };
  return {
    measure,
    type,
    requests: a.requests,
    coldStart: a.coldStart,
    precomputed,
    reranked,
    asServed: { hitRate: a.hitServed / n, ndcg: a.ndcgServed / n },
    lift: { hitRate: precomputed.hitRate > 0 ? reranked.hitRate / precomputed.hitRate : null, ndcg: precomputed.ndcg > 0 ? reranked.ndcg / precomputed.ndcg : null },
    servedEngaged: a.known > 0 ? a.servedEngaged / a.known : null,
  };
}

/** Rows of one measure: each engaged type seen, `engaged`, `engaged, warm`, `view`, `view, warm`, then `all`. */
function rowsOf(measure: FreshnessMeasure, map: Map<string, Acc>): FreshnessRow[] {
  const out: FreshnessRow[] = [];
  for (const t of ENGAGED_TYPES) if (map.has(t)) out.push(row(measure, t, map.get(t)!));
  out.push(row(measure, 'engaged', merge(map, ENGAGED_TYPES)));
  out.push(row(measure, 'engaged, warm', merge(map, ENGAGED_TYPES.map((t) => `${WARM}${t}`))));
  if (map.has('view')) out.push(row(measure, 'view', map.get('view')!));
  if (map.has(`${WARM}view`)) out.push(row(measure, 'view, warm', map.get(`${WARM}view`)!));
  out.push(row(measure, 'all', merge(map, [...map.keys()].filter((t) => !t.startsWith(WARM)))));
  return out;
}

/** Accumulates one observation per request and produces the rows of the table. */
export class FreshnessAccumulator {
  private readonly reengagement = new Map<string, Acc>();
  private readonly discovery = new Map<string, Acc>();

  constructor(private readonly k: number) {}

  /**
   * One request: the customer's next `type` event names `vehicleId`; `precomputed` and
   * `reranked` are the lists at request time (longer than k is fine: they are cut at k, after
   * the removal for discovery). `engagedBefore`: every vehicle the customer engaged with before
   * the request; without it only the re-engagement rows count the request.
   */
  add(type: string, vehicleId: string, precomputed: readonly string[], reranked: readonly string[], coldStart: boolean, engagedBefore?: ReadonlySet<string>): void {
    const k = this.k;
    const served = engagedBefore ? engagedInTop(reranked, engagedBefore, k) : undefined;
    const gs = gainAt(reranked, vehicleId, k);
    bump(this.reengagement, type, gainAt(precomputed, vehicleId, k), gs, gs, coldStart, served);
    if (!engagedBefore || engagedBefore.has(vehicleId)) return;
    const pre = withoutEngaged(precomputed, engagedBefore, k);
    const re = withoutEngaged(reranked, engagedBefore, k);
    bump(this.discovery, type, gainAt(pre, vehicleId, k), gainAt(re, vehicleId, k), gs, coldStart, served);
  }

  /** Re-engagement rows (every request, the lists as they are). */
  rows(): FreshnessRow[] {
    return rowsOf('re-engagement', this.reengagement);
  }

  /** Discovery rows (already-engaged vehicles removed; requests for a vehicle never engaged with before). */
  discoveryRows(): FreshnessRow[] {
    return rowsOf('discovery', this.discovery);
  }
}
