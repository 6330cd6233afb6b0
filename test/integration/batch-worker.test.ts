import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent } from 'node:https';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CosmosClient } from '@azure/cosmos';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../shared/config/config.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import type { LocalLake } from '../../shared/lake/local-lake.js';
import type { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { BATCH_JOB, createBatchQueue, runInFlight, runJobIds, triggerRun, waitForRun, type BatchQueue } from '../../shared/queue/batch-queue.js';
import { listSchedules, pauseSchedule, resumeSchedule } from '../../shared/queue/batch-schedules.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startWorker, type BatchStages, type BatchWorkerHandle } from '../../offline/worker/batch-worker.js';
import { createPipelineStages } from '../../offline/worker/pipeline-stages.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { DuckDbLakeReader } from '../../offline/lake-reader/duckdb-lake-reader.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake } from '../support/offline-lake-fixture.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MODEL = 'item-knn';
// Data ends yesterday, so nightly runs (asOf = now) see it too.
const DAY_MS = 86_400_000;
const AS_OF = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS).toISOString();
const yesterday = new Date(Date.parse(AS_OF) - DAY_MS).toISOString().slice(0, 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('batch worker on BullMQ (real Redis, embedded Cosmos, generated lake)', function () {
  this.timeout(60_000);
  let cosmos: TestCosmos;
  let store: CosmosPredictionStore;
  let lake: LocalLake;
  let cleanupLake: () => Promise<void>;
  let customersWithHistory: number;
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const prefixes: string[] = [];
  const open: { batch?: BatchQueue; handle?: BatchWorkerHandle }[] = [];

  function newPrefix(): string {
    const p = `test:batch:${randomUUID().slice(0, 8)}:`;
    prefixes.push(p);
    return p;
  }
  function configFor(prefix: string): Config {
    return { ...loadConfig({ REDIS_URL, SHOWROOM_REDIS_PREFIX: prefix }), redisPrefix: prefix };
  }
  function queueFor(prefix: string): BatchQueue {
    const batch = createBatchQueue(REDIS_URL, prefix, { policy: { backoffMs: 100, scoreAttempts: 2, trainAttempts: 1, finalizeAttempts: 2 } });
    open.push({ batch });
    return batch;
  }
  async function worker(prefix: string, batch: BatchQueue, extra: Partial<Parameters<typeof startWorker>[0]> = {}): Promise<BatchWorkerHandle> {
    const handle = await startWorker({
      config: configFor(prefix),
      logger: silentLogger(),
      store,
      lake,
      batch,
      registerSchedules: false,
      threads: 0,
      tuning: { concurrency: 4, lockDuration: 5000, stalledInterval: 2000, graceMs: 5000 },
      ...extra,
    });
    open.push({ handle });
    return handle;
  }
  async function activeRunId(): Promise<string | undefined> {
    return (await store.getActiveRun(MODEL))?.runId;
  }

  // The two worker processes of the SIGKILL test start with the suite, so their start-up overlaps the data generation.
  const killTest = {
    prefix: '',
    children: [] as ChildProcess[],
    midShard: [] as { pid: number; runId: string }[],
    ready: Promise.resolve() as Promise<unknown>,
  };
  function spawnWorkerProcesses(): void {
    const prefix = newPrefix();
    killTest.prefix = prefix;
    const { children, midShard } = killTest;
    const script = fileURLToPath(new URL('../support/batch-worker-process.ts', import.meta.url));
    const ready: Promise<void>[] = [];
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
        env: {
          ...process.env,
          REDIS_URL,
          SHOWROOM_REDIS_PREFIX: prefix,
          SHOWROOM_LOG_LEVEL: 'silent',
          TEST_COSMOS_ENDPOINT: cosmos.endpoint,
          TEST_COSMOS_KEY: cosmos.key,
          TEST_COSMOS_DATABASE: cosmos.database,
          TEST_LAKE_DIR: lake.root,
          TEST_LOCK_MS: '1000',
          TEST_WRITE_PAUSE_MS: '800',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      ready.push(
        new Promise((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
          createInterface({ input: child.stdout! }).on('line', (line) => {
            let m: { event?: string; pid?: number; runId?: string };
            try {
              m = JSON.parse(line) as typeof m;
            } catch {
              return;
            }
            if (process.env.DEBUG_BATCH_TEST) process.stderr.write(`${Date.now() % 100000} ${line}\n`);
            if (m.event === 'ready') resolve();
            if (m.event === 'mid-shard' && m.pid && m.runId) midShard.push({ pid: m.pid, runId: m.runId });
          });
        }),
      );
    }
    killTest.ready = Promise.all(ready);
    killTest.ready.catch(() => undefined);
  }

  before(async () => {
    await redis.connect();
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    ({ lake, cleanup: cleanupLake } = await tempLake());
    spawnWorkerProcesses();
    await generateDataset({ customers: 240, vehicles: 100, days: 6, seed: 11, end: yesterday, lake });
    // Customers with at least one interaction in the window, counted by the lake reader itself.
    const reader = new DuckDbLakeReader(lake);
    try {
      customersWithHistory = (await reader.readDataset({ asOf: AS_OF, lookbackDays: 90 })).customerIds.length;
    } finally {
      reader.close();
    }
    assert.ok(customersWithHistory > 200);
  });

  afterEach(async () => {
    for (const o of open.splice(0).reverse()) {
      await o.handle?.close();
      await o.batch?.close();
    }
  });

  after(async () => {
    const { children } = killTest;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
    await cosmos?.stop();
    await cleanupLake?.();
  });

  it('a trigger produces a completed, activated run whose predictions exist; a second trigger in quick succession starts no second run', async () => {
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const registry = createMetricsRegistry({ defaultMetrics: false });
    await worker(prefix, batch, { registry });
    const [a, b] = await Promise.all([triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 2 }), triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 2 })]);
    const first = a.alreadyInFlight ? b : a;
    const second = a.alreadyInFlight ? a : b;
    assert.equal(first.alreadyInFlight, false);
    assert.equal(second.alreadyInFlight, true, 'the second trigger must report the run in flight');
    assert.equal(second.runId, first.runId);
    assert.equal(await runInFlight(batch, MODEL), first.runId);

    const seen = new Set<string>();
    const run = await waitForRun(store, MODEL, first.runId, { intervalMs: 100, timeoutMs: 40_000, onUpdate: (r) => r?.stage && seen.add(r.stage) });
    assert.equal(run.status, 'succeeded', run.error);
    assert.ok(seen.has('train') || seen.has('score'), `progress stages visible in the run record: ${[...seen].join(',')}`);
    assert.deepEqual(run.shards, { total: 2, done: [0, 1] });
    assert.equal(run.counts.customers, customersWithHistory);
    assert.equal(run.counts.scored, customersWithHistory, 'customers scored (progress) in the run record');
    assert.equal(await activeRunId(), first.runId);
    assert.equal(await store.countPredictions(MODEL, first.runId), customersWithHistory);
    const one = await store.getPrediction(MODEL, first.runId, 'c-000000');
    assert.ok(one && one.items.length > 0, 'a customer has a stored list');
    assert.equal(await runInFlight(batch, MODEL), undefined, 'the lock is released when the run finishes');
    const finalizeJobs = (await batch.queue.getJobs(['completed'])).filter((j) => j.name === BATCH_JOB.finalize);
    assert.equal(finalizeJobs.length, 1, 'exactly one run was started');
    const metrics = await registry.metrics();
    assert.match(metrics, /showroom_batch_runs_total\{model="item-knn",outcome="succeeded"\} 1/);
    assert.match(metrics, /showroom_batch_last_success_age_seconds\{model="item-knn"\} \d/);
    assert.match(metrics, /showroom_batch_stage_duration_seconds_count\{model="item-knn",stage="score",outcome="ok"\} 2/);
  });

  it('a run the quality gate rejects leaves the previous run active and shows the failure in the record and the metrics', async () => {
    const before = await activeRunId();
    assert.ok(before, 'needs the activated run of the previous test');
    // The active run looked perfect: any new run now falls below its nDCG.
    const active = (await store.getRun(MODEL, before))!;
    await store.putRun({ ...active, metrics: { ...active.metrics!, ndcg: 1, customers: Math.max(1, active.metrics?.customers ?? 1) } });
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const registry = createMetricsRegistry({ defaultMetrics: false });
    await worker(prefix, batch, { registry });
    const t = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 1 });
    const run = await waitForRun(store, MODEL, t.runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /quality gate failed: nDCG/);
    assert.equal(run.gate?.passed, false);
    assert.equal(await activeRunId(), before, 'the previous run stays active');
    assert.match(await registry.metrics(), /showroom_batch_runs_total\{model="item-knn",outcome="rejected"\} 1/);
    assert.equal(await runInFlight(batch, MODEL), undefined);
    await store.putRun(active);
  });

  it('a shard that fails for good fails the run, records why and leaves the previous run active', async () => {
    const before = await activeRunId();
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const real = createPipelineStages({ lake, store, threads: 0 });
    let attempts = 0;
    const stages: BatchStages = {
      ...real,
      async scoreShard(run, shard, shards, ctx) {
        if (shard === 1) {
          attempts += 1;
          throw new Error('disk on fire');
        }
        return real.scoreShard(run, shard, shards, ctx);
      },
    };
    const registry = createMetricsRegistry({ defaultMetrics: false });
    await worker(prefix, batch, { stages, registry });
    const t = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 3 });
    const run = await waitForRun(store, MODEL, t.runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /score shard 1 failed: disk on fire/);
    assert.equal(attempts, 2, 'the shard was retried before failing for good');
    assert.equal(await activeRunId(), before);
    assert.match(await registry.metrics(), /showroom_batch_job_failures_total\{model="item-knn",stage="score"\} 2/);
    assert.equal(await runInFlight(batch, MODEL), undefined, 'a failed run releases the lock');
  });

  it('a run that evaluated nobody fails the gate against the active run; triggered with force it activates and the record says so', async () => {
    const before = await activeRunId();
    assert.ok(before && ((await store.getRun(MODEL, before))?.metrics?.customers ?? 0) > 0, 'needs an active run with metrics');
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    await worker(prefix, batch, { stages: createPipelineStages({ lake, store, threads: 0, evaluationCustomers: 0 }) });
    const plain = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 2 });
    const rejected = await waitForRun(store, MODEL, plain.runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(rejected.status, 'failed');
    assert.equal(rejected.metrics?.customers, 0);
    assert.match(rejected.error ?? '', /quality gate failed: the candidate evaluated no customer \(customers = 0\) but the active run/);
    assert.equal(rejected.gate?.passed, false);
    assert.equal(await activeRunId(), before);

    const forced = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 2, force: { reason: 'evaluation day lost in the outage' } });
    const run = await waitForRun(store, MODEL, forced.runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'succeeded', run.error);
    assert.equal(run.gate?.passed, false);
    assert.equal(run.gate?.forced, true);
    assert.equal(run.gate?.reason, 'evaluation day lost in the outage');
    assert.equal(await activeRunId(), forced.runId);
    await store.activateRun(MODEL, before!);
  });

  it('concurrent run-record updates from 4 shards lose nothing, even when one takes longer than a lock would last', async () => {
    const before = await activeRunId();
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const slow = new Set<number>();
    const stages: BatchStages = {
      async train(_run, ctx) {
        await ctx.updateRun((r) => {
          r.counts.trained = 1;
        });
      },
      async scoreShard(_run, shard, _shards, ctx) {
        await ctx.updateRun(async (r) => {
          // Each shard's first attempt stalls between its read and its write for longer than the
          // old 3 s mutex lived (a slow, retried Cosmos call), so all four overlap.
          if (!slow.has(shard)) {
            slow.add(shard);
            await sleep(3200);
          }
          r.counts[`predictions_shard${shard}`] = 10 + shard;
        });
        return { customers: 10 + shard };
      },
      async finalize() {
        return { activated: false, reasons: ['test: counts only'] };
      },
    };
    await worker(prefix, batch, { stages });
    const t = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 4 });
    const run = await waitForRun(store, MODEL, t.runId, { intervalMs: 100, timeoutMs: 50_000 });
    assert.deepEqual(run.shards, { total: 4, done: [0, 1, 2, 3] });
    for (let k = 0; k < 4; k += 1) assert.equal(run.counts[`predictions_shard${k}`], 10 + k, `shard ${k}'s count is in the record: ${JSON.stringify(run.counts)}`);
    assert.equal(run.counts.trained, 1);
    assert.equal(run.counts.scored, 46);
    assert.equal(await activeRunId(), before);
  });

  it('closing a worker hands its running job back to the queue (no attempt used); another worker finishes the run', async () => {
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const real = createPipelineStages({ lake, store, threads: 0 });
    let started!: () => void;
    const trainStarted = new Promise<void>((r) => (started = r));
    const slow: BatchStages = {
      ...real,
      async train(run, ctx) {
        started();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 30_000);
          ctx.signal.addEventListener('abort', () => (clearTimeout(timer), reject(ctx.signal.reason as Error)), { once: true });
        });
        return real.train(run, ctx);
      },
    };
    const first = await startWorker({ config: configFor(prefix), logger: silentLogger(), store, lake, batch, stages: slow, registerSchedules: false, tuning: { concurrency: 1, graceMs: 300 } });
    const t = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 1 });
    await trainStarted;
    const t0 = Date.now();
    await first.close();
    assert.ok(Date.now() - t0 < 5000, 'close() waits at most the grace period plus the hand-back');
    const job = await batch.queue.getJob(runJobIds.train(t.runId));
    assert.equal(await job?.getState(), 'waiting', 'the job is back in the queue');
    assert.equal(job?.attemptsMade, 0, 'handing back does not use an attempt');
    await worker(prefix, batch);
    const run = await waitForRun(store, MODEL, t.runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'succeeded', run.error);
  });

  it('with 2 worker processes and 4 shards, SIGKILL of one mid-shard: the run completes with one prediction per customer', async function () {
    const { prefix, children, midShard, ready } = killTest;
    const batch = queueFor(prefix);
    try {
      await ready;
      const t = await triggerRun(batch, { model: MODEL, asOf: AS_OF, shards: 4 });
      const deadline = Date.now() + 30_000;
      while (!midShard.some((m) => m.runId === t.runId) && Date.now() < deadline) await sleep(20);
      const victim = midShard.find((m) => m.runId === t.runId);
      assert.ok(victim, 'a worker reached the middle of a shard');
      const child = children.find((c) => c.pid === victim.pid)!;
      child.kill('SIGKILL');
      const run: RunRecord = await waitForRun(store, MODEL, t.runId, { intervalMs: 200, timeoutMs: 45_000 });
      assert.equal(run.status, 'succeeded', run.error);
      assert.deepEqual(run.shards?.done, [0, 1, 2, 3]);
      assert.equal(await store.countPredictions(MODEL, t.runId), customersWithHistory);
      // None twice: as many distinct customers as documents.
      const client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent: new Agent({ rejectUnauthorized: false }) });
      const container = client.database(cosmos.database).container('predictions');
      const q = (query: string) => container.items.query<number>({ query, parameters: [{ name: '@r', value: t.runId }] }).fetchAll();
      const docs = (await q('SELECT VALUE c.customerId FROM c WHERE c.runId = @r')).resources as unknown as string[];
      assert.equal(docs.length, customersWithHistory);
      assert.equal(new Set(docs).size, customersWithHistory);
      client.dispose();
      const stalledJobs = (await batch.queue.getJobs(['completed'])).filter((j) => j.name === BATCH_JOB.score && (j.stalledCounter ?? 0) > 0);
      assert.ok(stalledJobs.length >= 1, 'the killed shard was recovered as a stalled job');
      assert.equal(await activeRunId(), t.runId);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    }
  });

  it('registering the schedule at every worker start leaves one scheduler; a missed night runs once when a worker returns', async () => {
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const now = new Date();
    // Three "nights" 2..4 s from now, while no worker runs.
    const seconds = [2, 3, 4].map((d) => (now.getUTCSeconds() + d) % 60);
    const config = { ...configFor(prefix), nightlyCron: `${seconds.join(',')} * * * * *`, nightlyTimeZone: 'UTC' };
    for (let i = 0; i < 3; i++) {
      const h = await startWorker({ config, logger: silentLogger(), store, lake, batch, registerSchedules: true, threads: 0 });
      await h.close();
    }
    assert.equal(await batch.queue.getJobSchedulersCount(), 1);
    assert.equal((await batch.queue.getJobs(['delayed', 'waiting'])).filter((j) => j.name === BATCH_JOB.nightly).length, 1, 'one pending nightly job');
    await sleep(5000 - (Date.now() - now.getTime()) + 500);
    const h = await worker(prefix, batch, { config, registerSchedules: true });
    assert.equal(h.schedules[0]?.action, 'unchanged', 're-registering an unchanged schedule keeps the pending (missed) night');
    await sleep(2000);
    const nightly = (await batch.queue.getJobs(['completed', 'active', 'failed'])).filter((j) => j.name === BATCH_JOB.nightly);
    assert.equal(nightly.length, 1, 'three missed nights run once');
    assert.equal(await batch.queue.getJobSchedulersCount(), 1);
    const [s] = await listSchedules(batch, { models: [MODEL], cron: config.nightlyCron, tz: 'UTC' });
    assert.ok(s && s.next && Date.parse(s.next) > Date.now() + 30_000, 'the next fire is the next "night", not a catch-up');
    const runId = (nightly[0]!.returnvalue as { runId: string }).runId;
    const run = await waitForRun(store, MODEL, runId, { intervalMs: 100, timeoutMs: 40_000 });
    assert.equal(run.status, 'succeeded', run.error);
    assert.equal(run.params.trigger, 'nightly');
  });

  it('pausing stops the next nightly run; resuming registers it again with the remembered settings', async () => {
    const prefix = newPrefix();
    const batch = queueFor(prefix);
    const now = new Date();
    const fire = (now.getUTCSeconds() + 3) % 60;
    const config = { ...configFor(prefix), nightlyCron: `${fire} * * * * *`, nightlyTimeZone: 'UTC' };
    const defaults = { models: [MODEL], cron: config.nightlyCron, tz: 'UTC' };
    await worker(prefix, batch, { config, registerSchedules: true });
    assert.equal(await batch.queue.getJobSchedulersCount(), 1);
    const paused = await pauseSchedule(batch, MODEL, defaults);
    assert.equal(paused.paused, true);
    assert.equal(paused.registered, false);
    await sleep(3500 - (Date.now() - now.getTime()) + 500);
    const nightly = (await batch.queue.getJobs(['completed', 'active', 'failed', 'waiting', 'delayed'])).filter((j) => j.name === BATCH_JOB.nightly);
    assert.equal(nightly.length, 0, 'no nightly job fired while paused');
    // A worker restart keeps it paused.
    const again = await worker(prefix, batch, { config, registerSchedules: true });
    assert.equal(again.schedules[0]?.action, 'paused');
    assert.equal(await batch.queue.getJobSchedulersCount(), 0);
    const resumed = await resumeSchedule(batch, MODEL, defaults);
    assert.equal(resumed.paused, false);
    assert.equal(resumed.registered, true);
    assert.equal(resumed.cron, config.nightlyCron);
  });
});
