import { UnrecoverableError } from 'bullmq';
import type { Config } from '../../shared/config/config.js';
import { AppError, errorMessage } from '../../shared/errors/app-error.js';
import { OFFLINE_HALF_LIFE_MS } from '../../shared/features/event-weights.js';
import type { Lake } from '../../shared/lake/lake.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { RunJobData } from '../../shared/queue/batch-queue.js';
import {
  DEFAULT_BATCH_CONFIG,
  evaluateStage,
  finalizeRun,
  loadStage,
  logSkippedRows,
  recordSkippedRows,
  scoreShardStage,
  trainStage,
  writeNeighboursStage,
  type BatchConfig,
  type BatchContext,
} from '../batch/batch-pipeline.js';
import { ComputePool } from '../batch/compute-pool.js';
import { loadArtefact, type ModelParams, type RecommenderModel } from '../models/model.js';
import { popularityLists } from '../models/popularity.js';
import { getModel } from '../models/registry.js';
import type { BatchStages, FinalizeOutcome, StageContext } from './batch-worker.js';

const DAY_MS = 86_400_000;

export interface PipelineStagesOptions {
  lake: Lake;
  store: PredictionStore;
  /** Batch settings (TTL, gate tolerances, lookback, topN); default from the config defaults. */
  config?: Partial<BatchConfig> | Config;
  /** Compute threads per stage (default 2; 0 = on the worker's own thread). */
  threads?: number;
  /** Customers evaluated on the held-out day (default 20 000). */
  evaluationCustomers?: number;
}

/** A failure that retrying cannot fix (unknown model, empty catalog, gate input errors): fail the job at once. */
function unrecoverable(err: unknown): unknown {
  if (err instanceof AppError && err.status >= 400 && err.status < 500) return new UnrecoverableError(err.message);
  return err;
}

/**
 * The offline batch pipeline (`offline/batch/batch-pipeline.ts`) cut into the queue's stages:
 *
 * - **train**: read the lake window → train → write the artefact to `models/<model>/<runId>/` →
 *   evaluate on the held-out day → write neighbours and popularity lists (once per run).
 * - **score shard k/n**: read the lake window, load the stored artefact, score the shard's customers
 *   (`shardOf(customerId, n) === k`) and upsert their predictions (deterministic ids, so a shard
 *   re-run after a crash overwrites instead of duplicating).
 * - **finalize**: check every prediction is stored, quality gate against the active run, flip the pointer.
 *
 * Counts, timings (ms) and metrics go to the run record through `ctx.updateRun`.
 */
export function createPipelineStages(options: PipelineStagesOptions): BatchStages {
  const { lake, store } = options;
  const src = options.config ?? {};
  const config: BatchConfig = {
    predictionTtlDays: src.predictionTtlDays ?? DEFAULT_BATCH_CONFIG.predictionTtlDays,
    gateNdcgTolerance: src.gateNdcgTolerance ?? DEFAULT_BATCH_CONFIG.gateNdcgTolerance,
    gateCoverageTolerance: src.gateCoverageTolerance ?? DEFAULT_BATCH_CONFIG.gateCoverageTolerance,
    lookbackDays: src.lookbackDays ?? DEFAULT_BATCH_CONFIG.lookbackDays,
    topN: src.topN ?? DEFAULT_BATCH_CONFIG.topN,
  };
  const threads = options.threads ?? 2;

  function modelOf(run: RunJobData): { model: RecommenderModel; params: ModelParams } {
    try {
      const model = getModel(run.model);
      return { model, params: { ...model.defaultParams } };
    } catch (err) {
      throw unrecoverable(err);
    }
  }

  function batchContext(ctx: StageContext, pool: ComputePool, onProgress: BatchContext['onProgress'] = () => undefined): BatchContext {
    return { lake, store, config, logger: ctx.logger, onProgress, signal: ctx.signal, pool };
  }

  async function withPool<T>(fn: (pool: ComputePool) => Promise<T>): Promise<T> {
    const pool = new ComputePool(threads);
    try {
      return await fn(pool);
    } catch (err) {
      throw unrecoverable(err);
    } finally {
      await pool.close();
    }
  }

  return {
    async train(run, ctx) {
      const { model, params } = modelOf(run);
      const record = await ctx.updateRun((r) => {
        r.status = 'running';
        r.stage = 'read';
        r.params = { ...params, lookbackDays: config.lookbackDays, topN: config.topN, shards: run.shards, trigger: run.trigger };
        r.ttl = Math.max(config.predictionTtlDays, 30) * 86_400;
        delete r.error;
      });
      await withPool(async (pool) => {
        const bctx = batchContext(ctx, pool);
        let t = Date.now();
        const data = await loadStage(lake, run.asOf, config.lookbackDays, ctx.signal);
        const forSale = data.forSale.reduce((s, x) => s + x, 0);
        if (forSale === 0) throw new UnrecoverableError(`no vehicle is for sale at ${run.asOf} (catalog snapshot ${data.stats.snapshotDate})`);
        const readMs = Date.now() - t;
        await ctx.updateRun((r) => {
          r.stage = 'train';
          r.timings.read = readMs;
          Object.assign(r.counts, { events: data.n, duplicates: data.stats.duplicates, customers: data.customerIds.length, vehicles: data.vehicleIds.length, forSale });
          recordSkippedRows(r.counts, data);
        });
        logSkippedRows(data, ctx.logger);
        ctx.logger.info({ events: data.n, customers: data.customerIds.length, forSale, ms: readMs }, 'read');

        t = Date.now();
        const { artefact, reused } = await trainStage(bctx, model, run.runId, data, params);
        const trainMs = Date.now() - t;
        const metaCounts = Object.fromEntries(Object.entries(artefact.meta).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
        await ctx.updateRun((r) => {
          r.stage = 'evaluate';
          if (!reused) r.timings.train = trainMs;
          Object.assign(r.counts, metaCounts);
        });

        if (!record.metrics) {
          t = Date.now();
          const ev = await evaluateStage(bctx, model, data, params, { maxCustomers: options.evaluationCustomers });
          const evaluateMs = Date.now() - t;
          await ctx.updateRun((r) => {
            r.metrics = ev.metrics;
            r.baselineMetrics = ev.baseline;
            r.timings.evaluate = evaluateMs;
          });
        }

        if (record.counts.neighboursWritten === undefined) {
          const w = await writeNeighboursStage(bctx, model, run.runId, artefact, data);
          const popularity = popularityLists(data, Number(params.halfLifeDays ?? OFFLINE_HALF_LIFE_MS / DAY_MS) * DAY_MS, 100);
          await ctx.updateRun((r) => {
            r.counts.neighboursWritten = w.written;
            r.counts.neighboursRejected = w.rejected;
            r.popularity = popularity;
          });
        }
      });
    },

    async scoreShard(run, shard, shards, ctx) {
      const { model, params } = modelOf(run);
      return withPool(async (pool) => {
        const t = Date.now();
        const bctx = batchContext(ctx, pool, (stage, done) => {
          if (stage === 'score') ctx.onProgress(done);
        });
        const artefact = await loadArtefact(lake, model.name, run.runId);
        if (!artefact) throw new Error(`artefact models/${model.name}/${run.runId}/ is missing from the lake (${lake.description})`);
        const data = await loadStage(lake, run.asOf, config.lookbackDays, ctx.signal);
        const s = await scoreShardStage(bctx, model, run.runId, artefact, data, { shard: { k: shard, n: shards }, topN: config.topN, params });
        const wallMs = Date.now() - t;
        await ctx.updateRun((r) => {
          r.counts[`predictions_shard${shard}`] = s.written;
          let written = 0;
          for (let k = 0; k < shards; k++) written += r.counts[`predictions_shard${k}`] ?? 0;
          r.counts.predictionsWritten = written;
          r.counts[`predictionsRejected_shard${shard}`] = s.rejected;
          let rejected = 0;
          for (let k = 0; k < shards; k++) rejected += r.counts[`predictionsRejected_shard${k}`] ?? 0;
          r.counts.predictionsRejected = rejected;
          r.counts.distinctRecommended = Math.max(r.counts.distinctRecommended ?? 0, s.distinctVehicles);
          r.counts.emptyLists = (r.counts.emptyLists ?? 0) + s.emptyLists;
          r.counts.writeRetries = (r.counts.writeRetries ?? 0) + s.retries;
          r.counts.writeThrottled = (r.counts.writeThrottled ?? 0) + s.throttled;
          // Slowest shard: the score stage's share of the run's wall time.
          r.timings.score = Math.max(r.timings.score ?? 0, wallMs);
          r.timings.write = Math.max(r.timings.write ?? 0, s.writeMs);
        });
        ctx.logger.info({ shard, shards, customers: s.customers, ms: wallMs }, 'shard scored');
        return { customers: s.customers };
      });
    },

    async finalize(run, ctx): Promise<FinalizeOutcome> {
      const record = await store.getRun(run.model, run.runId);
      if (!record) throw new UnrecoverableError(`run record ${run.model}/${run.runId} is missing`);
      try {
        const fin = await finalizeRun({ store, config, logger: ctx.logger, onProgress: () => undefined }, record, { force: run.force });
        return { activated: fin.activated };
      } catch (err) {
        if (err instanceof AppError && err.type === 'gate-failed') return { activated: false, reasons: record.gate?.reasons ?? [errorMessage(err)] };
        throw unrecoverable(err);
      }
    },
  };
}
