import type { Server } from 'node:http';
import type { Command } from 'commander';
import { action, intOption } from '../cli-support.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { startWorker } from '../../offline/worker/batch-worker.js';
import { serveMetrics } from '../../shared/telemetry/metrics-server.js';

interface WorkerOptions {
  concurrency?: number;
  threads?: number;
  metricsPort?: number;
  schedule: boolean;
  model?: string[];
  json?: boolean;
}

export interface WorkerSummary {
  ok: true;
  seconds: number;
  completed: Record<string, number>;
  failed: Record<string, number>;
  schedules: { model: string; action: string; cron: string; tz: string; next?: string }[];
  metricsPort?: number;
}

/** `showroom worker`: a BullMQ worker for batch runs (nightly triggers, train, score shards, finalize) until Ctrl-C. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('Process batch runs from the BullMQ queue (train, score shards, finalize) and register the nightly schedule, until Ctrl-C')
    .option('--concurrency <n>', 'jobs this worker runs at once (default SHOWROOM_WORKER_CONCURRENCY)', intOption('concurrency', 1, 64))
    .option('--threads <n>', 'compute threads per job for training and scoring (0 = on the worker thread)', intOption('threads', 0, 64), 2)
    .option('--metrics-port <port>', 'serve GET /metrics on 127.0.0.1:<port> (0 = any free port)', intOption('metrics-port', 0, 65535))
    .option('--model <name...>', 'models with a nightly schedule (default SHOWROOM_DEFAULT_MODEL)')
    .option('--no-schedule', 'do not register the nightly schedulers at start')
    .option('--json', 'print the summary as JSON on stdout when stopped')
    .addHelpText(
      'after',
      `
Examples:
  $ showroom worker                              # one job at a time, nightly schedule from SHOWROOM_NIGHTLY_CRON/_TZ
  $ showroom worker --concurrency 2 --metrics-port 9465
  $ showroom batch trigger --shards 4 --wait     # in another terminal: shards spread over every running worker

Start as many workers as you like, on any machine sharing REDIS_URL, the lake and Cosmos: the shards of a
run are spread over them. A worker that dies mid-job has its job retried by another one after the lock
expires (2 min). Ctrl-C lets running jobs finish (up to 60 s, then hands them back to the queue); Ctrl-C
twice exits at once.`,
    )
    .action(
      action<WorkerOptions, WorkerSummary>(async ({ config, logger, signal }, opts) => {
        const registry = createMetricsRegistry();
        const store = await createPredictionStore(config, logger);
        const lake = createLake(config);
        const started = Date.now();
        let server: Server | undefined;
        let metricsPort: number | undefined;
        const completed: Record<string, number> = {};
        const failed: Record<string, number> = {};
        try {
          const handle = await startWorker({
            config,
            logger,
            registry,
            store,
            lake,
            threads: opts.threads,
            registerSchedules: opts.schedule,
            models: opts.model,
            tuning: { concurrency: opts.concurrency ?? config.workerConcurrency },
          });
          handle.worker.on('completed', (job) => (completed[job.name] = (completed[job.name] ?? 0) + 1));
          handle.worker.on('failed', (job) => job && (failed[job.name] = (failed[job.name] ?? 0) + 1));
          if (opts.metricsPort !== undefined) ({ server, port: metricsPort } = await serveMetrics(registry, opts.metricsPort));
          logger.info(
            { concurrency: handle.worker.concurrency, lake: lake.description, metrics: metricsPort === undefined ? undefined : `http://127.0.0.1:${metricsPort}/metrics` },
            'worker running; Ctrl-C to stop',
          );
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            else signal.addEventListener('abort', () => resolve(), { once: true });
          });
          logger.info('stopping: letting running jobs finish');
          await handle.close();
          return {
            ok: true,
            seconds: (Date.now() - started) / 1000,
            completed,
            failed,
            schedules: handle.schedules.map((s) => ({ model: s.model, action: s.action, cron: s.cron, tz: s.tz, next: s.next })),
            metricsPort,
          };
        } finally {
          await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
          await store.close();
        }
      }, humanSummary),
    );
}

function humanSummary(s: WorkerSummary): string {
  const jobs = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `worker stopped after ${s.seconds.toFixed(1)} s`,
    `  completed: ${jobs(s.completed)}`,
    `  failed attempts: ${jobs(s.failed)}`,
    ...s.schedules.map((x) => `  schedule ${x.model}: ${x.cron} ${x.tz} (${x.action}${x.next ? `, next ${x.next}` : ''})`),
  ].join('\n');
}

