import type { EvaluationMetrics } from '../../shared/domain/prediction.js';
import { WEIGHT_BY_CODE, subsetDataset, type InteractionDataset } from '../lake-reader/interaction-dataset.js';
import type { ModelParams, RecommenderModel } from '../models/model.js';
import { rankingMetrics } from './metrics.js';
import { mulberry32 } from '../../shared/random/mulberry32.js';

/** A train/test split of one dataset. Indices (customers, vehicles) are shared. */
export interface Split {
  train: InteractionDataset;
  test: InteractionDataset;
  description: string;
}

/**
 * `time` protocol: train on the events before `cutMs`, test on the events in `[cutMs, asOf)`.
 * The train part is "as of" the cut (time decay relative to it) and only vehicles for sale at
 * the cut (`forSaleAtCut`, by vehicle index) can be recommended.
 */
export function timeSplit(data: InteractionDataset, cutMs: number, forSaleAtCut?: Uint8Array): Split {
  const train = subsetDataset(data, (i) => data.time[i]! < cutMs, { asOfMs: cutMs, ...(forSaleAtCut ? { forSale: forSaleAtCut } : {}) });
  const test = subsetDataset(data, (i) => data.time[i]! >= cutMs, { startMs: cutMs });
  return { train, test, description: `time: train before ${new Date(cutMs).toISOString()}, test from then to ${new Date(data.asOfMs).toISOString()}` };
}

/**
 * `stratified` protocol: for every customer, their distinct vehicles are shuffled (seeded) and
 * the first round(ratio × n) go to train with all their events, the rest to test — a per-customer
 * random split of (customer, vehicle) pairs, so a vehicle is never in both parts for one customer.
 * Customers with a single vehicle stay entirely in train. Same seed → same split.
 */
export function stratifiedSplit(data: InteractionDataset, ratio: number, seed: number): Split {
  const rand = mulberry32(seed);
  const inTrain = new Uint8Array(data.n);
  const byVehicle = new Map<number, number[]>();
  for (let c = 0; c < data.customerIds.length; c++) {
    byVehicle.clear();
    for (let e = data.customerStart[c]!; e < data.customerStart[c + 1]!; e++) {
      const v = data.vehicle[e]!;
      let list = byVehicle.get(v);
      if (!list) byVehicle.set(v, (list = []));
      list.push(e);
    }
    const vehicles = [...byVehicle.keys()];
    for (let i = vehicles.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [vehicles[i], vehicles[j]] = [vehicles[j]!, vehicles[i]!];
    }
    const nTrain = vehicles.length <= 1 ? vehicles.length : Math.max(1, Math.round(ratio * vehicles.length));
    for (let i = 0; i < nTrain; i++) for (const e of byVehicle.get(vehicles[i]!)!) inTrain[e] = 1;
  }
  return {
    train: subsetDataset(data, (i) => inTrain[i] === 1),
    test: subsetDataset(data, (i) => inTrain[i] === 0),
    description: `stratified: per-customer random ${ratio}/${Math.round((1 - ratio) * 100) / 100} split of (customer, vehicle) pairs, seed ${seed}`,
  };
}

/**
 * Relevant items of each customer: vehicles with at least one positive-weight event
 * (EVENT_WEIGHTS > 0: view, favorite, lead, test_drive, purchase) in the test part that the
 * customer never interacted with in the train part — the model is judged on what it can
 * discover, since seen vehicles are excluded from the lists (seen policy `exclude`).
 * Only customers with train history and ≥ 1 relevant vehicle are evaluated.
 */
export function relevantSets(split: Split): { customers: number[]; relevant: Set<number>[] } {
  const { train, test } = split;
  const customers: number[] = [];
  const relevant: Set<number>[] = [];
  const seen = new Set<number>();
  for (let c = 0; c < test.customerIds.length; c++) {
    const t0 = test.customerStart[c]!;
    const t1 = test.customerStart[c + 1]!;
    if (t0 === t1 || train.customerStart[c] === train.customerStart[c + 1]) continue;
    seen.clear();
    for (let e = train.customerStart[c]!; e < train.customerStart[c + 1]!; e++) seen.add(train.vehicle[e]!);
    const rel = new Set<number>();
    for (let e = t0; e < t1; e++) if (WEIGHT_BY_CODE[test.type[e]!]! > 0 && !seen.has(test.vehicle[e]!)) rel.add(test.vehicle[e]!);
    if (rel.size > 0) {
      customers.push(c);
      relevant.push(rel);
    }
  }
  return { customers, relevant };
}

/** Picks at most `max` customers, evenly spread (deterministic). */
function sample<T>(xs: T[], max: number): number[] {
  if (xs.length <= max) return xs.map((_, i) => i);
  const step = xs.length / max;
  return Array.from({ length: max }, (_, i) => Math.floor(i * step));
}

export interface ModelEvaluation {
  model: string;
  metrics: EvaluationMetrics;
  trainMs: number;
  scoreMs: number;
}

/**
 * Trains each model on `split.train`, ranks k vehicles for each evaluated customer and computes
 * the metrics (see rankingMetrics) against relevantSets. Coverage is relative to the vehicles
 * for sale in the train part. `maxCustomers` caps the evaluated customers (evenly sampled).
 */
export function evaluateSplit(
  split: Split,
  models: { model: RecommenderModel; params?: ModelParams }[],
  options: { k: number; maxCustomers?: number },
): ModelEvaluation[] {
  const { customers, relevant } = relevantSets(split);
  const picked = sample(customers, options.maxCustomers ?? Number.POSITIVE_INFINITY);
  const catalogueSize = split.train.forSale.reduce((s, x) => s + x, 0);
  const out: ModelEvaluation[] = [];
  for (const { model, params = {} } of models) {
    const t0 = Date.now();
    const artefact = model.train(split.train, { ...model.defaultParams, ...params });
    const t1 = Date.now();
    const score = model.scorer(artefact, split.train, params);
    const items = new Int32Array(options.k);
    const scores = new Float32Array(options.k);
    const lists = picked.map((i) => {
      const n = score(customers[i]!, options.k, items, scores);
      return Array.from(items.subarray(0, n));
    });
    const metrics = rankingMetrics(lists, picked.map((i) => relevant[i]!), options.k, catalogueSize);
    out.push({ model: model.name, metrics, trainMs: t1 - t0, scoreMs: Date.now() - t1 });
  }
  return out;
}
