import { InvalidArgument } from '../../shared/errors/app-error.js';
import { OFFLINE_HALF_LIFE_MS } from '../../shared/features/event-weights.js';
import type { InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { boundedParam } from './bounded-param.js';
import { invertSpdInPlace } from './dense-linear-algebra.js';
import { rankDenseCandidates } from './dense-ranking.js';
import { engagementMatrix, packNeighbours } from './item-knn.js';
import { customerHistory, SparseAccumulator, stringParam, TopK, type ModelArtefact, type ModelParams, type RecommenderModel } from './model.js';
import { popularityOrder } from './popularity.js';

/**
 * Default item-count limit of EASE. The closed form inverts an n×n dense matrix: n² × 8 bytes
 * (Float64) while training plus n² × 4 bytes (Float32) for the weights kept in the artefact —
 * 3,000 items: 72 MB + 36 MB — and about n³ multiply-adds (2.7·10¹⁰ at 3,000: tens of seconds).
 */
export const EASE_MAX_ITEMS = 3000;

export const EASE_VALUES = ['binary', 'log'] as const;

export const EASE_DEFAULTS = {
  lambda: 500,
  values: 'binary',
  maxItems: EASE_MAX_ITEMS,
  halfLifeDays: OFFLINE_HALF_LIFE_MS / 86_400_000,
  maxPerCustomer: 200,
  neighbours: 50,
  seen: 'exclude',
} satisfies ModelParams;

function easeOptions(params: ModelParams) {
  const p = { ...EASE_DEFAULTS, ...params };
  return {
    lambda: boundedParam(p, 'lambda', 500, { min: 1e-9, max: 1e12 }),
    values: stringParam(p, 'values', EASE_VALUES, 'binary'),
    maxItems: boundedParam(p, 'maxItems', EASE_MAX_ITEMS, { min: 1, max: 50_000, integer: true }),
    halfLifeMs: boundedParam(p, 'halfLifeDays', 14, { min: 1e-6, max: 1e6 }) * 86_400_000,
    maxPerCustomer: boundedParam(p, 'maxPerCustomer', 200, { min: 1, max: 1e6, integer: true }),
    neighbours: boundedParam(p, 'neighbours', 50, { min: 0, max: 1000, integer: true }),
    seen: stringParam(p, 'seen', ['exclude', 'keep'] as const, 'exclude'),
  };
}

/**
 * EASE weights (Steck 2019, "Embarrassingly Shallow Autoencoders"): with G = XᵀX + λI over the
 * model's items and P = G⁻¹, B = I − P·diag(1/diag(P)), i.e. B[i][j] = −P[i][j] / P[j][j] for
 * i ≠ j and B[j][j] = 0. `x` is the customer × item CSR (`start`, `cols`, `values`) over n items.
 * Returns B row-major in Float32 (row i: what item i contributes to every j).
 */
export function easeWeights(x: { start: Int32Array; cols: Int32Array; values: Float32Array }, rows: number, n: number, lambda: number): Float32Array {
  const g = new Float64Array(n * n);
  for (let u = 0; u < rows; u++) {
    for (let p = x.start[u]!; p < x.start[u + 1]!; p++) {
      const i = x.cols[p]!;
      const xi = x.values[p]!;
      for (let q = x.start[u]!; q < x.start[u + 1]!; q++) g[i * n + x.cols[q]!]! += xi * x.values[q]!;
    }
  }
  for (let i = 0; i < n; i++) g[i * n + i]! += lambda;
  if (!invertSpdInPlace(g, n)) throw new Error('EASE: XᵀX + λI is not positive definite (λ too small for float precision?)');
  const b = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (i !== j) b[i * n + j] = -g[i * n + j]! / g[j * n + j]!;
  }
  return b;
}

/**
 * EASE: a linear item-item model with a closed form, for catalogs up to `maxItems` engaged
 * vehicles (default 3,000; refused above with InvalidArgument naming the limit and the param).
 * Items: vehicles with a positive decayed affinity from some customer. X: 1 per positive
 * (customer, vehicle) (`values: binary`) or ln(1 + affinity) (`values: log`). Scoring:
 * s = x_c·B over the customer's history in `data`; for-sale, not bought/hidden, seen per `seen`,
 * filled with popularity. Neighbours: the largest positive B[i][j] per vehicle.
 */
export const easeModel: RecommenderModel = {
  name: 'ease',
  description: `EASE closed-form linear item-item model (Steck 2019), λ = 500, for catalogs up to ${EASE_MAX_ITEMS} engaged vehicles`,
  defaultParams: EASE_DEFAULTS,
  module: import.meta.url,
  train(data, params) {
    const p = { ...EASE_DEFAULTS, ...params };
    const o = easeOptions(p);
    const m = engagementMatrix(data, o.halfLifeMs, o.maxPerCustomer);
    const V = m.vehicles;
    // Model items: engaged vehicles, numbered in vehicle order.
    const itemOf = new Int32Array(V).fill(-1);
    const items: number[] = [];
    for (let v = 0; v < V; v++) if (m.colStart[v + 1]! > m.colStart[v]!) itemOf[v] = items.push(v) - 1;
    const n = items.length;
    if (n > o.maxItems) {
      throw new InvalidArgument(
        `EASE supports at most maxItems = ${o.maxItems} engaged vehicles (it inverts an n×n dense matrix: n² × 12 bytes, n³ operations); this window has ${n}. Raise the model parameter maxItems (memory ≈ ${Math.ceil((n * n * 12) / 1e6)} MB) or use als / item-knn`,
        [{ field: 'maxItems', message: `${n} engaged vehicles exceed the limit ${o.maxItems}` }],
      );
    }
    const cols = m.rowItems.map((v) => itemOf[v]!);
    const values = o.values === 'binary' ? new Float32Array(cols.length).fill(1) : m.rowValues.map((r) => Math.log1p(r));
    const t0 = Date.now();
    const weights = easeWeights({ start: m.rowStart, cols, values }, m.customers, n, o.lambda);
    const itemVehicles = Int32Array.from(items);
    const nb = packNeighbours(o.neighbours > 0 ? easeNeighbours(weights, itemVehicles, V, data.forSale, o.neighbours) : { items: new Int32Array(0), scores: new Float32Array(0), counts: new Int32Array(V) }, o.neighbours);
    return {
      model: 'ease',
      params: p,
      asOf: new Date(data.asOfMs).toISOString(),
      vehicleIds: data.vehicleIds,
      arrays: { itemVehicles, weights, nbrOffsets: nb.offsets, nbrItems: nb.items, nbrScores: nb.scores, popularity: popularityOrder(data, o.halfLifeMs) },
      meta: { engagements: cols.length, items: n, solveMs: Date.now() - t0, neighbourPairs: nb.items.length },
    };
  },
  scorer(artefact, data, params) {
    return easeScorer(artefact, data, params);
  },
  neighbours(artefact) {
    const { nbrOffsets, nbrItems, nbrScores } = artefact.arrays;
    return { offsets: nbrOffsets as Int32Array, items: nbrItems as Int32Array, scores: nbrScores as Float32Array };
  },
};

/** Per vehicle: the top-k for-sale vehicles j ≠ i by positive B[i][j] (CSR rows k wide). */
function easeNeighbours(b: Float32Array, itemVehicles: Int32Array, V: number, forSale: Uint8Array, k: number) {
  const n = itemVehicles.length;
  const items = new Int32Array(V * k);
  const scores = new Float32Array(V * k);
  const counts = new Int32Array(V);
  const heap = new TopK(k);
  for (let i = 0; i < n; i++) {
    heap.clear();
    for (let j = 0; j < n; j++) {
      const s = b[i * n + j]!;
      if (s > 0 && forSale[itemVehicles[j]!] === 1 && s > heap.floor()) heap.push(itemVehicles[j]!, s);
    }
    const v = itemVehicles[i]!;
    counts[v] = heap.drain(items, scores, v * k);
  }
  return { items, scores, counts };
}

function easeScorer(artefact: ModelArtefact, data: InteractionDataset, params: ModelParams) {
  const o = easeOptions({ ...artefact.params, ...params });
  const itemVehicles = artefact.arrays.itemVehicles as Int32Array;
  const b = artefact.arrays.weights as Float32Array;
  const n = itemVehicles.length;
  const itemOf = new Map<number, number>();
  itemVehicles.forEach((v, i) => itemOf.set(v, i));
  const fallback = artefact.arrays.popularity as Int32Array;
  const scores = new Float64Array(n);
  const scratch = new SparseAccumulator(Math.max(data.vehicleIds.length, artefact.vehicleIds.length));
  const heaps = new Map<number, TopK>();
  return (customer: number, k: number, outItems: Int32Array, outScores: Float32Array): number => {
    const history = customerHistory(data, customer, o.halfLifeMs, scratch);
    scores.fill(0);
    let inputs = 0;
    for (let h = 0; h < history.vehicles.length; h++) {
      const r = history.affinity[h]!;
      const i = itemOf.get(history.vehicles[h]!);
      if (!(r > 0) || i === undefined) continue;
      inputs++;
      const x = o.values === 'binary' ? 1 : Math.log1p(r);
      const row = i * n;
      for (let j = 0; j < n; j++) scores[j]! += x * b[row + j]!;
    }
    let heap = heaps.get(k);
    if (!heap) heaps.set(k, (heap = new TopK(k)));
    return rankDenseCandidates(itemVehicles, scores, inputs > 0 ? n : 0, history, data, { k, seen: o.seen, fallback, heap }, outItems, outScores);
  };
}
