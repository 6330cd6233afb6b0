/**
 * Hit rate@k and nDCG@k of one relevant vehicle per request, for the precomputed list and the
 * re-ranked list, per event type; and their lift (re-ranked / precomputed).
 */

export interface ListScore {
  /** Share of requests whose vehicle is in the top k. */
  hitRate: number;
  /** Mean of 1/log2(rank + 2) for a hit at 0-based rank, 0 for a miss. */
  ndcg: number;
}

export interface FreshnessRow {
  /** An event type, `engaged` (favorite + lead + test_drive + purchase), `all`, or `<type>, warm` (customers with a precomputed list only). */
  type: string;
  requests: number;
  /** Requests of customers without a precomputed list (cold start). */
  coldStart: number;
  precomputed: ListScore;
  reranked: ListScore;
  /** reranked / precomputed; null when the precomputed score is 0. */
  lift: { hitRate: number | null; ndcg: number | null };
}

/** Gain of the vehicle in a list cut at k: 1/log2(rank+2) when present, else 0. */
export function gainAt(list: readonly string[], vehicleId: string, k: number): number {
  const n = Math.min(k, list.length);
  for (let i = 0; i < n; i++) if (list[i] === vehicleId) return 1 / Math.log2(i + 2);
  return 0;
}

interface Acc {
  requests: number;
  coldStart: number;
  hitBase: number;
  hitRerank: number;
  ndcgBase: number;
  ndcgRerank: number;
}

/** Engaged event types: the main measure. Views are the second measure. */
export const ENGAGED_TYPES = ['favorite', 'lead', 'test_drive', 'purchase'] as const;

const WARM = 'warm:';

/** Accumulates one observation per request and produces the rows of the table. */
export class FreshnessAccumulator {
  private readonly byType = new Map<string, Acc>();

  constructor(private readonly k: number) {}

  add(type: string, vehicleId: string, precomputed: readonly string[], reranked: readonly string[], coldStart: boolean): void {
    const gb = gainAt(precomputed, vehicleId, this.k);
    const gr = gainAt(reranked, vehicleId, this.k);
    let a = this.byType.get(type);
    if (!a) this.byType.set(type, (a = { requests: 0, coldStart: 0, hitBase: 0, hitRerank: 0, ndcgBase: 0, ndcgRerank: 0 }));
    a.requests += 1;
    if (coldStart) a.coldStart += 1;
    if (gb > 0) a.hitBase += 1;
    if (gr > 0) a.hitRerank += 1;
    a.ndcgBase += gb;
    a.ndcgRerank += gr;
    if (!coldStart && !type.startsWith(WARM)) {
      // Customers with a precomputed list, kept apart: cold starts have no precomputed hit at all.
      this.add(`${WARM}${type}`, vehicleId, precomputed, reranked, false);
    }
  }

  /** Rows: each engaged type seen, `engaged`, `view`, then `all`. */
  rows(): FreshnessRow[] {
    const merge = (types: readonly string[]): Acc => {
      const m: Acc = { requests: 0, coldStart: 0, hitBase: 0, hitRerank: 0, ndcgBase: 0, ndcgRerank: 0 };
      for (const t of types) {
        const a = this.byType.get(t);
        if (!a) continue;
        m.requests += a.requests;
        m.coldStart += a.coldStart;
        m.hitBase += a.hitBase;
        m.hitRerank += a.hitRerank;
        m.ndcgBase += a.ndcgBase;
        m.ndcgRerank += a.ndcgRerank;
      }
      return m;
    };
    const row = (type: string, a: Acc): FreshnessRow => {
      const n = Math.max(1, a.requests);
      const precomputed = { hitRate: a.hitBase / n, ndcg: a.ndcgBase / n };
      const reranked = { hitRate: a.hitRerank / n, ndcg: a.ndcgRerank / n };
      return {
        type,
        requests: a.requests,
        coldStart: a.coldStart,
        precomputed,
        reranked,
        lift: { hitRate: precomputed.hitRate > 0 ? reranked.hitRate / precomputed.hitRate : null, ndcg: precomputed.ndcg > 0 ? reranked.ndcg / precomputed.ndcg : null },
      };
    };
    const out: FreshnessRow[] = [];
    for (const t of ENGAGED_TYPES) if (this.byType.has(t)) out.push(row(t, this.byType.get(t)!));
    out.push(row('engaged', merge(ENGAGED_TYPES)));
    out.push(row('engaged, warm', merge(ENGAGED_TYPES.map((t) => `${WARM}${t}`))));
    if (this.byType.has('view')) out.push(row('view', this.byType.get('view')!));
    if (this.byType.has(`${WARM}view`)) out.push(row('view, warm', this.byType.get(`${WARM}view`)!));
    out.push(row('all', merge([...this.byType.keys()].filter((t) => !t.startsWith(WARM)))));
    return out;
  }
}
