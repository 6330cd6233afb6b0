import type { EvaluationMetrics } from '../../shared/domain/prediction.js';

/**
 * Offline ranking metrics at cut-off k, binary relevance. For one customer with ranked list
 * L (only its first k items count, L_i is the item at rank i, 1-based) and relevant set R (|R| > 0):
 *
 * - precision@k = |L[1..k] ∩ R| / k            (k, not |L|: a short list is not rewarded)
 * - recall@k    = |L[1..k] ∩ R| / |R|
 * - nDCG@k      = DCG@k / IDCG@k, DCG@k = Σ_{i=1..k} rel_i / log2(i + 1), rel_i = 1 if L_i ∈ R else 0,
 *                 IDCG@k = Σ_{i=1..min(k,|R|)} 1 / log2(i + 1)
 * - AP@k        = (1 / min(k, |R|)) · Σ_{i=1..k} rel_i · precision@i;  MAP@k = mean of AP@k
 *
 * Each is averaged over the evaluated customers (those with |R| > 0). Catalogue coverage =
 * |∪ L[1..k] over evaluated customers| / `catalogueSize` (the vehicles for sale that could be
 * recommended). Customers with an empty list count with 0 in every metric.
 */
export function rankingMetrics(
  lists: ArrayLike<number>[],
  relevant: ReadonlySet<number>[],
  k: number,
  catalogueSize: number,
): EvaluationMetrics {
  if (lists.length !== relevant.length) throw new Error('rankingMetrics: lists and relevant differ in length');
  let p = 0;
  let r = 0;
  let ndcg = 0;
  let map = 0;
  let customers = 0;
  const shown = new Set<number>();
  const discount = Array.from({ length: k + 1 }, (_, i) => (i === 0 ? 0 : 1 / Math.log2(i + 1)));
  for (let u = 0; u < lists.length; u++) {
    const rel = relevant[u]!;
    if (rel.size === 0) continue;
    customers += 1;
    const list = lists[u]!;
    const n = Math.min(k, list.length);
    let hits = 0;
    let dcg = 0;
    let ap = 0;
    for (let i = 0; i < n; i++) {
      const item = list[i]!;
      shown.add(item);
      if (rel.has(item)) {
        hits += 1;
        dcg += discount[i + 1]!;
        ap += hits / (i + 1);
      }
    }
    let idcg = 0;
    for (let i = 1; i <= Math.min(k, rel.size); i++) idcg += discount[i]!;
    p += hits / k;
    r += hits / rel.size;
    ndcg += dcg / idcg;
    map += ap / Math.min(k, rel.size);
  }
  const mean = (x: number) => (customers === 0 ? 0 : x / customers);
  return {
    k,
    precision: mean(p),
    recall: mean(r),
    ndcg: mean(ndcg),
    map: mean(map),
    coverage: catalogueSize === 0 ? 0 : shown.size / catalogueSize,
    customers,
  };
}
