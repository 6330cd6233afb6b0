import { randomBytes } from 'node:crypto';
import { FlowProducer, Queue, type JobsOptions, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import { createBlockingRedis, createRedis } from '../redis/redis-connection.js';
import { Conflict, InvalidArgument, Unavailable, errorMessage } from '../errors/app-error.js';
import type { RunRecord } from '../domain/prediction.js';
import type { PredictionStore } from '../prediction-store/prediction-store.js';

/** The one BullMQ queue of batch runs: nightly triggers, train, score shards, finalize. */
export const BATCH_QUEUE_NAME = 'batch';

/** Job names of the batch queue. A run is the flow train → score-0..n−1 → finalize. */
export const BATCH_JOB = {
  /** Fired by a model's job scheduler; triggers a run (unless one is in flight). */
  nightly: 'nightly',
  train: 'train',
  score: 'score',
  /** Parent of train and the score shards: quality gate and activation, or failure. */
  finalize: 'finalize',
} as const;
export type BatchJobName = (typeof BATCH_JOB)[keyof typeof BATCH_JOB];

/** Who asked for a run. */
export type RunTrigger = 'manual' | 'nightly';

/** Payload of train and finalize jobs: everything a stage needs to find its run. */
export interface RunJobData {
  model: string;
  runId: string;
  /** ISO-8601 UTC: events strictly before this instant are used. */
  asOf: string;
  /** Number of score shards (≥ 1). */
  shards: number;
  trigger: RunTrigger;
  /** ISO-8601 UTC. */
  requestedAt: string;
  /** Activate even if the quality gate fails (an operator's `--force`); recorded on the run as `gate.forced`. */
  force?: { reason: string };
}

/** Payload of a score job: shard `shard` of `data.shards` (customers with hash % shards == shard). */
export interface ShardJobData extends RunJobData {
  shard: number;
}

/** Payload of the jobs a model's scheduler produces. */
export interface NightlyJobData {
  model: string;
  shards?: number;
}

export type BatchJobData = RunJobData | ShardJobData | NightlyJobData;

/** Default shards of a run when the trigger names none. */
export const DEFAULT_SHARDS = 1;
export const MAX_SHARDS = 256;

/** Retry policy of the run's jobs (attempts include the first one). */
export interface RunJobPolicy {
  trainAttempts: number;
  scoreAttempts: number;
  finalizeAttempts: number;
  /** First retry delay (ms); doubles per attempt. */
  backoffMs: number;
}

export const DEFAULT_RUN_JOB_POLICY: RunJobPolicy = { trainAttempts: 2, scoreAttempts: 3, finalizeAttempts: 3, backoffMs: 5000 };

/**
 * The batch queue and everything that talks to it: BullMQ Queue + FlowProducer, and a plain
 * Redis connection for the per-model run lock and the schedule settings.
 * Build one per process in the composition root; `close()` closes all three connections.
 */
export interface BatchQueue {
  readonly queue: Queue<BatchJobData>;
  readonly flows: FlowProducer;
  /** Non-blocking connection for locks and settings (keys under `keyPrefix`). */
  readonly redis: Redis;
  /** Prefix of showroom's own keys, e.g. `showroom:`. */
  readonly keyPrefix: string;
  /** BullMQ key prefix (`<keyPrefix>bull`); workers must use the same. */
  readonly bullPrefix: string;
  readonly redisUrl: string;
  readonly policy: RunJobPolicy;
  close(): Promise<void>;
}

/**
 * Creates the batch queue on `redisUrl`. `prefix` is showroom's key prefix (config.redisPrefix,
 * e.g. `showroom:`; tests use a unique one): BullMQ keys live under `<prefix>bull:batch:*`,
 * the run locks under `<prefix>batch:lock:<model>`, schedule settings in `<prefix>batch:schedules`.
 */
export function createBatchQueue(redisUrl: string, prefix: string, options: { policy?: Partial<RunJobPolicy> } = {}): BatchQueue {
  const bullPrefix = `${prefix}bull`;
  const queueConnection = createBlockingRedis(redisUrl, 'batch-queue');
  const flowConnection = createBlockingRedis(redisUrl, 'batch-flows');
  const redis = createRedis(redisUrl, 'batch-lock', { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
  for (const c of [queueConnection, flowConnection, redis]) c.on('error', () => {});
  const queue = new Queue<BatchJobData>(BATCH_QUEUE_NAME, { connection: queueConnection, prefix: bullPrefix });
  const flows = new FlowProducer({ connection: flowConnection, prefix: bullPrefix });
  queue.on('error', () => {});
  flows.on('error', () => {});
  let closed: Promise<void> | undefined;
  return {
    queue,
    flows,
    redis,
    keyPrefix: prefix,
    bullPrefix,
    redisUrl,
    policy: { ...DEFAULT_RUN_JOB_POLICY, ...options.policy },
    close() {
      closed ??= (async () => {
        await Promise.allSettled([queue.close(), flows.close()]);
        await Promise.allSettled([queueConnection.quit(), flowConnection.quit(), redis.quit()]);
      })();
      return closed;
    },
  };
}

/** Deterministic BullMQ job ids of a run (BullMQ forbids `:` in custom ids). */
export const runJobIds = {
  train: (runId: string) => `${runId}-train`,
  shard: (runId: string, shard: number) => `${runId}-score-${shard}`,
  finalize: (runId: string) => `${runId}-finalize`,
};

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Throws InvalidArgument unless `model` is a valid model name (letters, digits, `.`, `_`, `-`; ≤ 64). */
export function assertModelName(model: string): void {
  if (!MODEL_NAME.test(model)) {
    throw new InvalidArgument(`invalid model name "${model}": letters, digits, ".", "_" and "-", at most 64`, [
      { field: 'model', message: 'letters, digits, ".", "_" and "-", at most 64' },
    ]);
  }
}

/** A new run id: UTC timestamp plus randomness, sortable by creation (`20261127T223000Z-3f9a1c`). */
export function newRunId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${ts}-${randomBytes(3).toString('hex')}`;
}

export interface TriggerRunRequest {
  model: string;
  /** ISO-8601 UTC; events strictly before it are used. Default: today 00:00 UTC (whole days, like `showroom batch run`). */
  asOf?: string;
  /** Score shards, 1..256 (default 1). */
  shards?: number;
  trigger?: RunTrigger;
  /** A run id of your own (letters, digits, `.`, `_`, `-`; ≤ 100); default: newRunId(). */
  runId?: string;
  /** Override a failing quality gate, with the reason recorded on the run (see RunJobData.force). */
  force?: { reason: string };
}

export interface TriggerRunResult {
  runId: string;
  /** True when a run of this model was already in flight: `runId` is that run's id, nothing new started. */
  alreadyInFlight: boolean;
  model: string;
  asOf?: string;
  shards?: number;
}

/** A lock that never got its flow (the trigger crashed) is considered stale after this long. */
const ORPHAN_LOCK_MS = 60_000;
/** Last-resort expiry of a run lock; finalize releases it long before. */
const LOCK_TTL_MS = 7 * 24 * 3600 * 1000;
const LIVE_STATES = new Set<JobState | 'unknown'>(['waiting', 'waiting-children', 'active', 'delayed', 'prioritized']);

const lockKey = (batch: BatchQueue, model: string) => `${batch.keyPrefix}batch:lock:${model}`;

/** Lua: replace the lock only if it still holds `expected`. */
const CAS_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;
/** Lua: delete the lock only if it belongs to run ARGV[1]. */
const RELEASE_LOCK = `local v = redis.call('GET', KEYS[1]) if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then return redis.call('DEL', KEYS[1]) end return 0`;

function parseLock(value: string): { runId: string; at: number } {
  const [runId, at] = value.split(' ');
  return { runId: runId ?? '', at: Number(at ?? 0) };
}

/**
 * The id of the model's run in flight, or undefined. A lock whose run's finalize job is gone,
 * completed or failed (or that never got its flow within a minute) does not count.
 */
export async function runInFlight(batch: BatchQueue, model: string): Promise<string | undefined> {
  const value = await batch.redis.get(lockKey(batch, model));
  if (value === null) return undefined;
  return (await lockIsLive(batch, value)) ? parseLock(value).runId : undefined;
}

async function lockIsLive(batch: BatchQueue, value: string): Promise<boolean> {
  const { runId, at } = parseLock(value);
  const state = await batch.queue.getJobState(runJobIds.finalize(runId));
  if (LIVE_STATES.has(state)) return true;
  return state === 'unknown' && Date.now() - at < ORPHAN_LOCK_MS;
}

/**
 * Starts a batch run of `request.model` as a BullMQ flow: `finalize` is the parent of `train`;
 * train adds the score shards to finalize when the model artefact is written.
 *
 * At most one run per model is in flight: the run takes the Redis lock `<prefix>batch:lock:<model>`
 * (SET NX) before its flow is added, and finalize releases it when the run succeeds or fails.
 * A second trigger while a run is in flight starts nothing and answers `{ runId: <the run in
 * flight>, alreadyInFlight: true }` (the API answers 409 with that id). A stale lock (its run's
 * finalize job is finished or gone) is taken over atomically.
 *
 * @throws InvalidArgument for a bad model name, asOf or shard count; Unavailable when Redis fails.
 */
export async function triggerRun(batch: BatchQueue, request: TriggerRunRequest): Promise<TriggerRunResult> {
  const { model } = request;
  assertModelName(model);
  const shards = request.shards ?? DEFAULT_SHARDS;
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new InvalidArgument(`shards must be an integer between 1 and ${MAX_SHARDS}, got ${shards}`, [{ field: 'shards', message: `1..${MAX_SHARDS}` }]);
  }
  let asOf: string;
  if (request.asOf === undefined) asOf = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString();
  else {
    const d = new Date(request.asOf);
    if (Number.isNaN(d.getTime())) throw new InvalidArgument(`asOf must be an ISO-8601 timestamp, got "${request.asOf}"`, [{ field: 'asOf', message: 'ISO-8601' }]);
    asOf = d.toISOString();
  }
  if (request.runId !== undefined && !RUN_ID.test(request.runId)) {
    throw new InvalidArgument(`invalid runId "${request.runId}": letters, digits, ".", "_" and "-", at most 100`, [{ field: 'runId', message: 'letters, digits, ".", "_", "-"' }]);
  }
  const runId = request.runId ?? newRunId();
  const key = lockKey(batch, model);
  const mine = `${runId} ${Date.now()}`;
  try {
    for (let attempt = 0; ; attempt++) {
      const set = await batch.redis.set(key, mine, 'PX', LOCK_TTL_MS, 'NX');
      if (set === 'OK') break;
      const held = await batch.redis.get(key);
      if (held === null) continue;
      if (await lockIsLive(batch, held)) return { runId: parseLock(held).runId, alreadyInFlight: true, model };
      const took = await batch.redis.eval(CAS_LOCK, 1, key, held, mine, String(LOCK_TTL_MS));
      if (took === 1) break;
      if (attempt > 5) throw new Unavailable(`could not take the run lock of model ${model}: contended`);
    }
    const data: RunJobData = { model, runId, asOf, shards, trigger: request.trigger ?? 'manual', requestedAt: new Date().toISOString(), ...(request.force ? { force: request.force } : {}) };
    try {
      if (request.runId !== undefined && (await batch.queue.getJobState(runJobIds.finalize(runId))) !== 'unknown') {
        throw new Conflict(`run id ${runId} was already used; pick another`, { runId, model });
      }
      await addRunFlow(batch, data);
    } catch (err) {
      await releaseRunLock(batch, model, runId).catch(() => {});
      throw err;
    }
    return { runId, alreadyInFlight: false, model, asOf, shards };
  } catch (err) {
    if (err instanceof InvalidArgument || err instanceof Unavailable || err instanceof Conflict) throw err;
    throw new Unavailable(`could not trigger a run of ${model}: ${errorMessage(err)}`, err);
  }
}

const KEEP_COMPLETED = { age: 14 * 24 * 3600, count: 2000 };
const KEEP_FAILED = { age: 30 * 24 * 3600, count: 2000 };

/** Options of a run's child jobs (train, shards): a child that fails for good still lets finalize run. */
export function childJobOptions(batch: BatchQueue, attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: batch.policy.backoffMs },
    ignoreDependencyOnFailure: true,
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
}

async function addRunFlow(batch: BatchQueue, data: RunJobData): Promise<void> {
  await batch.flows.add({
    name: BATCH_JOB.finalize,
    queueName: BATCH_QUEUE_NAME,
    data,
    opts: {
      jobId: runJobIds.finalize(data.runId),
      attempts: batch.policy.finalizeAttempts,
      backoff: { type: 'exponential', delay: batch.policy.backoffMs },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    },
    children: [
      {
        name: BATCH_JOB.train,
        queueName: BATCH_QUEUE_NAME,
        data,
        opts: { jobId: runJobIds.train(data.runId), ...childJobOptions(batch, batch.policy.trainAttempts) },
      },
    ],
  });
}

/**
 * Adds the score shards 0..n−1 of a run as children of its finalize job. Idempotent: the job
 * ids are deterministic, so a retried train adds nothing twice.
 */
export async function addShardJobs(batch: BatchQueue, data: RunJobData): Promise<void> {
  const parent = { id: runJobIds.finalize(data.runId), queue: batch.queue.qualifiedName };
  await batch.queue.addBulk(
    Array.from({ length: data.shards }, (_, shard) => ({
      name: BATCH_JOB.score,
      data: { ...data, shard } satisfies ShardJobData,
      opts: { jobId: runJobIds.shard(data.runId, shard), parent, ...childJobOptions(batch, batch.policy.scoreAttempts) },
    })),
  );
}

/** Releases the model's run lock if run `runId` holds it. Returns true when released. */
export async function releaseRunLock(batch: BatchQueue, model: string, runId: string): Promise<boolean> {
  return (await batch.redis.eval(RELEASE_LOCK, 1, lockKey(batch, model), runId)) === 1;
}

/**
 * The `triggerRun` dependency of the HTTP API (`createApp({ triggerRun })`, `POST /v1/models/:model/runs`):
 * queues a run and resolves `{ model, runId, asOf, shards, status: 'queued' }` (the API answers 202);
 * throws Conflict with `details.runId` = the run in flight when one is (the API answers 409).
 * `force` is accepted and ignored: at most one run per model is ever in flight.
 */
export function createRunTrigger(
  batch: BatchQueue,
): (model: string, options: { runId?: string; asOf?: string; shards?: number; force?: boolean }) => Promise<Record<string, unknown>> {
  return async (model, options) => {
    const r = await triggerRun(batch, { model, asOf: options.asOf, shards: options.shards, runId: options.runId, trigger: 'manual' });
    if (r.alreadyInFlight) throw new Conflict(`a run of model ${model} is already in flight: ${r.runId}`, { runId: r.runId, model });
    return { model, runId: r.runId, asOf: r.asOf, shards: r.shards, status: 'queued' };
  };
}

/** Statuses after which a run record no longer changes (until someone activates or discards it). */
const FINAL_STATUSES = new Set(['succeeded', 'failed', 'discarded']);

/**
 * Polls the run record until the run succeeded, failed or was discarded; `onUpdate` sees every
 * version read. Reads that fail with Unavailable (a store busy with the run's writes) are retried.
 * Resolves with the final record; rejects with Unavailable after `timeoutMs` (default: never) and
 * with the signal's reason when aborted.
 */
export async function waitForRun(
  store: Pick<PredictionStore, 'getRun'>,
  model: string,
  runId: string,
  options: {
    intervalMs?: number;
    timeoutMs?: number;
    signal?: AbortSignal;
    onUpdate?: (run: RunRecord | undefined) => void;
    /** A read that failed with Unavailable (polling goes on). */
    onError?: (err: unknown) => void;
  } = {},
): Promise<RunRecord> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let last: RunRecord | undefined;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      last = await store.getRun(model, runId);
      lastError = undefined;
      options.onUpdate?.(last);
      if (last && FINAL_STATUSES.has(last.status)) return last;
    } catch (err) {
      // A store busy with the run's own writes may time out a read: keep polling until the deadline.
      if (!(err instanceof Unavailable)) throw err;
      lastError = err;
      options.onError?.(err);
    }
    if (Date.now() > deadline) {
      const why = lastError ? `; last read failed: ${errorMessage(lastError)}` : '';
      throw new Unavailable(`run ${model}/${runId} did not finish within ${options.timeoutMs} ms (status ${last?.status ?? 'not started'})${why}`, lastError);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}
