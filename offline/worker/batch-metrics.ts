import { Counter, Gauge, Histogram, getOrCreate, type Registry } from '../../shared/telemetry/metrics.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Queue } from 'bullmq';

/** Prometheus metrics of batch runs, registered on the process registry. */
export interface BatchMetrics {
  /** Seconds per stage (train, score = one shard, finalize) and outcome. */
  stageDuration: Histogram<'model' | 'stage' | 'outcome'>;
  /** Whole runs by outcome (succeeded, failed, rejected by the gate). */
  runs: Counter<'model' | 'outcome'>;
  /** Seconds from trigger to the end of finalize, by outcome. */
  runDuration: Histogram<'model' | 'outcome'>;
  /** Failed job attempts by stage (including ones that are retried). */
  failures: Counter<'model' | 'stage'>;
  /** Records a successful run of `model` finished at `at`. */
  markSuccess(model: string, at: Date): void;
}

/**
 * Creates (or reuses, when already registered) the batch metrics:
 * `showroom_batch_stage_duration_seconds`, `showroom_batch_run_duration_seconds`, `showroom_batch_runs_total`, `showroom_batch_job_failures_total`,
 * `showroom_batch_last_success_age_seconds` (per model; alert when it exceeds ~26 h) and
 * `showroom_batch_queue_jobs` (jobs per state). The age gauge is read from the run registry
 * (refreshed at most every `refreshMs`), so every process reports the same age whichever worker ran.
 */
export function createBatchMetrics(
  registry: Registry,
  deps: { queue?: Queue; store?: PredictionStore; models?: () => string[]; refreshMs?: number },
): BatchMetrics {
  const lastSuccess = new Map<string, number>();
  let refreshedAt = 0;
  const refreshMs = deps.refreshMs ?? 60_000;

  async function refresh(): Promise<void> {
    if (!deps.store || Date.now() - refreshedAt < refreshMs) return;
    refreshedAt = Date.now();
    try {
      const models = await deps.store.listModels();
      for (const m of models) {
        const runs = await deps.store.listRuns(m.model, { limit: 20 });
        const ok = runs.find((r) => r.status === 'succeeded' && r.finishedAt);
        const t = ok?.finishedAt ? Date.parse(ok.finishedAt) : m.activatedAt ? Date.parse(m.activatedAt) : NaN;
        if (Number.isFinite(t) && t > (lastSuccess.get(m.model) ?? 0)) lastSuccess.set(m.model, t);
      }
    } catch {
      // A scrape must not fail because the store is briefly down; the gauge keeps its last value.
    }
  }

  const stageDuration = getOrCreate(registry, 'showroom_batch_stage_duration_seconds', () =>
    new Histogram({
      name: 'showroom_batch_stage_duration_seconds',
      help: 'Duration of batch run stages (train, score = one shard, finalize) in seconds',
      labelNames: ['model', 'stage', 'outcome'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 2400, 3600],
      registers: [registry],
    }),
  );
  const runs = getOrCreate(registry, 'showroom_batch_runs_total', () =>
    new Counter({ name: 'showroom_batch_runs_total', help: 'Finished batch runs by outcome', labelNames: ['model', 'outcome'] as const, registers: [registry] }),
  );
  const runDuration = getOrCreate(registry, 'showroom_batch_run_duration_seconds', () =>
    new Histogram({
      name: 'showroom_batch_run_duration_seconds',
      help: 'Batch run wall time from trigger to the end of finalize, in seconds',
      labelNames: ['model', 'outcome'] as const,
      buckets: [10, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200, 14400],
      registers: [registry],
    }),
  );
  const failures = getOrCreate(registry, 'showroom_batch_job_failures_total', () =>
    new Counter({
      name: 'showroom_batch_job_failures_total',
      help: 'Failed batch job attempts by stage (retried or final)',
      labelNames: ['model', 'stage'] as const,
      registers: [registry],
    }),
  );
  getOrCreate(registry, 'showroom_batch_last_success_age_seconds', () =>
    new Gauge({
      name: 'showroom_batch_last_success_age_seconds',
      help: 'Seconds since the last successful batch run per model (staleness alert)',
      labelNames: ['model'] as const,
      registers: [registry],
      async collect() {
        await refresh();
        const now = Date.now();
        for (const m of deps.models?.() ?? []) if (!lastSuccess.has(m)) this.set({ model: m }, NaN);
        for (const [model, t] of lastSuccess) this.set({ model }, (now - t) / 1000);
      },
    }),
  );
  if (deps.queue) {
    const queue = deps.queue;
    getOrCreate(registry, 'showroom_batch_queue_jobs', () =>
      new Gauge({
        name: 'showroom_batch_queue_jobs',
        help: 'Jobs in the batch queue per state',
        labelNames: ['state'] as const,
        registers: [registry],
        async collect() {
          try {
            const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'waiting-children', 'prioritized', 'completed');
            for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
          } catch {
            // Redis down: keep the last values rather than failing the scrape.
          }
        },
      }),
    );
  }
  return {
    stageDuration,
    runs,
    runDuration,
    failures,
    markSuccess(model, at) {
      lastSuccess.set(model, Math.max(lastSuccess.get(model) ?? 0, at.getTime()));
    },
  };
}
