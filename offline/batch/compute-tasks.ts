import { readFileSync } from 'node:fs';
import type { InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { evaluateSplit, timeSplit, type ModelEvaluation } from '../evaluation/protocols.js';
import type { CustomerScorer, ModelArtefact, ModelParams, RecommenderModel, TypedArray } from '../models/model.js';
import { getModel } from '../models/registry.js';

/** CPU-heavy work the batch hands to worker threads (or runs inline). Messages are structured-cloneable. */
export type ComputeRequest =
  | { op: 'train'; model: string; modules: string[]; data: InteractionDataset; params: ModelParams }
  | {
      op: 'evaluate';
      models: { name: string; params: ModelParams }[];
      modules: string[];
      data: InteractionDataset;
      cutMs: number;
      forSaleAtCut: Uint8Array;
      k: number;
      maxCustomers: number;
    }
  | { op: 'initScorer'; model: string; modules: string[]; artefact: ModelArtefact; data: InteractionDataset; params: ModelParams }
  | { op: 'score'; customers: Int32Array; k: number };

export interface ScoreResult {
  /** `customers.length × k` vehicle indices, rows best first; `counts[i]` filled per row. */
  items: Int32Array;
  /** Scores rounded to 6 significant digits (`roundScore`), ready to serialize. */
  scores: Float64Array;
  counts: Int32Array;
  /** Elapsed time of the task in its thread, ms (includes waiting for a core). */
  ms: number;
  /** CPU time the thread spent on the task, ms (Linux; undefined elsewhere). */
  cpuMs?: number;
}

export type ComputeResult = ModelArtefact | ModelEvaluation[] | ScoreResult | null;

/** Per-thread state (the bound scorer). */
export interface ComputeState {
  scorer?: CustomerScorer;
}

async function resolveModel(name: string, modules: string[]): Promise<RecommenderModel> {
  for (const m of modules) await import(m);
  return getModel(name);
}

/** Runs one request. Pure apart from `state`; the same code runs in a worker or inline. */
export async function runCompute(req: ComputeRequest, state: ComputeState): Promise<ComputeResult> {
  switch (req.op) {
    case 'train': {
      const model = await resolveModel(req.model, req.modules);
      return model.train(req.data, req.params);
    }
    case 'evaluate': {
      const models = await Promise.all(req.models.map(async (m) => ({ model: await resolveModel(m.name, req.modules), params: m.params })));
      const split = timeSplit(req.data, req.cutMs, req.forSaleAtCut);
      return evaluateSplit(split, models, { k: req.k, maxCustomers: req.maxCustomers });
    }
    case 'initScorer': {
      const model = await resolveModel(req.model, req.modules);
      state.scorer = model.scorer(req.artefact, req.data, req.params);
      return null;
    }
    case 'score': {
      if (!state.scorer) throw new Error('score before initScorer');
      const t0 = performance.now();
      const cpu0 = threadCpuMs();
      const { customers, k } = req;
      const items = new Int32Array(customers.length * k);
      const scores = new Float64Array(customers.length * k);
      const counts = new Int32Array(customers.length);
      const rowItems = new Int32Array(k);
      const rowScores = new Float32Array(k);
      for (let i = 0; i < customers.length; i++) {
        const n = state.scorer(customers[i]!, k, rowItems, rowScores);
        items.set(rowItems.subarray(0, n), i * k);
        // Rounded here, on the worker: the main thread only serializes.
        for (let j = 0; j < n; j++) scores[i * k + j] = roundScore(rowScores[j]!);
        counts[i] = n;
      }
      const cpu1 = cpu0 === undefined ? undefined : threadCpuMs();
      const ms = performance.now() - t0;
      return { items, scores, counts, ms, ...(cpu0 !== undefined && cpu1 !== undefined ? { cpuMs: cpu1 - cpu0 } : {}) };
    }
  }
}

let schedstat = process.platform === 'linux';

/**
 * CPU time of the calling thread so far in ms, from `/proc/thread-self/schedstat` (Linux, ns
 * resolution; Node 20 has no per-thread CPU clock); undefined where unavailable. The kernel brings
 * the figure up to date at scheduler ticks and switches, so a reading can lag the truth by up to
 * one tick (4 ms at HZ 250): a difference over a short span may exceed its wall time by that much.
 */
export function threadCpuMs(): number | undefined {
  if (!schedstat) return undefined;
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
    if (Number.isFinite(ns)) return ns / 1e6;
  } catch {
    // no schedstat (kernel without CONFIG_SCHED_INFO, restricted /proc)
  }
  schedstat = false;
  return undefined;
}

/**
 * `x` rounded to 6 significant digits, as `Number(x.toPrecision(6))` (the stored score format)
 * at about half the cost; the result prints as a short decimal.
 */
export function roundScore(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.floor(Math.log10(Math.abs(x)));
  if (e > 5 || e < -10) return Number(x.toPrecision(6));
  const f = 10 ** (5 - e);
  return Math.round(x * f) / f;
}

/** ArrayBuffers of a result that can be transferred instead of copied. */
export function transferablesOf(result: ComputeResult): ArrayBuffer[] {
  if (!result) return [];
  const arrays: TypedArray[] = [];
  if ('arrays' in result) arrays.push(...Object.values(result.arrays));
  else if ('counts' in result) arrays.push(result.items, result.scores, result.counts);
  return arrays.map((a) => a.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}
