import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Config } from '../../shared/config/config.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import type { Registry } from '../../shared/telemetry/metrics.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import { createBlockingRedis } from '../../shared/redis/redis-connection.js';
import { ConfigError, errorMessage } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import {
  BATCH_JOB,
  BATCH_QUEUE_NAME,
  addShardJobs,
  createBatchQueue,
  releaseRunLock,
  triggerRun,
  type BatchJobData,
  type BatchQueue,
  type NightlyJobData,
  type RunJobData,
  type RunJobPolicy,
  type ShardJobData,
} from '../../shared/queue/batch-queue.js';
import { registerSchedulers, type RegisteredSchedule, type ScheduleDefaults } from '../../shared/queue/batch-schedules.js';
import { createBatchMetrics, type BatchMetrics } from './batch-metrics.js';
import { createPipelineStages } from './pipeline-stages.js';
import { setMaxListeners } from 'node:events';
import { SHARED_SIGNAL_LISTENERS } from '../../shared/time/sleep.js';

/** What a stage gets besides its run: a logger, a stop signal and a progress callback. */
export interface StageContext {
  logger: Logger;
  /** Aborted when the worker shuts down and the grace period is over: stop, the job is handed back. */
  signal: AbortSignal;
  /** Customers scored so far by this shard (score stage only; throttled by the worker). */
  onProgress(scored: number): void;
  /**
   * Read-modify-write of the run record that loses no concurrent update (shards finish
   * concurrently): `mutate` changes a fresh copy of the stored record in place and is re-run on
   * a newer copy when another worker wrote in between, so it must derive everything from its
   * argument. Creates the record when missing. Stages write the record only through this.
   */
  updateRun(mutate: (r: RunRecord) => void | Promise<void>): Promise<RunRecord>;
}

/** Result of the finalize stage. */
export interface FinalizeOutcome {
  /** True when the run passed the quality gate and its pointer was flipped. */
  activated: boolean;
  /** Why the gate rejected the run (when not activated). */
  reasons?: string[];
}

/**
 * The batch job split into the steps the queue distributes (implemented by the offline batch
 * pipeline; see `offline/worker/pipeline-stages.ts`). Every stage must be idempotent per runId:
 * a stage whose worker died is run again, possibly on another machine.
 */
export interface BatchStages {
  /** Reads the lake, trains, evaluates; writes the artefact to `models/<model>/<runId>/` in the lake. */
  train(run: RunJobData, ctx: StageContext): Promise<void>;
  /** Scores shard `shard` of `shards` from the stored artefact and upserts its predictions. Returns customers scored. */
  scoreShard(run: RunJobData, shard: number, shards: number, ctx: StageContext): Promise<{ customers: number }>;
  /** Quality gate and activation. Must leave the previous run active when the gate fails. */
  finalize(run: RunJobData, ctx: StageContext): Promise<FinalizeOutcome>;
}

/** BullMQ worker settings (defaults suit nightly runs; tests shorten them). */
export interface WorkerTuning {
  /** Jobs this worker runs at once (default config.workerConcurrency). */
  concurrency?: number;
  /** Lock of an active job (ms, default 120 000): a worker that stops renewing it for this long is considered dead. */
  lockDuration?: number;
  /** How often stalled jobs are looked for (ms, default 30 000). */
  stalledInterval?: number;
  /** Times a job may stall before it fails for good (default 2). */
  maxStalledCount?: number;
  /** How long `close()` lets running jobs finish before asking them to stop and handing them back (ms, default 60 000). */
  graceMs?: number;
}

export interface StartWorkerOptions {
  config: Config;
  logger: Logger;
  store: PredictionStore;
  /** The lake the default stages read and write (required unless `stages` is given). */
  lake?: Lake;
  /** The batch stages (default: the offline pipeline on `lake` and `store`, see createPipelineStages). */
  stages?: BatchStages;
  /** Compute threads per stage of the default stages (default 2). */
  threads?: number;
  /** Metrics registry of the process (optional). */
  registry?: Registry;
  /** An existing batch queue (default: one on config.redisUrl / config.redisPrefix, closed by `close()`). */
  batch?: BatchQueue;
  /** Register every model's nightly scheduler at start (default true). */
  registerSchedules?: boolean;
  /** Models with a nightly schedule (default [config.defaultModel]). */
  models?: string[];
  tuning?: WorkerTuning;
  policy?: Partial<RunJobPolicy>;
}

export interface BatchWorkerHandle {
  readonly batch: BatchQueue;
  readonly worker: Worker<BatchJobData>;
  readonly schedules: RegisteredSchedule[];
  /** Stops taking jobs, lets running ones finish (within graceMs, then hands them back) and closes connections. Idempotent. */
  close(): Promise<void>;
}

/** The default schedule of every model from the config. */
export function scheduleDefaults(config: Config, models?: string[]): ScheduleDefaults {
  return { models: models ?? [config.defaultModel], cron: config.nightlyCron, tz: config.nightlyTimeZone };
}

/**
 * Starts a BullMQ worker on the batch queue: nightly triggers, train, score shards, finalize.
 * Registers the nightly schedulers (idempotently) unless `registerSchedules: false`.
 * Stalled-job recovery is on: a job whose worker died goes back to the queue after
 * `lockDuration` and runs on another worker; stages are idempotent per runId.
 */
export async function startWorker(options: StartWorkerOptions): Promise<BatchWorkerHandle> {
  const { config, logger, store } = options;
  let stages = options.stages;
  if (!stages) {
    if (!options.lake) throw new ConfigError('startWorker needs `lake` (or explicit `stages`)');
    stages = createPipelineStages({ lake: options.lake, store, config, threads: options.threads });
  }
  const tuning = options.tuning ?? {};
  const ownBatch = options.batch === undefined;
  const batch = options.batch ?? createBatchQueue(config.redisUrl, config.redisPrefix, { policy: options.policy });
  const models = options.models ?? [config.defaultModel];
  const metrics = options.registry ? createBatchMetrics(options.registry, { queue: batch.queue, store, models: () => models }) : undefined;
  const shutdown = new AbortController();
  // Every concurrent operation of the jobs waits on this one signal (bulk requests: the Cosmos SDK
  // adds a listener per request in flight; sleeps): many listeners at once are expected, bounded by
  // the jobs' concurrency. The bound keeps Node's leak warning for real leaks.
  setMaxListeners(SHARED_SIGNAL_LISTENERS, shutdown.signal);

  const connection = createBlockingRedis(batch.redisUrl, 'batch-worker');
  connection.on('error', () => {});
  const processor = createProcessor({ batch, store, stages, logger, metrics, signal: shutdown.signal });
  const worker = new Worker<BatchJobData>(BATCH_QUEUE_NAME, processor, {
    connection,
    prefix: batch.bullPrefix,
    concurrency: tuning.concurrency ?? config.workerConcurrency,
    lockDuration: tuning.lockDuration ?? 120_000,
    stalledInterval: tuning.stalledInterval ?? 30_000,
    maxStalledCount: tuning.maxStalledCount ?? 2,
    autorun: false,
  });
  worker.on('error', (err) => logger.warn({ err: errorMessage(err) }, 'batch worker error'));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const data = job.data as Partial<RunJobData>;
    logger.warn({ job: job.id, name: job.name, runId: data.runId, attempt: job.attemptsMade, err: err.message }, 'batch job attempt failed');
    metrics?.failures.inc({ model: data.model ?? 'unknown', stage: job.name });
  });
  worker.on('stalled', (jobId) => logger.warn({ job: jobId }, 'batch job stalled (its worker died); requeued'));

  let schedules: RegisteredSchedule[] = [];
  if (options.registerSchedules !== false) {
    schedules = await registerSchedulers(batch, scheduleDefaults(config, models));
    for (const s of schedules) logger.info(s, 'nightly schedule');
  }
  void worker.run().catch((err) => logger.error({ err: errorMessage(err) }, 'batch worker stopped'));
  await worker.waitUntilReady();
  logger.info({ concurrency: worker.concurrency, prefix: batch.bullPrefix }, 'batch worker started');

  let closing: Promise<void> | undefined;
  return {
    batch,
    worker,
    schedules,
    close() {
      closing ??= (async () => {
        const grace = setTimeout(() => shutdown.abort(new Error('worker shutting down')), tuning.graceMs ?? 60_000);
        grace.unref();
        try {
          await worker.close();
        } finally {
          clearTimeout(grace);
          await connection.quit().catch(() => {});
          if (ownBatch) await batch.close();
        }
        logger.info('batch worker stopped');
      })();
      return closing;
    },
  };
}

interface ProcessorDeps {
  batch: BatchQueue;
  store: PredictionStore;
  stages: BatchStages;
  logger: Logger;
  metrics?: BatchMetrics;
  signal: AbortSignal;
}

/** Builds the processor of the batch queue (exported for workers embedded elsewhere). */
export function createProcessor(deps: ProcessorDeps): (job: Job<BatchJobData>, token?: string) => Promise<unknown> {
  const { batch, store, stages, logger, metrics, signal } = deps;
  const runs = new RunRecordWriter(batch, store);

  async function timed<T>(run: RunJobData, stage: string, fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    try {
      return await fn();
    } catch (err) {
      outcome = 'error';
      throw err;
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics?.stageDuration.observe({ model: run.model, stage, outcome }, seconds);
    }
  }

  function finished(run: RunJobData, outcome: 'succeeded' | 'failed' | 'rejected') {
    metrics?.runs.inc({ model: run.model, outcome });
    const seconds = (Date.now() - Date.parse(run.requestedAt)) / 1000;
    if (Number.isFinite(seconds)) metrics?.runDuration.observe({ model: run.model, outcome }, seconds);
  }

  async function handBackIfStopping(job: Job<BatchJobData>, token: string | undefined, err: unknown): Promise<never> {
    if (signal.aborted && token) {
      logger.info({ job: job.id }, 'worker stopping: job handed back to the queue');
      await job.moveToWait(token);
      throw new WaitingError();
    }
    throw err;
  }

  async function nightly(job: Job<BatchJobData>) {
    const data = job.data as NightlyJobData;
    const result = await triggerRun(batch, { model: data.model, shards: data.shards, trigger: 'nightly' });
    logger.info({ model: data.model, runId: result.runId, alreadyInFlight: result.alreadyInFlight }, 'nightly trigger');
    return result;
  }

  async function train(job: Job<BatchJobData>, token?: string) {
    const run = job.data as RunJobData;
    const ctx: StageContext = { logger: logger.child({ runId: run.runId, stage: 'train' }), signal, onProgress() {}, updateRun: (m) => runs.update(run, m) };
    await runs.update(run, (r) => {
      r.status = 'running';
      r.stage = 'train';
    });
    await job.updateProgress({ stage: 'train' });
    try {
      await timed(run, 'train', () => stages.train(run, ctx));
    } catch (err) {
      await handBackIfStopping(job, token, err);
    }
    await addShardJobs(batch, run);
    await runs.update(run, (r) => {
      r.stage = 'score';
    });
    return { stage: 'train', shards: run.shards };
  }

  async function score(job: Job<BatchJobData>, token?: string) {
    const data = job.data as ShardJobData;
    const { shard, shards } = data;
    let lastWrite = 0;
    let pending: Promise<void> = Promise.resolve();
    const report = (scored: number, force = false) => {
      const now = Date.now();
      if (!force && now - lastWrite < 1000) return;
      lastWrite = now;
      pending = pending
        .then(() => job.updateProgress({ stage: 'score', shard, scored }))
        .then(() => runs.shardProgress(data, shard, scored))
        .catch((err) => logger.debug({ err: errorMessage(err) }, 'progress update failed'));
    };
    const ctx: StageContext = {
      logger: logger.child({ runId: data.runId, stage: 'score', shard }),
      signal,
      onProgress: (n) => report(n),
      updateRun: (m) => runs.update(data, m),
    };
    await runs.shardProgress(data, shard, 0);
    let customers = 0;
    try {
      ({ customers } = await timed(data, 'score', () => stages.scoreShard(data, shard, shards, ctx)));
    } catch (err) {
      await pending;
      await handBackIfStopping(job, token, err);
    }
    await pending;
    await runs.shardDone(data, shard, customers);
    return { stage: 'score', shard, customers };
  }

  async function finalize(job: Job<BatchJobData>) {
    const run = job.data as RunJobData;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const ctx: StageContext = { logger: logger.child({ runId: run.runId, stage: 'finalize' }), signal, onProgress() {}, updateRun: (m) => runs.update(run, m) };
    try {
      const failures = await job.getIgnoredChildrenFailures();
      const failed = Object.entries(failures);
      if (failed.length > 0) {
        const reasons = failed.map(([key, reason]) => `${jobLabel(key)} failed: ${reason}`);
        await runs.update(run, (r) => {
          r.status = 'failed';
          r.error = reasons.join('; ');
          r.finishedAt = new Date().toISOString();
        });
        finished(run, 'failed');
        logger.error({ runId: run.runId, model: run.model, reasons }, 'batch run failed; the previous run stays active');
        await releaseRunLock(batch, run.model, run.runId);
        return { stage: 'finalize', activated: false, reasons };
      }
      await runs.update(run, (r) => {
        r.stage = 'gate';
      });
      const outcome = await timed(run, 'finalize', () => stages.finalize(run, ctx));
      const record = await store.getRun(run.model, run.runId);
      if (outcome.activated) {
        if (record && record.status !== 'succeeded') {
          await runs.update(run, (r) => {
            const now = new Date().toISOString();
            r.status = 'succeeded';
            r.finishedAt ??= now;
            r.activatedAt ??= now;
          });
        }
        finished(run, 'succeeded');
        metrics?.markSuccess(run.model, new Date());
      } else {
        finished(run, 'rejected');
        if (record && record.status !== 'failed') {
          await runs.update(run, (r) => {
            r.status = 'failed';
            r.error ??= `quality gate failed: ${(outcome.reasons ?? []).join('; ') || 'no reason given'}`;
            r.finishedAt ??= new Date().toISOString();
          });
        }
        logger.warn({ runId: run.runId, model: run.model, reasons: outcome.reasons }, 'batch run rejected by the quality gate; the previous run stays active');
      }
      await releaseRunLock(batch, run.model, run.runId);
      return { stage: 'finalize', ...outcome };
    } catch (err) {
      if (lastAttempt || err instanceof UnrecoverableError) {
        await runs
          .update(run, (r) => {
            r.status = 'failed';
            r.error = `finalize failed: ${errorMessage(err)}`;
            r.finishedAt = new Date().toISOString();
          })
          .catch(() => {});
        finished(run, 'failed');
        await releaseRunLock(batch, run.model, run.runId).catch(() => {});
      }
      throw err;
    }
  }

  return async (job, token) => {
    switch (job.name) {
      case BATCH_JOB.nightly:
        return nightly(job);
      case BATCH_JOB.train:
        return train(job, token);
      case BATCH_JOB.score:
        return score(job, token);
      case BATCH_JOB.finalize:
        return finalize(job);
      default:
        throw new UnrecoverableError(`unknown batch job "${job.name}"`);
    }
  };
}

/** `bull:batch:<runId>-score-2` → `score shard 2`. */
function jobLabel(key: string): string {
  const id = key.slice(key.lastIndexOf(':') + 1);
  const shard = /-score-(\d+)$/.exec(id);
  if (shard) return `score shard ${shard[1]}`;
  if (id.endsWith('-train')) return 'train';
  return id;
}

/**
 * Read-modify-write of run records from several workers at once, through the store's
 * optimistic `updateRun` (etag-checked; a conflicting update is re-read and re-applied, so no
 * update is lost and no lock can expire under a slow write). Shard progress is kept in a Redis
 * hash so a retried shard restarts its own count, and the record shows the sum.
 */
class RunRecordWriter {
  constructor(
    private readonly batch: BatchQueue,
    private readonly store: PredictionStore,
  ) {}

  private progressKey(runId: string) {
    return `${this.batch.keyPrefix}batch:progress:${runId}`;
  }

  /** `mutate` changes a private copy of the current record in place; it may run more than once. */
  update(run: RunJobData, mutate: (r: RunRecord) => void | Promise<void>): Promise<RunRecord> {
    return this.store.updateRun(run.model, run.runId, async (current) => {
      const record = current ?? newRunRecord(run, new Date().toISOString());
      await mutate(record);
      return record;
    });
  }

  async shardProgress(run: ShardJobData, shard: number, scored: number): Promise<void> {
    const key = this.progressKey(run.runId);
    await this.batch.redis.multi().hset(key, String(shard), String(scored)).pexpire(key, 7 * 24 * 3600 * 1000).exec();
    await this.update(run, async (r) => {
      r.stage = 'score';
      r.counts = { ...r.counts, scored: await this.scoredTotal(run.runId) };
    });
  }

  async shardDone(run: ShardJobData, shard: number, customers: number): Promise<void> {
    await this.batch.redis.hset(this.progressKey(run.runId), String(shard), String(customers));
    await this.update(run, async (r) => {
      const done = new Set(r.shards?.done ?? []);
      done.add(shard);
      r.shards = { total: run.shards, done: [...done].sort((a, b) => a - b) };
      r.counts = { ...r.counts, scored: await this.scoredTotal(run.runId) };
    });
  }

  private async scoredTotal(runId: string): Promise<number> {
    const all = await this.batch.redis.hvals(this.progressKey(runId));
    return all.reduce((s, v) => s + Number(v), 0);
  }
}

function newRunRecord(run: RunJobData, now: string): RunRecord {
  return {
    id: run.runId,
    kind: 'run',
    model: run.model,
    runId: run.runId,
    status: 'pending',
    asOf: run.asOf,
    params: { shards: run.shards, trigger: run.trigger, requestedAt: run.requestedAt },
    counts: {},
    timings: {},
    shards: { total: run.shards, done: [] },
    createdAt: now,
    updatedAt: now,
  };
}

