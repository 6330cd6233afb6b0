import { OFFLINE_HALF_LIFE_MS } from '../../shared/features/event-weights.js';
import { mulberry32 } from '../../shared/random/mulberry32.js';
import type { InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { boundedParam } from './bounded-param.js';
import { choleskyInPlace, choleskySolveInPlace } from './dense-linear-algebra.js';
import { rankDenseCandidates } from './dense-ranking.js';
import { engagementMatrix, packNeighbours } from './item-knn.js';
import { customerHistory, SparseAccumulator, stringParam, TopK, type ModelArtefact, type ModelParams, type RecommenderModel } from './model.js';
import { popularityOrder } from './popularity.js';

export const ALS_SCALINGS = ['linear', 'log'] as const;
export type AlsScaling = (typeof ALS_SCALINGS)[number];

/**
 * Defaults. α = 8 was the best of {1, 2, 8, 16, 32} on a validation split carved from the
 * training part of generated data (5,000 customers, 30 days); factors 64 beat 32 and matched 128
 * at half the cost; regularization and iterations 15 vs 30 hardly mattered there.
 */
export const ALS_DEFAULTS = {
  factors: 64,
  iterations: 15,
  regularization: 0.1,
  alpha: 8,
  scaling: 'linear',
  cgSteps: 3,
  seed: 42,
  halfLifeDays: OFFLINE_HALF_LIFE_MS / 86_400_000,
  maxPerCustomer: 200,
  neighbours: 50,
  maxCandidates: 0,
  seen: 'exclude',
} satisfies ModelParams;

export interface AlsOptions {
  factors: number;
  iterations: number;
  regularization: number;
  alpha: number;
  scaling: AlsScaling;
  cgSteps: number;
  seed: number;
  halfLifeMs: number;
  maxPerCustomer: number;
  neighbours: number;
  maxCandidates: number;
}

export function alsOptions(params: ModelParams): AlsOptions {
  const p = { ...ALS_DEFAULTS, ...params };
  return {
    factors: boundedParam(p, 'factors', 64, { min: 1, max: 1024, integer: true }),
    iterations: boundedParam(p, 'iterations', 15, { min: 1, max: 1000, integer: true }),
    regularization: boundedParam(p, 'regularization', 0.1, { min: 0, max: 1e6 }),
    alpha: boundedParam(p, 'alpha', 8, { min: 1e-9, max: 1e6 }),
    scaling: stringParam(p, 'scaling', ALS_SCALINGS, 'linear'),
    cgSteps: boundedParam(p, 'cgSteps', 3, { min: 1, max: 100, integer: true }),
    seed: boundedParam(p, 'seed', 42, { min: 0, max: 2 ** 32 - 1, integer: true }),
    halfLifeMs: boundedParam(p, 'halfLifeDays', 14, { min: 1e-6, max: 1e6 }) * 86_400_000,
    maxPerCustomer: boundedParam(p, 'maxPerCustomer', 200, { min: 1, max: 1e6, integer: true }),
    neighbours: boundedParam(p, 'neighbours', 50, { min: 0, max: 1000, integer: true }),
    maxCandidates: boundedParam(p, 'maxCandidates', 0, { min: 0, max: 1e9, integer: true }),
  };
}

/** Confidence weight of a positive affinity r (Hu, Koren & Volinsky 2008): 1 + α·r, or 1 + α·ln(1 + r). */
export function confidence(r: number, alpha: number, scaling: AlsScaling): number {
  return 1 + alpha * (scaling === 'log' ? Math.log1p(r) : r);
}

/** Gram matrix YᵀY + λI (f×f, row-major) of `rows` factor rows of width f. */
function gram(y: Float32Array, rows: number, f: number, lambda: number): Float64Array {
  const g = new Float64Array(f * f);
  for (let r = 0; r < rows; r++) {
    const o = r * f;
    for (let a = 0; a < f; a++) {
      const ya = y[o + a]!;
      if (ya === 0) continue;
      const ga = a * f;
      for (let b = a; b < f; b++) g[ga + b]! += ya * y[o + b]!;
    }
  }
  for (let a = 0; a < f; a++) {
    g[a * f + a]! += lambda;
    for (let b = a + 1; b < f; b++) g[b * f + a] = g[a * f + b]!;
  }
  return g;
}

function dot(y: Float32Array, o: number, v: Float64Array, f: number): number {
  let s = 0;
  for (let a = 0; a < f; a++) s += y[o + a]! * v[a]!;
  return s;
}

/**
 * One ALS half-step with conjugate-gradient updates (Takács, Pilászy & Tikk 2011; as in the
 * `implicit` library): for every row u of `x`, a few CG steps from its current value towards the
 * solution of (YᵀY + λI + Yᵀ(Cᵤ − I)Y)·xᵤ = YᵀCᵤ·pᵤ, where the row's non-zeros (CSR `start`,
 * `cols`, confidences `conf`) have preference 1 and every other column preference 0.
 */
export function conjugateGradientStep(
  x: Float32Array,
  y: Float32Array,
  rows: number,
  yRows: number,
  f: number,
  csr: { start: Int32Array; cols: Int32Array; conf: Float32Array },
  lambda: number,
  cgSteps: number,
): void {
  const g = gram(y, yRows, f, lambda);
  const xv = new Float64Array(f);
  const r = new Float64Array(f);
  const p = new Float64Array(f);
  const ap = new Float64Array(f);
  for (let u = 0; u < rows; u++) {
    const from = csr.start[u]!;
    const to = csr.start[u + 1]!;
    const ou = u * f;
    for (let a = 0; a < f; a++) xv[a] = x[ou + a]!;
    // r = YᵀCp − (G + Yᵀ(C − I)Y)·x
    for (let a = 0; a < f; a++) r[a] = -dot2(g, a * f, xv, f);
    for (let q = from; q < to; q++) {
      const oi = csr.cols[q]! * f;
      const c = csr.conf[q]!;
      const w = c - (c - 1) * dot(y, oi, xv, f);
      for (let a = 0; a < f; a++) r[a]! += w * y[oi + a]!;
    }
    let rsOld = 0;
    for (let a = 0; a < f; a++) {
      p[a] = r[a]!;
      rsOld += r[a]! * r[a]!;
    }
    if (rsOld < 1e-20) continue;
    for (let step = 0; step < cgSteps; step++) {
      for (let a = 0; a < f; a++) ap[a] = dot2(g, a * f, p, f);
      for (let q = from; q < to; q++) {
        const oi = csr.cols[q]! * f;
        const w = (csr.conf[q]! - 1) * dot(y, oi, p, f);
        for (let a = 0; a < f; a++) ap[a]! += w * y[oi + a]!;
      }
      let pAp = 0;
      for (let a = 0; a < f; a++) pAp += p[a]! * ap[a]!;
      if (!(pAp > 0)) break;
      const step1 = rsOld / pAp;
      let rsNew = 0;
      for (let a = 0; a < f; a++) {
        xv[a]! += step1 * p[a]!;
        r[a]! -= step1 * ap[a]!;
        rsNew += r[a]! * r[a]!;
      }
      if (rsNew < 1e-20) break;
      const beta = rsNew / rsOld;
      for (let a = 0; a < f; a++) p[a] = r[a]! + beta * p[a]!;
      rsOld = rsNew;
    }
    for (let a = 0; a < f; a++) x[ou + a] = xv[a]!;
  }
}

function dot2(g: Float64Array, o: number, v: Float64Array, f: number): number {
  let s = 0;
  for (let a = 0; a < f; a++) s += g[o + a]! * v[a]!;
  return s;
}

/** Uniform [0, 0.01) initial factors from the seeded PRNG (as `implicit` does). */
function initialFactors(rows: number, f: number, rand: () => number): Float32Array {
  const out = new Float32Array(rows * f);
  for (let i = 0; i < out.length; i++) out[i] = rand() * 0.01;
  return out;
}

/**
 * Trains implicit ALS on the positive decayed affinities (engagementMatrix): customer factors X
 * and vehicle factors Y, alternating CG half-steps. Deterministic for a seed.
 */
export function trainAls(data: InteractionDataset, o: AlsOptions): { itemFactors: Float32Array; userFactors: Float32Array; nnz: number } {
  const m = engagementMatrix(data, o.halfLifeMs, o.maxPerCustomer);
  const f = o.factors;
  const rand = mulberry32(o.seed);
  const userFactors = initialFactors(m.customers, f, rand);
  const itemFactors = initialFactors(m.vehicles, f, rand);
  const byUser = { start: m.rowStart, cols: m.rowItems, conf: m.rowValues.map((r) => confidence(r, o.alpha, o.scaling)) };
  const byItem = { start: m.colStart, cols: m.colCustomers, conf: m.colValues.map((r) => confidence(r, o.alpha, o.scaling)) };
  for (let it = 0; it < o.iterations; it++) {
    conjugateGradientStep(userFactors, itemFactors, m.customers, m.vehicles, f, byUser, o.regularization, o.cgSteps);
    conjugateGradientStep(itemFactors, userFactors, m.vehicles, m.customers, f, byItem, o.regularization, o.cgSteps);
  }
  return { itemFactors, userFactors, nnz: m.rowItems.length };
}

/**
 * Top-`k` neighbours of every vehicle by cosine of item factors, among vehicles with
 * `targetMask[j] === 1` (for sale), j ≠ i, positive similarity only. O(V²·f).
 */
export function factorNeighbours(y: Float32Array, vehicles: number, f: number, targetMask: Uint8Array, k: number): { items: Int32Array; scores: Float32Array; counts: Int32Array } {
  const norms = new Float64Array(vehicles);
  for (let v = 0; v < vehicles; v++) {
    let s = 0;
    for (let a = 0; a < f; a++) s += y[v * f + a]! * y[v * f + a]!;
    norms[v] = Math.sqrt(s);
  }
  const targets: number[] = [];
  for (let v = 0; v < vehicles; v++) if (targetMask[v] === 1 && norms[v]! > 0) targets.push(v);
  const items = new Int32Array(vehicles * k);
  const scores = new Float32Array(vehicles * k);
  const counts = new Int32Array(vehicles);
  const heap = new TopK(k);
  const yi = new Float64Array(f);
  for (let i = 0; i < vehicles; i++) {
    if (!(norms[i]! > 0)) continue;
    for (let a = 0; a < f; a++) yi[a] = y[i * f + a]! / norms[i]!;
    heap.clear();
    for (const j of targets) {
      if (j === i) continue;
      const s = dot(y, j * f, yi, f) / norms[j]!;
      if (s > 0 && s > heap.floor()) heap.push(j, s);
    }
    counts[i] = heap.drain(items, scores, i * k);
  }
  return { items, scores, counts };
}

/**
 * Implicit-feedback matrix factorisation. Training: ALS with confidence c = 1 + α·r (or
 * 1 + α·ln(1 + r)) on the positive decayed event-weighted affinities r, CG updates, seeded.
 * Scoring: the customer's vector is re-solved exactly from their history in `data` and the
 * vehicle factors (so the artefact holds vehicle factors only and serves any customer), then
 * dot products with every for-sale vehicle (or the `maxCandidates` most popular of them: scoring
 * costs candidates × factors per customer); not bought/hidden, seen per `seen`, filled with
 * popularity. Neighbours: cosine of vehicle factors.
 */
export const alsModel: RecommenderModel = {
  name: 'als',
  description: 'implicit ALS matrix factorisation (confidence-weighted, conjugate-gradient updates), 64 factors',
  defaultParams: ALS_DEFAULTS,
  module: import.meta.url,
  train(data, params) {
    const p = { ...ALS_DEFAULTS, ...params };
    const o = alsOptions(p);
    stringParam(p, 'seen', ['exclude', 'keep'] as const, 'exclude');
    const t0 = Date.now();
    const { itemFactors, nnz } = trainAls(data, o);
    const t1 = Date.now();
    const V = data.vehicleIds.length;
    const nb = packNeighbours(
      o.neighbours > 0 ? factorNeighbours(itemFactors, V, o.factors, data.forSale, o.neighbours) : { items: new Int32Array(0), scores: new Float32Array(0), counts: new Int32Array(V) },
      o.neighbours,
    );
    return {
      model: 'als',
      params: p,
      asOf: new Date(data.asOfMs).toISOString(),
      vehicleIds: data.vehicleIds,
      arrays: { itemFactors, nbrOffsets: nb.offsets, nbrItems: nb.items, nbrScores: nb.scores, popularity: popularityOrder(data, o.halfLifeMs) },
      meta: { engagements: nnz, factors: o.factors, trainFactorsMs: t1 - t0, neighboursMs: Date.now() - t1, neighbourPairs: nb.items.length },
    };
  },
  scorer(artefact, data, params) {
    return alsScorer(artefact, data, params);
  },
  neighbours(artefact) {
    const { nbrOffsets, nbrItems, nbrScores } = artefact.arrays;
    return { offsets: nbrOffsets as Int32Array, items: nbrItems as Int32Array, scores: nbrScores as Float32Array };
  },
};

function alsScorer(artefact: ModelArtefact, data: InteractionDataset, params: ModelParams) {
  const p = { ...ALS_DEFAULTS, ...artefact.params, ...params };
  const o = alsOptions(p);
  const seen = stringParam(p, 'seen', ['exclude', 'keep'] as const, 'exclude');
  const y = artefact.arrays.itemFactors as Float32Array;
  const f = o.factors;
  const known = Math.min(artefact.vehicleIds.length, y.length / f);
  const fallback = artefact.arrays.popularity as Int32Array;
  // Candidates: vehicles with factors that are for sale in `data`, packed contiguously; with
  // maxCandidates > 0 only that many, the most popular first (scoring costs candidates × factors).
  const cand: number[] = [];
  if (o.maxCandidates > 0) {
    for (let i = 0; i < fallback.length && cand.length < o.maxCandidates; i++) {
      const v = fallback[i]!;
      if (v < known && data.forSale[v] === 1) cand.push(v);
    }
  } else {
    for (let v = 0; v < known; v++) if (data.forSale[v] === 1) cand.push(v);
  }
  const candidates = Int32Array.from(cand);
  const packed = new Float32Array(candidates.length * f);
  candidates.forEach((v, i) => packed.set(y.subarray(v * f, (v + 1) * f), i * f));
  const g = gram(y, known, f, o.regularization);
  const a = new Float64Array(f * f);
  const b = new Float64Array(f);
  const scores = new Float64Array(candidates.length);
  const scratch = new SparseAccumulator(Math.max(data.vehicleIds.length, artefact.vehicleIds.length));
  const heaps = new Map<number, TopK>();
  return (customer: number, k: number, outItems: Int32Array, outScores: Float32Array): number => {
    const history = customerHistory(data, customer, o.halfLifeMs, scratch);
    // Fold-in: solve (YᵀY + λI + Yᵀ(C − I)Y)·x = YᵀC·p for this customer's positive affinities.
    a.set(g);
    b.fill(0);
    let positives = 0;
    for (let h = 0; h < history.vehicles.length; h++) {
      const i = history.vehicles[h]!;
      const r = history.affinity[h]!;
      if (!(r > 0) || i >= known) continue;
      positives++;
      const c = confidence(r, o.alpha, o.scaling);
      const oi = i * f;
      for (let u = 0; u < f; u++) {
        const yu = y[oi + u]!;
        b[u]! += c * yu;
        const w = (c - 1) * yu;
        for (let v = 0; v <= u; v++) a[u * f + v]! += w * y[oi + v]!;
      }
    }
    let count = 0;
    if (positives > 0) {
      for (let u = 0; u < f; u++) for (let v = u + 1; v < f; v++) a[u * f + v] = a[v * f + u]!;
      if (choleskyInPlace(a, f)) {
        choleskySolveInPlace(a, f, b);
        for (let j = 0; j < candidates.length; j++) {
          let s = 0;
          const oj = j * f;
          for (let u = 0; u < f; u++) s += packed[oj + u]! * b[u]!;
          scores[j] = s;
        }
        count = candidates.length;
      }
    }
    let heap = heaps.get(k);
    if (!heap) heaps.set(k, (heap = new TopK(k)));
    return rankDenseCandidates(candidates, scores, count, history, data, { k, seen, fallback, heap }, outItems, outScores);
  };
}
