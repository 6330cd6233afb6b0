import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../../shared/config/config.js';
import {
  neighborId,
  predictionId,
  type EvaluationMetrics,
  type NeighborDoc,
  type PredictionDoc,
  type RunRecord,
  type RunStage,
  type ScoredVehicle,
} from '../../shared/domain/prediction.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { AppError, Conflict, InvalidArgument, NotFound, errorMessage } from '../../shared/errors/app-error.js';
import { OFFLINE_HALF_LIFE_MS } from '../../shared/features/event-weights.js';
import type { Lake } from '../../shared/lake/lake.js';
import type { BulkWriteResult, PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { DuckDbLakeReader } from '../lake-reader/duckdb-lake-reader.js';
import { skippedRowCounts, skippedRowTotal, type InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { alignDataset, loadArtefact, saveArtefact, type ModelArtefact, type ModelParams, type RecommenderModel } from '../models/model.js';
import { popularityLists } from '../models/popularity.js';
import { getModel } from '../models/registry.js';
import type { ModelEvaluation } from '../evaluation/protocols.js';
import { ComputePool, shareDataset } from './compute-pool.js';
import { roundScore, runCompute, type ComputeState, type ScoreResult } from './compute-tasks.js';
import { perSecond } from './throughput.js';
import { fnv1a32 } from '../../shared/random/fnv1a.js';

const DAY_MS = 86_400_000;

/** A failed batch run: the reason is recorded in the run record, the previous run stays active. */
export class BatchFailed extends AppError {
  constructor(
    message: string,
    readonly run: RunRecord | undefined,
    cause?: unknown,
  ) {
    super('batch-failed', 500, message, { cause });
  }
}

/** Progress callback: `stage` is a RunStage, `done`/`total` its units (customers, documents, ...). */
export type ProgressFn = (stage: RunStage, done: number, total: number) => void;

/** An operator's override of the quality gate (`--force`), recorded on the run. */
export interface GateOverride {
  reason: string;
}

/** Shard `k` of `n` scores the customers with `shardOf(customerId, n) === k`. */
export interface Shard {
  k: number;
  n: number;
}

/** Settings a batch run reads from the configuration. */
export type BatchConfig = Pick<Config, 'predictionTtlDays' | 'gateNdcgTolerance' | 'gateCoverageTolerance' | 'lookbackDays' | 'topN'>;

export const DEFAULT_BATCH_CONFIG: BatchConfig = {
  predictionTtlDays: 14,
  gateNdcgTolerance: 0.1,
  gateCoverageTolerance: 0.2,
  lookbackDays: 90,
  topN: 100,
};

export interface RunBatchOptions {
  config?: Partial<BatchConfig>;
  lake: Lake;
  store: PredictionStore;
  /** A registered model name (default `item-knn`) or a model object. */
  model?: string | RecommenderModel;
  params?: ModelParams;
  /** ISO-8601 UTC; events strictly before it are used. Default: today 00:00 UTC. */
  asOf?: string;
  runId?: string;
  lookbackDays?: number;
  topN?: number;
  shard?: Shard;
  /** Flip the active-run pointer after the gate (default true). */
  activate?: boolean;
  /** Worker threads for training and scoring (default 2; 0 = inline). */
  threads?: number;
  /** Also count the stored predictions before activating (default false; see finalizeRun). */
  verifyStoredCount?: boolean;
  /** Activate even if the quality gate fails; recorded on the run as `gate.forced` with the reason. */
  force?: GateOverride;
  /** Customers evaluated on the held-out day (evenly sampled; default 20000). */
  evaluationCustomers?: number;
  logger?: Logger;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

export interface BatchResult {
  run: RunRecord;
  activated: boolean;
  /** True when the run finished earlier and this call changed nothing. */
  alreadyDone: boolean;
  /** True when this was a shard and other shards are still missing. */
  waitingForShards: boolean;
}

/** Stable 32-bit hash (FNV-1a) of a customer id; shard = hash % n. */
export function shardOf(customerId: string, n: number): number {
  return fnv1a32(customerId) % n;
}

/** Today 00:00 UTC as ISO-8601. */
export function defaultAsOf(now = Date.now()): string {
  return new Date(Math.floor(now / DAY_MS) * DAY_MS).toISOString();
}

/**
 * Deterministic run id `<asOf date>-<8 hex>` from everything that shapes the output
 * (model, asOf, lookback, topN, params, and `source` = the lake's description): the same inputs give
 * the same run, so a re-run is idempotent.
 */
export function defaultRunId(model: string, asOf: string, lookbackDays: number, topN: number, params: ModelParams, source = ''): string {
  const key = JSON.stringify({ model, asOf: new Date(asOf).toISOString(), lookbackDays, topN, params: Object.fromEntries(Object.entries(params).sort()), source });
  const asOfDate = new Date(asOf).toISOString();
  const stamp = asOfDate.endsWith('T00:00:00.000Z') ? asOfDate.slice(0, 10) : asOfDate.slice(0, 16).replace(/[:]/g, '').replace('T', 't');
  return `${stamp}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** Everything the stage functions share. */
export interface BatchContext {
  lake: Lake;
  store: PredictionStore;
  config: BatchConfig;
  logger: Logger;
  onProgress: ProgressFn;
  signal?: AbortSignal;
  pool: ComputePool;
}

function modulesOf(model: RecommenderModel): string[] {
  return model.module ? [model.module] : [];
}

/**
 * Applies `patch` to `run` and stores it through the store's optimistic `updateRun`, merging in
 * what other shards stored meanwhile (see mergeRunRecord); `run` becomes the stored record.
 */
async function saveRun(store: PredictionStore, run: RunRecord, patch: Partial<RunRecord>): Promise<RunRecord> {
  Object.assign(run, patch);
  const saved = await store.updateRun(run.model, run.runId, (stored) => mergeRunRecord(stored, run));
  return Object.assign(run, saved);
}

/**
 * Adds shard `shard.k` to the run's done shards (after its predictions and, for shard 0, the
 * neighbours are written) in one optimistic update, and says whether this shard finalizes: the
 * one whose update completed the set does, so shards finishing together finalize exactly once.
 * A shard re-run after it was done (`resumed`) finalizes a complete set again.
 */
async function markShardDone(store: PredictionStore, run: RunRecord, shard: Shard, resumed: boolean): Promise<boolean> {
  const complete = (r: RunRecord | undefined) => r?.shards?.total === shard.n && r.shards.done.length >= shard.n;
  let finalizes = false;
  const saved = await store.updateRun(run.model, run.runId, (stored) => {
    const next = mergeRunRecord(stored, { ...run, shards: { total: shard.n, done: [...new Set([...(run.shards?.done ?? []), shard.k])] } });
    next.shards!.done.sort((a, b) => a - b);
    finalizes = complete(next) && (resumed || !complete(stored));
    return next;
  });
  Object.assign(run, saved);
  return finalizes;
}

/**
 * The record to store when this process's view is `mine` and the store holds `stored`: `mine`,
 * plus what other shards of the run contributed meanwhile (their done shards and per-shard
 * prediction counts, the neighbours count and popularity lists shard 0 wrote). Pure.
 */
export function mergeRunRecord(stored: RunRecord | undefined, mine: RunRecord): RunRecord {
  const next = structuredClone(mine);
  if (!stored) return next;
  let sharded = false;
  for (const [key, v] of Object.entries(stored.counts)) {
    if (!key.startsWith('predictions_shard')) continue;
    sharded = true;
    if (next.counts[key] === undefined) next.counts[key] = v;
  }
  if (next.shards && stored.shards?.total === next.shards.total) {
    next.shards = { total: next.shards.total, done: [...new Set([...stored.shards.done, ...next.shards.done])].sort((a, b) => a - b) };
  }
  if (sharded) next.counts.predictionsWritten = Object.entries(next.counts).filter(([key]) => key.startsWith('predictions_shard')).reduce((sum, [, v]) => sum + v, 0);
  let rejectedSharded = false;
  for (const [key, v] of Object.entries(stored.counts)) {
    if (!key.startsWith('predictionsRejected_shard')) continue;
    rejectedSharded = true;
    if (next.counts[key] === undefined) next.counts[key] = v;
  }
  if (rejectedSharded) next.counts.predictionsRejected = Object.entries(next.counts).filter(([key]) => key.startsWith('predictionsRejected_shard')).reduce((sum, [, v]) => sum + v, 0);
  if (next.counts.neighboursWritten === undefined && stored.counts.neighboursWritten !== undefined) next.counts.neighboursWritten = stored.counts.neighboursWritten;
  if (!next.popularity && stored.popularity) next.popularity = stored.popularity;
  return next;
}

/** Stage `read`: the window's interactions and the catalog as of `asOf` (typed arrays in shared memory). */
export async function loadStage(lake: Lake, asOf: string, lookbackDays: number, signal?: AbortSignal): Promise<InteractionDataset> {
  const reader = new DuckDbLakeReader(lake);
  try {
    return shareDataset(await reader.readDataset({ asOf, lookbackDays, signal }));
  } finally {
    reader.close();
  }
}

/**
 * Stage `train`: trains `model` on `data` in a worker thread and writes the artefact to
 * `models/<model>/<runId>/` in the lake. With `reuse`, an artefact already stored for the run is
 * loaded instead (resume). Idempotent.
 */
export async function trainStage(
  ctx: Pick<BatchContext, 'lake' | 'pool'>,
  model: RecommenderModel,
  runId: string,
  data: InteractionDataset,
  params: ModelParams,
  options: { reuse?: boolean } = {},
): Promise<{ artefact: ModelArtefact; reused: boolean }> {
  if (options.reuse !== false) {
    const stored = await loadArtefact(ctx.lake, model.name, runId);
    if (stored) return { artefact: stored, reused: true };
  }
  const artefact = model.module
    ? await ctx.pool.run<ModelArtefact>(0, { op: 'train', model: model.name, modules: modulesOf(model), data, params })
    : model.train(data, params);
  await saveArtefact(ctx.lake, runId, artefact);
  return { artefact, reused: false };
}

/**
 * Stage `evaluate`: the held-out last day. Trains `model` and popularity on
 * `[asOf − lookback, asOf − 1 day)` (catalog as of the cut) and measures them on the day's
 * events (definitions in offline/evaluation/metrics.ts). Runs in a worker thread.
 */
export async function evaluateStage(
  ctx: Pick<BatchContext, 'lake' | 'pool'>,
  model: RecommenderModel,
  data: InteractionDataset,
  params: ModelParams,
  options: { k?: number; maxCustomers?: number } = {},
): Promise<{ metrics: EvaluationMetrics; baseline: EvaluationMetrics; evaluations: ModelEvaluation[] }> {
  const cutMs = data.asOfMs - DAY_MS;
  const reader = new DuckDbLakeReader(ctx.lake);
  let forSaleAtCut: Uint8Array;
  try {
    const catalog = await reader.readCatalog(new Date(cutMs).toISOString()).catch((err: unknown) => {
      if (err instanceof NotFound) return undefined;
      throw err;
    });
    forSaleAtCut = catalog ? Uint8Array.from(data.vehicleIds, (v) => (catalog.forSale.has(v) ? 1 : 0)) : data.forSale;
  } finally {
    reader.close();
  }
  const models = [{ name: model.name, params }];
  if (model.name !== 'popularity') models.push({ name: 'popularity', params: {} });
  const evaluations = await ctx.pool.run<ModelEvaluation[]>(0, {
    op: 'evaluate',
    models,
    modules: modulesOf(model),
    data,
    cutMs,
    forSaleAtCut,
    k: options.k ?? 10,
    maxCustomers: options.maxCustomers ?? 20_000,
  });
  const metrics = evaluations[0]!.metrics;
  const baseline = evaluations[evaluations.length - 1]!.metrics;
  return { metrics, baseline, evaluations };
}

function round(x: number): number {
  return x === 0 ? 0 : roundScore(x);
}

function vehicleAttrs(v: Vehicle | undefined): Omit<Vehicle, 'vehicleId'> | undefined {
  if (!v) return undefined;
  const { vehicleId: _id, ...rest } = v;
  return rest;
}

/** Running totals of a write stage. `rejected`: documents the store refused as invalid (skipped). */
interface WriteTotals {
  written: number;
  retries: number;
  throttled: number;
  rejected: number;
}

/** Records the read stage's skipped rows (ids outside the id alphabet) in the run counts. */
export function recordSkippedRows(counts: Record<string, number>, data: InteractionDataset): void {
  Object.assign(counts, skippedRowCounts(data.stats.skipped));
}

/** Logs the read stage's skipped rows once (counts and a few examples), when there are any. */
export function logSkippedRows(data: InteractionDataset, logger: Logger): void {
  const skipped = data.stats.skipped;
  if (skippedRowTotal(skipped) > 0) {
    logger.warn({ skippedRows: skippedRowCounts(skipped), examples: skipped?.examples }, 'lake rows with an id outside the id alphabet skipped');
  }
}

/**
 * Adds a bulk write result to running totals. Documents the store refused as invalid (status
 * 400: an id Cosmos DB cannot hold) are counted in `rejected` and logged once per stage (the
 * first few): one bad document never fails a run. Throws when other documents failed for good.
 */
function checkWrite(what: string, r: BulkWriteResult, totals: WriteTotals, logger: Logger): void {
  totals.written += r.written;
  totals.retries += r.retries;
  totals.throttled += r.throttled;
  const rejected = r.failed.filter((f) => f.status === 400);
  const failed = rejected.length === r.failed.length ? [] : r.failed.filter((f) => f.status !== 400);
  if (rejected.length > 0) {
    if (totals.rejected === 0) logger.warn({ rejected: rejected.length, examples: rejected.slice(0, 3) }, `${what} documents refused by the store as invalid; skipped`);
    totals.rejected += rejected.length;
  }
  if (failed.length > 0) {
    const first = failed[0]!;
    throw new AppError('write-failed', 503, `${failed.length} ${what} documents not written (first: ${first.id}: ${first.status} ${first.message})`);
  }
}

/** What `scoreShardStage` did. */
export interface ScoreShardResult {
  customers: number;
  written: number;
  /** Predictions the store refused as invalid (skipped, not written). */
  rejected: number;
  retries: number;
  throttled: number;
  distinctVehicles: number;
  emptyLists: number;
  /** Ranked vehicles written, summed over the lists. */
  items: number;
  /** Time the write loop waited for scores, ms (the `score` stage timing). */
  scoreMs: number;
  /** Sum of the (overlapping) bulk writes' durations, ms. */
  writeMs: number;
  /** Wall time from the first bulk write's start to the last one's end, ms (the write stage proper). */
  writeWindowMs: number;
  /**
   * Scoring work itself: per compute slot the sum of its score tasks, the busiest slot's total
   * (the slots run in parallel, so ≈ the wall time of scoring alone with `scoreThreads` threads).
   * `scoreTaskMs` is elapsed time (inflated by whatever else competes for the cores during the
   * pipelined writes); `scoreCpuMs` the threads' CPU time (Linux; undefined elsewhere).
   */
  scoreTaskMs: number;
  scoreCpuMs?: number;
  scoreThreads: number;
  /** Wall time of initScorer on every slot, ms (before the first chunk; part of scoring alone). */
  scoreInitMs: number;
}

/**
 * Stage `score` + `write` for one shard: ranks `topN` for-sale vehicles for every customer of
 * the shard (bought and hidden excluded) in worker threads and bulk-upserts one PredictionDoc
 * per customer (id `<model>:<runId>:<customerId>`, ttl from config), pipelined with scoring.
 * Idempotent (upserts). Returns the counts and the distinct vehicles recommended.
 */
export async function scoreShardStage(
  ctx: BatchContext,
  model: RecommenderModel,
  runId: string,
  artefact: ModelArtefact,
  dataIn: InteractionDataset,
  options: { shard?: Shard; topN: number; params: ModelParams },
): Promise<ScoreShardResult> {
  const data = shareDataset(alignDataset(dataIn, artefact.vehicleIds));
  const customers: number[] = [];
  for (let c = 0; c < data.customerIds.length; c++) {
    if (!options.shard || shardOf(data.customerIds[c]!, options.shard.n) === options.shard.k) customers.push(c);
  }
  const total = customers.length;
  const k = options.topN;
  const useWorkers = Boolean(model.module) && ctx.pool.threads > 0;
  const slots = useWorkers ? ctx.pool.size : 1;
  const inline: ComputeState = {};
  const init0 = Date.now();
  if (useWorkers) {
    await Promise.all(
      Array.from({ length: slots }, (_, i) =>
        ctx.pool.run(i, { op: 'initScorer', model: model.name, modules: modulesOf(model), artefact, data, params: options.params }),
      ),
    );
  } else {
    inline.scorer = model.scorer(artefact, data, options.params);
  }
  const scoreInitMs = Date.now() - init0;
  const scoreChunk = (i: number, chunk: Int32Array): Promise<ScoreResult> =>
    useWorkers
      ? ctx.pool.run<ScoreResult>(i % slots, { op: 'score', customers: chunk, k })
      : new Promise((resolve, reject) => setImmediate(() => runCompute({ op: 'score', customers: chunk, k }, inline).then((r) => resolve(r as ScoreResult), reject)));
  const generatedAt = new Date().toISOString();
  const ttl = ctx.config.predictionTtlDays * 86_400;
  const shown = new Uint8Array(data.vehicleIds.length);
  const totals: WriteTotals = { written: 0, retries: 0, throttled: 0, rejected: 0 };
  let scored = 0;
  let emptyLists = 0;
  let itemsWritten = 0;
  let scoreMs = 0;
  const slotMs = new Array<number>(slots).fill(0);
  const slotCpuMs = new Array<number>(slots).fill(0);
  let cpuKnown = true;
  let writeMs = 0;
  let firstWriteAt: number | undefined;
  let lastWriteEnd = 0;
  const CHUNK = 2_000;
  const chunks: Int32Array[] = [];
  for (let i = 0; i < total; i += CHUNK) chunks.push(Int32Array.from(customers.slice(i, i + CHUNK)));
  const started = Date.now();
  // Score chunk i+1.. on the workers while chunk i is written; at most `slots * 2` chunks ahead.
  const scoring: Promise<ScoreResult>[] = [];
  const launch = (i: number) => {
    if (i >= chunks.length) return;
    const p = scoreChunk(i, chunks[i]!);
    p.catch(() => undefined); // awaited below; avoids an unhandled rejection if we stop early
    scoring[i] = p;
  };
  const ahead = slots * 2;
  for (let i = 0; i < Math.min(ahead, chunks.length); i++) launch(i);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < chunks.length; i++) {
    ctx.signal?.throwIfAborted();
    const t0 = Date.now();
    const res = await scoring[i]!;
    scoreMs += Date.now() - t0;
    delete scoring[i];
    launch(i + ahead);
    slotMs[i % slots] += res.ms;
    if (res.cpuMs === undefined) cpuKnown = false;
    else slotCpuMs[i % slots] += res.cpuMs;
    const ids = chunks[i]!;
    const docs: PredictionDoc[] = new Array(ids.length);
    for (let r = 0; r < ids.length; r++) {
      const n = res.counts[r]!;
      if (n === 0) emptyLists += 1;
      itemsWritten += n;
      const items: ScoredVehicle[] = new Array(n);
      for (let j = 0; j < n; j++) {
        const v = res.items[r * k + j]!;
        shown[v] = 1;
        items[j] = { vehicleId: data.vehicleIds[v]!, score: res.scores[r * k + j]! };
      }
      const customerId = data.customerIds[ids[r]!]!;
      docs[r] = { id: predictionId(model.name, runId, customerId), customerId, model: model.name, runId, generatedAt, items, ttl };
    }
    scored += ids.length;
    ctx.onProgress('score', scored, total);
    // At most two bulk writes in flight: the server stays busy between chunks.
    if (writes.length >= 2) await writes.shift();
    const w = (async () => {
      const w0 = Date.now();
      firstWriteAt ??= w0;
      const r = await ctx.store.upsertPredictions(docs, { concurrency: 8, signal: ctx.signal });
      lastWriteEnd = Date.now();
      writeMs += lastWriteEnd - w0;
      checkWrite('prediction', r, totals, ctx.logger);
      ctx.onProgress('write', totals.written, total);
    })();
    w.catch(() => undefined); // awaited below
    writes.push(w);
  }
  for (const w of writes) await w;
  ctx.logger.debug({ runId, customers: total, ms: Date.now() - started }, 'shard scored and written');
  return {
    customers: total,
    ...totals,
    distinctVehicles: shown.reduce((s, x) => s + x, 0),
    emptyLists,
    items: itemsWritten,
    scoreMs,
    writeMs,
    writeWindowMs: firstWriteAt === undefined ? 0 : lastWriteEnd - firstWriteAt,
    scoreTaskMs: Math.round(Math.max(0, ...slotMs)),
    ...(cpuKnown && chunks.length > 0 ? { scoreCpuMs: Math.round(Math.max(0, ...slotCpuMs)) } : {}),
    scoreThreads: slots,
    scoreInitMs,
  };
}

/**
 * Writes one NeighborDoc per vehicle for sale or with neighbours (the online service's catalog
 * and neighbour table for the run), with the vehicle's attributes. Idempotent.
 */
export async function writeNeighboursStage(
  ctx: BatchContext,
  model: RecommenderModel,
  runId: string,
  artefact: ModelArtefact,
  dataIn: InteractionDataset,
  options: { maxNeighbours?: number } = {},
): Promise<WriteTotals> {
  const data = alignDataset(dataIn, artefact.vehicleIds);
  const nb = model.neighbours?.(artefact);
  const ttl = ctx.config.predictionTtlDays * 86_400;
  const docs: NeighborDoc[] = [];
  const known = nb ? nb.offsets.length - 1 : 0;
  for (let v = 0; v < data.vehicleIds.length; v++) {
    const neighbors: ScoredVehicle[] = [];
    if (nb && v < known) {
      const end = Math.min(nb.offsets[v + 1]!, nb.offsets[v]! + (options.maxNeighbours ?? 50));
      for (let q = nb.offsets[v]!; q < end; q++) neighbors.push({ vehicleId: data.vehicleIds[nb.items[q]!]!, score: round(nb.scores[q]!) });
    }
    if (data.forSale[v] !== 1 && neighbors.length === 0) continue;
    const vehicleId = data.vehicleIds[v]!;
    const vehicle = vehicleAttrs(data.vehicles[v]);
    docs.push({ id: neighborId(model.name, runId, vehicleId), vehicleId, model: model.name, runId, ...(vehicle ? { vehicle } : {}), neighbors, ttl });
  }
  const totals: WriteTotals = { written: 0, retries: 0, throttled: 0, rejected: 0 };
  const r = await ctx.store.upsertNeighbors(docs, { concurrency: 8, signal: ctx.signal, onProgress: (n) => ctx.onProgress('write', n, docs.length) });
  checkWrite('neighbour', r, totals, ctx.logger);
  return totals;
}

/**
 * Quality gate. Sanity (always): predictions written > 0 and catalogue coverage of the written
 * lists > 0. Against the active run, when it evaluated ≥ 1 customer: the candidate must have
 * evaluated ≥ 1 customer too (a candidate without metrics, or with `customers === 0`, cannot be
 * compared and fails), and nDCG ≥ active × (1 − gateNdcgTolerance) and coverage ≥ active ×
 * (1 − gateCoverageTolerance), both from the held-out evaluation. With no active run, or one
 * that evaluated nobody, the sanity checks alone decide. Pure.
 */
export function qualityGate(candidate: RunRecord, active: RunRecord | undefined, config: Pick<BatchConfig, 'gateNdcgTolerance' | 'gateCoverageTolerance'>): { passed: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const written = candidate.counts.predictionsWritten ?? 0;
  if (written <= 0) reasons.push('no prediction written');
  const listCoverage = candidate.counts.forSale ? (candidate.counts.distinctRecommended ?? 0) / candidate.counts.forSale : 0;
  if (!(listCoverage > 0)) reasons.push('catalogue coverage of the lists is 0');
  const m = candidate.metrics;
  const a = active?.metrics;
  if (a && a.customers > 0 && !(m && m.customers > 0)) {
    reasons.push(
      `the candidate evaluated no customer (${m ? 'customers = 0' : 'no metrics'}) but the active run ${active!.runId} did (${a.customers}): nDCG and coverage cannot be compared`,
    );
  } else if (m && a && m.customers > 0 && a.customers > 0) {
    const minNdcg = a.ndcg * (1 - config.gateNdcgTolerance);
    if (m.ndcg < minNdcg) reasons.push(`nDCG@${m.k} ${m.ndcg.toFixed(4)} < ${minNdcg.toFixed(4)} (active run ${active!.runId}: ${a.ndcg.toFixed(4)}, tolerance ${config.gateNdcgTolerance})`);
    const minCov = a.coverage * (1 - config.gateCoverageTolerance);
    if (m.coverage < minCov) reasons.push(`coverage ${m.coverage.toFixed(4)} < ${minCov.toFixed(4)} (active run ${active!.runId}: ${a.coverage.toFixed(4)}, tolerance ${config.gateCoverageTolerance})`);
  }
  return { passed: reasons.length === 0, reasons };
}

/**
 * Stages `gate` + `activate`: checks that every expected prediction was written (acknowledged
 * by the bulk API; with `verifyStoredCount` also `countPredictions` in the store), runs the quality gate against the active run and flips the pointer
 * (optimistic on the pointer's previous value). Never activates a run that is not complete.
 * With `force` a failed gate does not stop activation; the run's `gate` records
 * `forced: true` and the reason (also when the gate passed).
 */
export async function finalizeRun(
  ctx: Pick<BatchContext, 'store' | 'config' | 'logger' | 'onProgress'>,
  run: RunRecord,
  options: { activate?: boolean; verifyStoredCount?: boolean; force?: GateOverride } = {},
): Promise<{ run: RunRecord; activated: boolean }> {
  const { store } = ctx;
  const g0 = Date.now();
  await saveRun(store, run, { stage: 'gate' });
  ctx.onProgress('gate', 0, 1);
  const expected = (run.counts.customers ?? 0) - (run.counts.predictionsRejected ?? 0);
  const written = run.counts.predictionsWritten ?? 0;
  if (written < expected) {
    throw new AppError('incomplete-run', 500, `run ${run.runId} has ${written} of ${expected} predictions written; not activating`);
  }
  // Optional cross-check with the store (a cross-partition COUNT: cheap on Azure, but it can
  // stall a small embedded server for minutes on 200k documents). Every document was already
  // acknowledged by the bulk API, so the tally above is the gate's count.
  if (options.verifyStoredCount) {
    const stored = await store.countPredictions(run.model, run.runId);
    run.counts.predictionsStored = stored;
    if (stored < expected) throw new AppError('incomplete-run', 500, `run ${run.runId} has ${stored} of ${expected} predictions stored; not activating`);
  }
  const pointer = await store.getActiveRun(run.model);
  const active = pointer && pointer.runId !== run.runId ? await store.getRun(run.model, pointer.runId) : undefined;
  const verdict = qualityGate(run, active, ctx.config);
  const gate: NonNullable<RunRecord['gate']> = options.force ? { ...verdict, forced: true, reason: options.force.reason } : verdict;
  run.timings.gate = Date.now() - g0;
  ctx.onProgress('gate', 1, 1);
  if (!gate.passed && gate.forced) {
    ctx.logger.warn({ runId: run.runId, reasons: gate.reasons, reason: gate.reason }, 'quality gate failed; activation forced by the operator');
  } else if (!gate.passed) {
    await saveRun(store, run, { gate, status: 'failed', error: `quality gate failed: ${gate.reasons.join('; ')}`, finishedAt: new Date().toISOString() });
    throw new AppError('gate-failed', 422, `run ${run.runId}: quality gate failed: ${gate.reasons.join('; ')}`);
  }
  await saveRun(store, run, { gate });
  if (options.activate === false) {
    await saveRun(store, run, { status: 'succeeded', finishedAt: new Date().toISOString() });
    return { run, activated: false };
  }
  const a0 = Date.now();
  await saveRun(store, run, { stage: 'activate' });
  const p = await store.activateRun(run.model, run.runId, { expectedRunId: pointer?.runId ?? null });
  run.timings.activate = Date.now() - a0;
  ctx.onProgress('activate', 1, 1);
  await saveRun(store, run, { status: 'succeeded', activatedAt: p.activatedAt, finishedAt: new Date().toISOString() });
  return { run, activated: true };
}

/**
 * One batch run: read → train → evaluate → score → write → gate → activate, the run record in
 * `runs` updated at every stage (status, stage, counts, timings in ms, metrics, error).
 *
 * - Idempotent by runId (default: `defaultRunId`): a succeeded run returns at once; a run that
 *   crashed or failed resumes — the stored artefact and metrics are reused, writes are upserts.
 * - A run is activated only after every prediction is written and counted and the gate passed;
 *   any failure marks the run `failed` with the reason and leaves the previous run active.
 * - Shards: with `shard: {k, n}` only that shard's customers are scored; neighbours and the
 *   popularity lists are written by shard 0; the shard that completes the set finalizes.
 * - A discarded run id is refused (Conflict): pick a new `runId`.
 */
export async function runBatch(options: RunBatchOptions): Promise<BatchResult> {
  const config: BatchConfig = { ...DEFAULT_BATCH_CONFIG, ...options.config };
  const model = typeof options.model === 'object' ? options.model : getModel(options.model ?? 'item-knn');
  const params: ModelParams = { ...model.defaultParams, ...options.params };
  const asOf = new Date(options.asOf ?? defaultAsOf()).toISOString();
  if (Number.isNaN(Date.parse(asOf))) throw new InvalidArgument(`asOf must be an ISO-8601 instant, got "${options.asOf}"`);
  const lookbackDays = options.lookbackDays ?? config.lookbackDays;
  const topN = options.topN ?? config.topN;
  const shard = options.shard;
  if (shard && !(Number.isInteger(shard.k) && Number.isInteger(shard.n) && shard.n >= 1 && shard.k >= 0 && shard.k < shard.n)) {
    throw new InvalidArgument(`shard must be k/n with 0 ≤ k < n, got ${shard.k}/${shard.n}`);
  }
  const runId = options.runId ?? defaultRunId(model.name, asOf, lookbackDays, topN, params, options.lake.description);
  const logger = (options.logger ?? silentLogger()).child({ model: model.name, runId });
  const { store, lake } = options;
  const onProgress: ProgressFn = options.onProgress ?? (() => undefined);

  const existing = await store.getRun(model.name, runId);
  if (existing?.status === 'discarded') throw new Conflict(`run ${runId} was discarded; start a new run id`, { runId });
  if (existing?.status === 'succeeded') {
    const pointer = await store.getActiveRun(model.name);
    const wantActive = options.activate !== false && !existing.activatedAt;
    if (!wantActive || pointer?.runId === runId) return { run: existing, activated: pointer?.runId === runId, alreadyDone: true, waitingForShards: false };
  }
  const now = new Date().toISOString();
  const run: RunRecord = existing ?? {
    id: runId,
    kind: 'run',
    model: model.name,
    runId,
    status: 'pending',
    asOf,
    params: { ...params, lookbackDays, topN },
    counts: {},
    timings: {},
    createdAt: now,
    updatedAt: now,
    ttl: Math.max(config.predictionTtlDays, 30) * 86_400,
  };
  if (existing && existing.asOf !== asOf) throw new Conflict(`run ${runId} exists with asOf ${existing.asOf}, not ${asOf}`, { runId });
  if (shard) run.shards = { total: shard.n, done: run.shards?.total === shard.n ? run.shards.done : [] };
  delete run.error;
  await saveRun(store, run, { status: 'running' });

  // Every concurrent bulk request listens on the signal.
  if (options.signal) setMaxListeners(256, options.signal);
  const pool = new ComputePool(options.threads ?? 2);
  // The evaluation gets a thread of its own so it overlaps training.
  const evalPool = pool.threads > 0 ? new ComputePool(1) : pool;
  const ctx: BatchContext = { lake, store, config, logger, onProgress, signal: options.signal, pool };
  let stage: RunStage = 'read';
  try {
    // read
    let t = Date.now();
    await saveRun(store, run, { stage });
    onProgress('read', 0, 1);
    const data = await loadStage(lake, asOf, lookbackDays, options.signal);
    const forSale = data.forSale.reduce((s, x) => s + x, 0);
    if (forSale === 0) throw new AppError('empty-catalog', 422, `no vehicle is for sale at ${asOf} (catalog snapshot ${data.stats.snapshotDate})`);
    run.timings.read = Date.now() - t;
    Object.assign(run.counts, { events: data.n, duplicates: data.stats.duplicates, customers: data.customerIds.length, vehicles: data.vehicleIds.length, forSale });
    recordSkippedRows(run.counts, data);
    logSkippedRows(data, logger);
    onProgress('read', 1, 1);
    logger.info({ events: data.n, customers: data.customerIds.length, forSale, ms: run.timings.read }, 'read');

    // evaluate: independent of the served model, so it runs on its own thread alongside train
    // (which leaves the second core idle). It is awaited before score + write: those keep both
    // cores busy (client and Cosmos server JSON) and must not compete with it.
    let evaluation: Promise<void> | undefined;
    if (!run.metrics) {
      const evalStarted = Date.now();
      evaluation = evaluateStage({ lake, pool: evalPool }, model, data, params, { maxCustomers: options.evaluationCustomers }).then((ev) => {
        run.metrics = ev.metrics;
        run.baselineMetrics = ev.baseline;
        run.timings.evaluate = Date.now() - evalStarted;
      });
      evaluation.catch(() => undefined); // awaited after train
      // Inline (threads: 0) there is no parallelism to gain: keep the stages in order.
      if (evalPool === pool && pool.threads === 0) {
        stage = 'evaluate';
        await evaluation;
      }
    }

    // train
    stage = 'train';
    t = Date.now();
    await saveRun(store, run, { stage });
    onProgress('train', 0, 1);
    const { artefact, reused } = await trainStage(ctx, model, runId, data, params);
    if (!reused) run.timings.train = Date.now() - t;
    Object.assign(run.counts, Object.fromEntries(Object.entries(artefact.meta).filter(([, v]) => typeof v === 'number')));
    onProgress('train', 1, 1);
    // Progress is reported in stage order (evaluate after train) although it overlaps.
    if (evaluation) {
      onProgress('evaluate', 0, 1);
      stage = 'evaluate';
      await evaluation;
      onProgress('evaluate', 1, 1);
    }

    // score + write
    stage = 'score';
    t = Date.now();
    await saveRun(store, run, { stage });
    const shardKey = shard ? `shard${shard.k}` : 'all';
    const shardDone = shard ? run.shards?.done.includes(shard.k) : (run.counts.predictionsWritten ?? 0) + (run.counts.predictionsRejected ?? 0) === data.customerIds.length;
    if (!shardDone) {
      const s = await scoreShardStage(ctx, model, runId, artefact, data, { shard, topN, params });
      run.timings.score = s.scoreMs;
      run.timings.write = s.writeMs;
      run.counts[`predictions_${shardKey}`] = s.written;
      if (shard) run.counts[`predictionsRejected_${shardKey}`] = s.rejected;
      run.counts.predictionsWritten = s.written;
      run.counts.predictionsRejected = s.rejected;
      run.counts.distinctRecommended = Math.max(run.counts.distinctRecommended ?? 0, s.distinctVehicles);
      run.counts.emptyLists = (run.counts.emptyLists ?? 0) + s.emptyLists;
      run.counts.writeRetries = (run.counts.writeRetries ?? 0) + s.retries;
      run.counts.writeThrottled = (run.counts.writeThrottled ?? 0) + s.throttled;
      run.counts.scoreWriteMs = Date.now() - t;
      // Scoring throughput on its own (the pipelined figure above is the write rate): customers per
      // second of scoring work, on the threads' CPU time where known, else their elapsed time.
      const scoringMs = s.scoreInitMs + (s.scoreCpuMs ?? s.scoreTaskMs);
      run.counts.scoreInitMs = s.scoreInitMs;
      run.counts.scoreTaskMs = s.scoreTaskMs;
      if (s.scoreCpuMs !== undefined) run.counts.scoreCpuMs = s.scoreCpuMs;
      else delete run.counts.scoreCpuMs;
      run.counts.scoreThreads = s.scoreThreads;
      run.counts.scoringPerSec = perSecond(s.customers, scoringMs);
      run.counts.predictionItems = s.items;
      run.counts.writeWindowMs = s.writeWindowMs;
      // Shards finishing concurrently (other processes) are merged in by saveRun, not lost.
      await saveRun(store, run, { stage: 'write' });
    }
    if (!shard || shard.k === 0) {
      if (run.counts.neighboursWritten === undefined) {
        stage = 'write';
        const w = await writeNeighboursStage(ctx, model, runId, artefact, data);
        run.counts.neighboursWritten = w.written;
        run.counts.neighboursRejected = w.rejected;
        run.popularity = popularityLists(data, Number(params.halfLifeDays ?? OFFLINE_HALF_LIFE_MS / DAY_MS) * DAY_MS, 100);
        await saveRun(store, run, { stage: 'write' });
      }
    }
    if (shard && !(await markShardDone(store, run, shard, Boolean(shardDone)))) {
      logger.info({ shards: run.shards }, 'shard done; waiting for the other shards');
      return { run, activated: false, alreadyDone: false, waitingForShards: true };
    }

    stage = 'gate';
    const fin = await finalizeRun(ctx, run, { activate: options.activate, verifyStoredCount: options.verifyStoredCount, force: options.force });
    logger.info({ activated: fin.activated, metrics: run.metrics, timings: run.timings }, 'run finished');
    return { run: fin.run, activated: fin.activated, alreadyDone: false, waitingForShards: false };
  } catch (err) {
    const reason = options.signal?.aborted ? `interrupted during ${stage}: ${errorMessage(options.signal.reason ?? err)}` : `${stage}: ${errorMessage(err)}`;
    try {
      if (run.status !== 'failed') await saveRun(store, run, { status: 'failed', error: reason, finishedAt: new Date().toISOString() });
    } catch (saveErr) {
      logger.error({ err: saveErr }, 'could not record the failure in the run record');
    }
    logger.error({ err, stage }, 'run failed');
    if (err instanceof AppError && err.type === 'gate-failed') throw new BatchFailed(err.message, run, err);
    throw new BatchFailed(`batch run ${runId} failed at ${reason}`, run, err);
  } finally {
    if (evalPool !== pool) await evalPool.close();
    await pool.close();
  }
}

/**
 * Marks a run discarded and deletes its predictions and neighbours. Refuses the active run.
 * Returns the documents deleted.
 */
export async function discardRun(store: PredictionStore, model: string, runId: string): Promise<{ run: RunRecord; deleted: number }> {
  const run = await store.getRun(model, runId);
  if (!run) throw new NotFound(`no run ${runId} of model ${model}`);
  const pointer = await store.getActiveRun(model);
  if (pointer?.runId === runId) throw new Conflict(`run ${runId} is the active run of ${model}; activate another run first`, { runId });
  const deleted = await store.deleteRunDocuments(model, runId);
  await saveRun(store, run, { status: 'discarded', finishedAt: run.finishedAt ?? new Date().toISOString() });
  return { run, deleted };
}

/** Activates a succeeded run (rollback = activating an older one). Refuses runs that did not succeed. */
export async function activateRunChecked(store: PredictionStore, model: string, runId: string): Promise<RunRecord> {
  const run = await store.getRun(model, runId);
  if (!run) throw new NotFound(`no run ${runId} of model ${model}`);
  if (run.status !== 'succeeded') throw new Conflict(`run ${runId} is ${run.status}; only a succeeded run can be activated`, { runId, status: run.status });
  const expected = (run.counts.customers ?? 0) - (run.counts.predictionsRejected ?? 0);
  const stored = await store.countPredictions(model, runId);
  if (stored < expected) throw new Conflict(`run ${runId} has ${stored} of ${expected} predictions stored (expired or deleted?)`, { runId });
  const p = await store.activateRun(model, runId);
  return saveRun(store, run, { activatedAt: p.activatedAt });
}
