import { OFFLINE_HALF_LIFE_MS, timeDecay } from '../../shared/features/event-weights.js';
import { WEIGHT_BY_CODE, type InteractionDataset } from '../lake-reader/interaction-dataset.js';
import {
  customerHistory,
  numberParam,
  rankCandidates,
  SparseAccumulator,
  stringParam,
  TopK,
  type ModelArtefact,
  type ModelParams,
  type RecommenderModel,
} from './model.js';
import { popularityOrder } from './popularity.js';

export const SIMILARITIES = ['cosine', 'jaccard', 'lift'] as const;
export type Similarity = (typeof SIMILARITIES)[number];

/** Customer × vehicle positive affinities in CSR, and the transpose (vehicle × customer). */
export interface EngagementMatrix {
  customers: number;
  vehicles: number;
  rowStart: Int32Array;
  rowItems: Int32Array;
  rowValues: Float32Array;
  colStart: Int32Array;
  colCustomers: Int32Array;
  colValues: Float32Array;
}

/**
 * Positive decayed affinity per (customer, vehicle): Σ EVENT_WEIGHTS[type] × value × decay(age),
 * summed over the customer's events on the vehicle, kept when > 0 (a hide or unfavourite can
 * cancel a view). At most `maxPerCustomer` strongest vehicles per customer (bounds the O(Σ n_c²) cost).
 */
export function engagementMatrix(data: InteractionDataset, halfLifeMs: number, maxPerCustomer: number): EngagementMatrix {
  const C = data.customerIds.length;
  const V = data.vehicleIds.length;
  const acc = new SparseAccumulator(V);
  const rowStart = new Int32Array(C + 1);
  let items = new Int32Array(Math.max(16, data.n));
  let values = new Float32Array(Math.max(16, data.n));
  let nnz = 0;
  const pairs: { v: number; a: number }[] = [];
  for (let c = 0; c < C; c++) {
    acc.reset();
    for (let e = data.customerStart[c]!; e < data.customerStart[c + 1]!; e++) {
      acc.add(data.vehicle[e]!, WEIGHT_BY_CODE[data.type[e]!]! * data.value[e]! * timeDecay(data.asOfMs - data.time[e]!, halfLifeMs));
    }
    pairs.length = 0;
    for (let t = 0; t < acc.size; t++) {
      const v = acc.touched[t]!;
      const a = acc.values[v]!;
      if (a > 0) pairs.push({ v, a });
    }
    if (pairs.length > maxPerCustomer) {
      pairs.sort((x, y) => y.a - x.a);
      pairs.length = maxPerCustomer;
    }
    pairs.sort((x, y) => x.v - y.v);
    if (nnz + pairs.length > items.length) {
      const grow = (n: number) => Math.max(n, items.length * 2);
      const ni = new Int32Array(grow(nnz + pairs.length));
      ni.set(items.subarray(0, nnz));
      const nv = new Float32Array(ni.length);
      nv.set(values.subarray(0, nnz));
      items = ni;
      values = nv;
    }
    for (const p of pairs) {
      items[nnz] = p.v;
      values[nnz] = p.a;
      nnz++;
    }
    rowStart[c + 1] = nnz;
  }
  acc.reset();
  const rowItems = items.slice(0, nnz);
  const rowValues = values.slice(0, nnz);
  const colStart = new Int32Array(V + 1);
  for (let i = 0; i < nnz; i++) colStart[rowItems[i]! + 1]! += 1;
  for (let v = 0; v < V; v++) colStart[v + 1]! += colStart[v]!;
  const fill = colStart.slice(0, V);
  const colCustomers = new Int32Array(nnz);
  const colValues = new Float32Array(nnz);
  for (let c = 0; c < C; c++) {
    for (let i = rowStart[c]!; i < rowStart[c + 1]!; i++) {
      const v = rowItems[i]!;
      const at = fill[v]!++;
      colCustomers[at] = c;
      colValues[at] = rowValues[i]!;
    }
  }
  return { customers: C, vehicles: V, rowStart, rowItems, rowValues, colStart, colCustomers, colValues };
}

/**
 * Top-`k` neighbours of vehicles `[from, to)` from co-engagement. For vehicles i, j with
 * engagers C_i, C_j and affinities r:
 * - cosine  = Σ_c r_ci·r_cj / (‖r_i‖·‖r_j‖)
 * - jaccard = |C_i ∩ C_j| / |C_i ∪ C_j|
 * - lift    = |C_i ∩ C_j|·N / (|C_i|·|C_j|)
 * each multiplied by the shrinkage |C_i ∩ C_j| / (|C_i ∩ C_j| + shrink). Targets j are limited to
 * vehicles with `targetMask[j] === 1` (for sale) and j ≠ i. Output rows are `k` wide; `counts`
 * says how many are filled. Pure; runs in a worker thread for large catalogs.
 */
export function computeNeighbours(
  m: Pick<EngagementMatrix, 'rowStart' | 'rowItems' | 'rowValues' | 'colStart' | 'colCustomers' | 'colValues' | 'customers' | 'vehicles'>,
  targetMask: Uint8Array,
  options: { k: number; similarity: Similarity; shrink: number; minCo: number; from: number; to: number },
): { items: Int32Array; scores: Float32Array; counts: Int32Array } {
  const { k, similarity, shrink, minCo, from, to } = options;
  const V = m.vehicles;
  const norms = new Float64Array(V);
  const sizes = new Int32Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    for (let i = m.colStart[v]!; i < m.colStart[v + 1]!; i++) s += m.colValues[i]! * m.colValues[i]!;
    norms[v] = Math.sqrt(s);
    sizes[v] = m.colStart[v + 1]! - m.colStart[v]!;
  }
  const rows = to - from;
  const items = new Int32Array(rows * k);
  const scores = new Float32Array(rows * k);
  const counts = new Int32Array(rows);
  const dot = new Float64Array(V);
  const co = new Int32Array(V);
  const touched = new Int32Array(V);
  const heap = new TopK(k);
  const N = m.customers;
  for (let i = from; i < to; i++) {
    let nt = 0;
    for (let p = m.colStart[i]!; p < m.colStart[i + 1]!; p++) {
      const c = m.colCustomers[p]!;
      const rci = m.colValues[p]!;
      for (let q = m.rowStart[c]!; q < m.rowStart[c + 1]!; q++) {
        const j = m.rowItems[q]!;
        if (j === i || targetMask[j] !== 1) continue;
        if (co[j] === 0) touched[nt++] = j;
        co[j]! += 1;
        dot[j]! += rci * m.rowValues[q]!;
      }
    }
    heap.clear();
    for (let t = 0; t < nt; t++) {
      const j = touched[t]!;
      const cij = co[j]!;
      if (cij >= minCo) {
        let s: number;
        if (similarity === 'cosine') s = dot[j]! / (norms[i]! * norms[j]! || 1);
        else if (similarity === 'jaccard') s = cij / (sizes[i]! + sizes[j]! - cij);
        else s = (cij * N) / (sizes[i]! * sizes[j]!);
        if (shrink > 0) s *= cij / (cij + shrink);
        heap.push(j, s);
      }
      co[j] = 0;
      dot[j] = 0;
    }
    counts[i - from] = heap.drain(items, scores, (i - from) * k);
  }
  return { items, scores, counts };
}

/** Packs k-wide neighbour rows into CSR (`offsets` over vehicles). */
export function packNeighbours(rows: { items: Int32Array; scores: Float32Array; counts: Int32Array }, k: number): { offsets: Int32Array; items: Int32Array; scores: Float32Array } {
  const V = rows.counts.length;
  const offsets = new Int32Array(V + 1);
  for (let v = 0; v < V; v++) offsets[v + 1] = offsets[v]! + rows.counts[v]!;
  const items = new Int32Array(offsets[V]!);
  const scores = new Float32Array(offsets[V]!);
  for (let v = 0; v < V; v++) {
    items.set(rows.items.subarray(v * k, v * k + rows.counts[v]!), offsets[v]!);
    scores.set(rows.scores.subarray(v * k, v * k + rows.counts[v]!), offsets[v]!);
  }
  return { offsets, items, scores };
}

/** Merges neighbour row blocks computed for consecutive vehicle ranges. */
export function concatRows(parts: { items: Int32Array; scores: Float32Array; counts: Int32Array }[]): { items: Int32Array; scores: Float32Array; counts: Int32Array } {
  const len = (key: 'items' | 'scores' | 'counts') => parts.reduce((s, p) => s + p[key].length, 0);
  const items = new Int32Array(len('items'));
  const scores = new Float32Array(len('scores'));
  const counts = new Int32Array(len('counts'));
  let a = 0;
  let b = 0;
  for (const p of parts) {
    items.set(p.items, a);
    scores.set(p.scores, a);
    counts.set(p.counts, b);
    a += p.items.length;
    b += p.counts.length;
  }
  return { items, scores, counts };
}

export const ITEM_KNN_DEFAULTS = {
  similarity: 'cosine',
  neighbours: 50,
  shrink: 10,
  minCo: 1,
  halfLifeDays: OFFLINE_HALF_LIFE_MS / 86_400_000,
  maxPerCustomer: 200,
  seen: 'exclude',
} satisfies ModelParams;

/**
 * Item-to-item collaborative filtering. Training: engagement matrix → top-`neighbours` similar
 * for-sale vehicles per vehicle. Scoring: score(c, j) = Σ_i affinity(c, i) · sim(i, j) over the
 * vehicles i the customer engaged positively; then only for-sale, not bought/hidden, seen per
 * `seen`, filled up to k with popularity.
 */
export const itemKnnModel: RecommenderModel = {
  name: 'item-knn',
  description: 'item-to-item similarity from co-engagement (event weights × time decay), top-50 neighbours per vehicle',
  defaultParams: ITEM_KNN_DEFAULTS,
  module: import.meta.url,
  train(data, params) {
    const p = { ...ITEM_KNN_DEFAULTS, ...params };
    const k = numberParam(p, 'neighbours', 50);
    const similarity = stringParam(p, 'similarity', SIMILARITIES, 'cosine');
    const halfLifeMs = numberParam(p, 'halfLifeDays', 14) * 86_400_000;
    const m = engagementMatrix(data, halfLifeMs, numberParam(p, 'maxPerCustomer', 200));
    const rows = computeNeighbours(m, data.forSale, {
      k,
      similarity,
      shrink: numberParam(p, 'shrink', 10),
      minCo: numberParam(p, 'minCo', 1),
      from: 0,
      to: m.vehicles,
    });
    return itemKnnArtefact(data, p, rows, k, m.rowItems.length);
  },
  scorer(artefact, data, params) {
    return itemKnnScorer(artefact, data, params);
  },
  neighbours(artefact) {
    const { nbrOffsets, nbrItems, nbrScores } = artefact.arrays;
    return { offsets: nbrOffsets as Int32Array, items: nbrItems as Int32Array, scores: nbrScores as Float32Array };
  },
};

/** Builds the item-knn artefact from neighbour rows (also used by the worker-thread trainer). */
export function itemKnnArtefact(
  data: InteractionDataset,
  params: ModelParams,
  rows: { items: Int32Array; scores: Float32Array; counts: Int32Array },
  k: number,
  nnz: number,
): ModelArtefact {
  const packed = packNeighbours(rows, k);
  const halfLifeMs = numberParam(params, 'halfLifeDays', 14) * 86_400_000;
  return {
    model: 'item-knn',
    params,
    asOf: new Date(data.asOfMs).toISOString(),
    vehicleIds: data.vehicleIds,
    arrays: { nbrOffsets: packed.offsets, nbrItems: packed.items, nbrScores: packed.scores, popularity: popularityOrder(data, halfLifeMs) },
    meta: { engagements: nnz, neighbourPairs: packed.items.length, vehiclesWithNeighbours: rows.counts.reduce((s, c) => s + (c > 0 ? 1 : 0), 0) },
  };
}

export function itemKnnScorer(artefact: ModelArtefact, data: InteractionDataset, params: ModelParams) {
  const p = { ...ITEM_KNN_DEFAULTS, ...artefact.params, ...params };
  const halfLifeMs = numberParam(p, 'halfLifeDays', 14) * 86_400_000;
  const seen = stringParam(p, 'seen', ['exclude', 'keep'] as const, 'exclude');
  const offsets = artefact.arrays.nbrOffsets as Int32Array;
  const nItems = artefact.arrays.nbrItems as Int32Array;
  const nScores = artefact.arrays.nbrScores as Float32Array;
  const fallback = artefact.arrays.popularity as Int32Array;
  const V = Math.max(data.vehicleIds.length, artefact.vehicleIds.length);
  const scratch = new SparseAccumulator(V);
  const acc = new SparseAccumulator(V);
  const heaps = new Map<number, TopK>();
  const known = offsets.length - 1;
  return (customer: number, k: number, outItems: Int32Array, outScores: Float32Array): number => {
    const history = customerHistory(data, customer, halfLifeMs, scratch);
    acc.reset();
    for (let h = 0; h < history.vehicles.length; h++) {
      const i = history.vehicles[h]!;
      const a = history.affinity[h]!;
      if (!(a > 0) || i >= known) continue;
      for (let q = offsets[i]!; q < offsets[i + 1]!; q++) acc.add(nItems[q]!, a * nScores[q]!);
    }
    let heap = heaps.get(k);
    if (!heap) heaps.set(k, (heap = new TopK(k)));
    const n = rankCandidates(acc, history, data, { k, seen, fallback, heap }, outItems, outScores);
    acc.reset();
    return n;
  };
}
