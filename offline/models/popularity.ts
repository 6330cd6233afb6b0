import type { PopularityLists, ScoredVehicle } from '../../shared/domain/prediction.js';
import { OFFLINE_HALF_LIFE_MS, priceBand, timeDecay } from '../../shared/features/event-weights.js';
import { WEIGHT_BY_CODE, type InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { customerHistory, numberParam, rankCandidates, SparseAccumulator, stringParam, TopK, type ModelParams, type RecommenderModel } from './model.js';

/**
 * Decayed popularity per vehicle: Σ over every customer's events EVENT_WEIGHTS[type] × value ×
 * 0.5^(age/halfLife), age relative to `data.asOfMs` (negative events lower it).
 */
export function popularityScores(data: InteractionDataset, halfLifeMs: number): Float64Array {
  const scores = new Float64Array(data.vehicleIds.length);
  for (let e = 0; e < data.n; e++) {
    scores[data.vehicle[e]!]! += WEIGHT_BY_CODE[data.type[e]!]! * data.value[e]! * timeDecay(data.asOfMs - data.time[e]!, halfLifeMs);
  }
  return scores;
}

/** For-sale vehicle indices by decreasing popularity (ties by index); vehicles with score ≤ 0 last. */
export function popularityOrder(data: InteractionDataset, halfLifeMs: number, scores = popularityScores(data, halfLifeMs)): Int32Array {
  const ids: number[] = [];
  for (let v = 0; v < data.vehicleIds.length; v++) if (data.forSale[v] === 1) ids.push(v);
  ids.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(ids);
}

/**
 * The cold-start lists stored with a run: the `topN` most popular for-sale vehicles overall,
 * per body style and per price band (`priceBand` of shared/features). Scores are the decayed
 * popularity (see popularityScores), rounded to 4 decimals.
 */
export function popularityLists(data: InteractionDataset, halfLifeMs: number = OFFLINE_HALF_LIFE_MS, topN = 100): PopularityLists {
  const scores = popularityScores(data, halfLifeMs);
  const order = popularityOrder(data, halfLifeMs, scores);
  const item = (v: number): ScoredVehicle => ({ vehicleId: data.vehicleIds[v]!, score: Math.round(scores[v]! * 1e4) / 1e4 });
  const overall: ScoredVehicle[] = [];
  const byBodyStyle: Record<string, ScoredVehicle[]> = {};
  const byPriceBand: Record<string, ScoredVehicle[]> = {};
  for (const v of order) {
    if (overall.length < topN) overall.push(item(v));
    const attrs = data.vehicles[v];
    if (!attrs) continue;
    const body = (byBodyStyle[attrs.bodyStyle] ??= []);
    if (body.length < topN) body.push(item(v));
    const band = (byPriceBand[priceBand(attrs.price)] ??= []);
    if (band.length < topN) band.push(item(v));
  }
  return { overall, byBodyStyle, byPriceBand };
}

export const POPULARITY_DEFAULTS = { halfLifeDays: OFFLINE_HALF_LIFE_MS / 86_400_000, seen: 'exclude' } satisfies ModelParams;

/** The non-personalised baseline: the most popular for-sale vehicles, minus what the customer bought, hid or (per `seen`) saw. */
export const popularityModel: RecommenderModel = {
  name: 'popularity',
  description: 'time-decayed popularity (event weights × decay), the cold-start list',
  defaultParams: POPULARITY_DEFAULTS,
  module: import.meta.url,
  train(data, params) {
    const p = { ...POPULARITY_DEFAULTS, ...params };
    const halfLifeMs = numberParam(p, 'halfLifeDays', 14) * 86_400_000;
    const scores = popularityScores(data, halfLifeMs);
    const order = popularityOrder(data, halfLifeMs, scores);
    return {
      model: 'popularity',
      params: p,
      asOf: new Date(data.asOfMs).toISOString(),
      vehicleIds: data.vehicleIds,
      arrays: { order, scores: Float32Array.from(order, (v) => scores[v]!) },
      meta: { forSale: order.length },
    };
  },
  scorer(artefact, data, params) {
    const p = { ...POPULARITY_DEFAULTS, ...artefact.params, ...params };
    const seen = stringParam(p, 'seen', ['exclude', 'keep'] as const, 'exclude');
    const halfLifeMs = numberParam(p, 'halfLifeDays', 14) * 86_400_000;
    const order = artefact.arrays.order as Int32Array;
    const scores = artefact.arrays.scores as Float32Array;
    const V = Math.max(data.vehicleIds.length, artefact.vehicleIds.length);
    const scratch = new SparseAccumulator(V);
    const acc = new SparseAccumulator(V);
    const heaps = new Map<number, TopK>();
    return (customer, k, outItems, outScores) => {
      const history = customerHistory(data, customer, halfLifeMs, scratch);
      // Only the first k + |history| entries can make the list.
      acc.reset();
      const limit = Math.min(order.length, k + history.vehicles.length);
      for (let i = 0; i < limit; i++) acc.add(order[i]!, Math.max(scores[i]!, 0) + 1e-9 * (limit - i));
      let heap = heaps.get(k);
      if (!heap) heaps.set(k, (heap = new TopK(k)));
      const n = rankCandidates(acc, history, data, { k, seen, heap }, outItems, outScores);
      acc.reset();
      return n;
    };
  },
};
