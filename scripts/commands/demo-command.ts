import path from 'node:path';
import type { Command } from 'commander';
import { action, intOption, progressBar, type CommandContext, type Progress } from '../cli-support.js';
import { ensureDemoRedis } from '../demo/local-redis.js';
import { generateDataset } from '../generate/generate-dataset.js';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../shared/prediction-store/embedded-cosmos-launcher.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { createRunTrigger, triggerRun, waitForRun } from '../../shared/queue/batch-queue.js';
import { createQueuesBoard } from '../../shared/queue/queues-board.js';
import type { Config } from '../../shared/config/config.js';
import type { RunStage } from '../../shared/domain/prediction.js';
import { startServer } from '../../online/serve.js';
import { listModels } from '../../offline/models/registry.js';
import { startOfflineSink } from '../../online/sink/offline-sink.js';
import { startWorker } from '../../offline/worker/batch-worker.js';

interface DemoOptions {
  customers: number;
  vehicles: number;
  days: number;
  seed: number;
  port?: number;
  json?: boolean;
  exitAfterReady?: boolean;
}

export interface DemoSummary {
  ok: boolean;
  url: string;
  redisUrl: string;
  cosmosEndpoint: string;
  lake: string;
  generated: boolean;
  runId?: string;
  readySeconds: number;
}

/** Default demo dataset: sized so a fresh `npm start` serves recommendations well within 60 s. */
const DEMO_DEFAULTS = { customers: 5000, vehicles: 1200, days: 14, seed: 42 };

/**
 * `showroom demo` (= `npm start`): the whole embedded stack in one process — Redis (a private
 * redis-server when none answers), embedded Cosmos, the local lake with a generated dataset,
 * the event log, the offline sink, the BullMQ worker with its nightly schedule, one batch run
 * when no run is active, and the API with the profile consumer.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run the embedded stack on this machine: Redis, Cosmos, lake, sink, worker, a batch run, the API (until Ctrl-C)')
    .option('--customers <n>', 'customers of the generated dataset (when the lake is empty)', intOption('customers', 1), DEMO_DEFAULTS.customers)
    .option('--vehicles <n>', 'vehicles in stock at the start of the dataset', intOption('vehicles', 10), DEMO_DEFAULTS.vehicles)
    .option('--days <n>', 'days of generated events', intOption('days', 2, 365), DEMO_DEFAULTS.days)
    .option('--seed <n>', 'seed of the generated dataset', intOption('seed'), DEMO_DEFAULTS.seed)
    .option('--port <port>', 'API port (default PORT, 8080; 0 = any free port)', intOption('port', 0, 65535))
    .option('--exit-after-ready', 'stop once recommendations are served (smoke tests)')
    .option('--json', 'print a JSON summary on stdout once ready')
    .addHelpText(
      'after',
      `
Examples:
  $ npm start                                        # = showroom demo
  $ showroom demo --customers 50000 --vehicles 5000 --days 30
  $ PORT=9000 showroom demo --json

Data lives in SHOWROOM_DATA_DIR (./data): the lake (./data/lake) and the embedded Cosmos
snapshot (./data/cosmos), so a restart serves the same run at once. Delete ./data to start over.`,
    )
    .action(action<DemoOptions, DemoSummary | undefined>((ctx, opts) => runDemo(ctx, opts), (s) => (s ? `demo stopped (was ready after ${s.readySeconds} s at ${s.url})` : '')));
}

async function runDemo(ctx: CommandContext, opts: DemoOptions): Promise<DemoSummary | undefined> {
  const { logger, signal, json } = ctx;
  const started = Date.now();
  const say = (line: string) => {
    if (!json) process.stderr.write(`${line}\n`);
  };
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, 'demo shutdown step failed');
      }
    }
  };

  try {
    const redis = await ensureDemoRedis(ctx.config.redisUrl);
    cleanups.push(() => redis.stop());
    say(redis.owned ? `redis: started a private redis-server at ${redis.url}` : `redis: ${redis.url}`);

    let cosmos: EmbeddedCosmos | undefined;
    let cosmosEndpoint = ctx.config.cosmosEndpoint;
    if (!cosmosEndpoint) {
      const dataDir = path.resolve(ctx.config.dataDir, 'cosmos');
      cosmos = await startEmbeddedCosmos({ port: 8081, dataDir, logger }).catch(() => startEmbeddedCosmos({ port: 0, dataDir, logger }));
      cosmosEndpoint = cosmos.endpoint;
      const c = cosmos;
      cleanups.push(() => c.stop());
      say(`cosmos: embedded server at ${cosmos.endpoint} (snapshot ${dataDir}, ${cosmos.loadedDocuments} documents loaded)`);
    }
    const config: Config = { ...ctx.config, redisUrl: redis.url, cosmosEndpoint };

    const lake = createLake(config);
    let generated = false;
    if ((await lake.list('events/')).length === 0) {
      const end = new Date(Date.now() - 24 * 3600 * 1000).toISOString().slice(0, 10);
      say(`lake: ${lake.description} is empty; generating ${opts.customers} customers, ${opts.vehicles} vehicles, ${opts.days} days (seed ${opts.seed})`);
      let bar: Progress | undefined;
      const result = await generateDataset(
        { customers: opts.customers, vehicles: opts.vehicles, days: opts.days, seed: opts.seed, end, lake, signal },
        (p) => {
          if (json) return;
          bar ??= progressBar('generate', p.total);
          bar.setTotal(p.total);
          bar.update(p.done);
        },
      );
      bar?.stop();
      generated = true;
      say(`lake: ${result.events} events, ${result.vehicles} vehicles written`);
    } else {
      say(`lake: ${lake.description}`);
    }

    const registry = createMetricsRegistry();
    const store = await createPredictionStore(config, logger);
    cleanups.push(() => store.close());
    const eventLog = createEventLog(config, { logger, registry });
    cleanups.push(() => eventLog.close());
    const sink = await startOfflineSink({ eventLog, lake, logger, registry, maxRows: config.sinkMaxRows, maxAgeMs: config.sinkMaxAgeMs });
    cleanups.push(() => sink.close());
    const worker = await startWorker({ config, logger, store, lake, registry });
    cleanups.push(() => worker.close());

    const apiRedis = createRedis(config.redisUrl, 'api');
    cleanups.push(async () => apiRedis.disconnect());
    await waitForRedis(apiRedis, 5000);
    const server = await startServer({
      config,
      logger,
      registry,
      store,
      eventLog,
      redis: apiRedis,
      port: opts.port,
      triggerRun: createRunTrigger(worker.batch),
      adminRouters: { '/admin/queues': createQueuesBoard([worker.batch.queue]) },
      models: listModels().map((m) => m.name),
    });
    cleanups.push(() => server.close());
    say(`api: ${server.url}  (docs ${server.url}/docs, metrics ${server.metricsUrl}, health ${server.url}/healthz)`);

    const model = config.defaultModel;
    let runId = (await store.getActiveRun(model))?.runId;
    if (!runId) {
      const t = await triggerRun(worker.batch, { model, trigger: 'manual' });
      say(`batch: no active run of ${model}; run ${t.runId} queued on the in-process worker`);
      // The worker reports its stage, not progress within it: one line per stage with the time the
      // previous one took (a bar would only ever show 0/1).
      let shown: RunStage | undefined;
      let since = Date.now();
      const run = await waitForRun(store, model, t.runId, {
        signal,
        intervalMs: 250,
        onUpdate: (r) => {
          if (json || !r?.stage || r.stage === shown) return;
          const now = Date.now();
          say(`batch: ${r.stage}${shown ? ` (${shown} took ${((now - since) / 1000).toFixed(1)} s)` : ''}`);
          shown = r.stage;
          since = now;
        },
      });
      if (run.status !== 'succeeded') throw new Error(`demo batch run ${t.runId} ended ${run.status}: ${run.error ?? 'no reason recorded'}`);
      runId = run.runId;
      // Serve the new run at once rather than after the pointer cache expires, and warm its neighbour table.
      server.serving.invalidate(model);
      await server.serving.active(model);
      say(`batch: run ${runId} active (${(run.counts.predictionsWritten ?? 0).toLocaleString('en-US')} customers' lists of ${(run.counts.customers ?? 0).toLocaleString('en-US')}, ${(run.counts.events ?? 0).toLocaleString('en-US')} events, nDCG@10 ${run.metrics?.ndcg.toFixed(3) ?? 'n/a'} on ${run.metrics?.customers ?? 0} held-out customers)`);
    } else {
      say(`batch: run ${runId} of ${model} already active`);
    }

    const sample = await sampleCustomer(store, model, runId);
    const readySeconds = Math.round((Date.now() - started) / 100) / 10;
    const summary: DemoSummary = {
      ok: true,
      url: server.url,
      redisUrl: redis.url,
      cosmosEndpoint: cosmosEndpoint,
      lake: lake.description,
      generated,
      runId,
      readySeconds,
    };
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        [
          '',
          `showroom demo ready in ${readySeconds} s`,
          `  API      ${server.url}        docs ${server.url}/docs   metrics ${server.metricsUrl}`,
          `  queues   ${server.url}/admin/queues   (Bull Board)`,
          '',
          'try:',
          `  curl -s "${server.url}/v1/customers/${sample}/recommendations?limit=5&explain=true"`,
          `  curl -s -H "content-type: application/json" -d '{"eventId":"demo-1","type":"view","customerId":"${sample}","vehicleId":"<a vehicleId from above>","occurredAt":"${new Date().toISOString().slice(0, 19)}Z"}' ${server.url}/v1/events`,
          `  curl -s -X POST ${server.url}/v1/models/${model}/runs     # trigger a batch run`,
          '',
          'Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
    }
    if (!opts.exitAfterReady) {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    say('demo: stopping');
    await cleanup();
    // With --json the summary was printed once ready; nothing more goes to stdout.
    return json ? undefined : summary;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A customer with a prediction in the run, for the printed curl example. */
async function sampleCustomer(store: Awaited<ReturnType<typeof createPredictionStore>>, model: string, runId: string): Promise<string> {
  // Generated ids are `c-` + a zero-padded number whose width depends on the dataset size.
  for (let width = 1; width <= 8; width += 1) {
    const id = `c-${'1'.padStart(width, '0')}`;
    if (await store.getPrediction(model, runId, id)) return id;
  }
  return 'c-1';
}
