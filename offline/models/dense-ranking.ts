import type { InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { fillFromFallback, type CustomerHistory, type SeenPolicy, type TopK } from './model.js';

/**
 * Ranks dense candidate scores (latent-factor models score every candidate, not a sparse few):
 * `candidates[i]` has score `scores[i]`. Keeps only vehicles for sale in `data`, never blocked
 * ones, seen ones per policy; then fills up to k from `fallback` (vehicle indices, best first,
 * e.g. popularity) with scores below every model score. Unlike rankCandidates, scores may be
 * ≤ 0 (a dot product): every candidate can be ranked.
 */
export function rankDenseCandidates(
  candidates: Int32Array,
  scores: Float64Array,
  count: number,
  history: CustomerHistory,
  data: InteractionDataset,
  options: { k: number; seen: SeenPolicy; fallback?: Int32Array; heap: TopK },
  outItems: Int32Array,
  outScores: Float32Array,
): number {
  const { k, heap } = options;
  heap.clear();
  const seen = options.seen === 'exclude' ? new Set(history.vehicles) : undefined;
  for (let i = 0; i < count; i++) {
    const v = candidates[i]!;
    const s = scores[i]!;
    if (data.forSale[v] !== 1 || history.blocked.has(v) || seen?.has(v)) continue;
    if (s <= heap.floor()) continue;
    heap.push(v, s);
  }
  const n = heap.drain(outItems, outScores);
  return options.fallback ? fillFromFallback(n, k, options.fallback, history, data, seen, outItems, outScores) : n;
}
