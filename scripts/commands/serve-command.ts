import type { Command } from 'commander';
import { action, intOption } from '../cli-support.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { startServer } from '../../online/serve.js';
import { listModels } from '../../offline/models/registry.js';
import { createBatchQueue, createRunTrigger } from '../../shared/queue/batch-queue.js';
import { createQueuesBoard } from '../../shared/queue/queues-board.js';

interface ServeOptions {
  port?: number;
  host?: string;
  profiles: boolean;
  json?: boolean;
}

export interface ServeSummary {
  ok: true;
  url: string;
  seconds: number;
  profileConsumer: boolean;
}

/** `showroom serve`: the HTTP API (and, unless --no-profiles, the profile consumer) until Ctrl-C. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP API: event ingestion, re-ranked recommendations, similar vehicles, admin, /metrics, /docs (until Ctrl-C)')
    .option('--port <port>', 'port to listen on (default PORT, 8080; 0 = any free port)', intOption('port', 0, 65535))
    .option('--host <address>', 'bind address (default SHOWROOM_HOST; 127.0.0.1 without API keys, 0.0.0.0 with keys)')
    .option('--no-profiles', 'do not run the profile consumer (group online-profiles) in this process; run `showroom profiles` instead')
    .option('--json', 'print a JSON summary on stdout when stopped')
    .addHelpText(
      'after',
      `
Examples:
  $ showroom serve                                   # 127.0.0.1:8080, no keys, profile consumer in-process
  $ SHOWROOM_API_KEYS=k1 SHOWROOM_ADMIN_KEYS=a1 showroom serve --host 0.0.0.0 --port 9000
  $ showroom serve --no-profiles & showroom profiles # consumer as its own process

Without SHOWROOM_API_KEYS / SHOWROOM_ADMIN_KEYS the API binds to loopback only and refuses other addresses.
Needs Redis (REDIS_URL) and Cosmos DB (COSMOS_ENDPOINT, or \`showroom cosmos\` for the embedded one).`,
    )
    .action(
      action<ServeOptions, ServeSummary>(async ({ config, logger, signal, json }, opts) => {
        const registry = createMetricsRegistry();
        const redis = createRedis(config.redisUrl, 'api');
        const started = Date.now();
        let eventLog: ReturnType<typeof createEventLog> | undefined;
        let store: Awaited<ReturnType<typeof createPredictionStore>> | undefined;
        // POST /v1/models/:model/runs queues runs for `showroom worker` processes.
        const batch = createBatchQueue(config.redisUrl, config.redisPrefix);
        try {
          await waitForRedis(redis, 5000);
          store = await createPredictionStore(config, logger);
          eventLog = createEventLog(config, { logger, registry });
          const server = await startServer({
            config,
            logger,
            registry,
            store,
            eventLog,
            redis,
            port: opts.port,
            host: opts.host,
            profileConsumer: opts.profiles,
            triggerRun: createRunTrigger(batch),
            adminRouters: { '/admin/queues': createQueuesBoard([batch.queue]) },
            models: listModels().map((m) => m.name),
          });
          if (!json) {
            const keyHint = config.apiKeys.length > 0 ? ` -H "Authorization: Bearer <key>"` : '';
            process.stdout.write(
              [
                `showroom API listening on ${server.url}  (docs ${server.url}/docs, metrics ${server.metricsUrl})`,
                `profile consumer: ${opts.profiles ? 'in this process' : 'off (--no-profiles)'}; Ctrl-C to stop`,
                `try:`,
                `  curl -s${keyHint} "${server.url}/v1/customers/c1/recommendations?limit=5&explain=true"`,
                `  curl -s${keyHint} -H "content-type: application/json" -d '{"eventId":"e1","type":"view","customerId":"c1","vehicleId":"v1","occurredAt":"${new Date().toISOString().slice(0, 19)}Z"}' ${server.url}/v1/events`,
                '',
              ].join('\n'),
            );
          }
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            else signal.addEventListener('abort', () => resolve(), { once: true });
          });
          await server.close();
          return { ok: true, url: server.url, seconds: Math.round((Date.now() - started) / 100) / 10, profileConsumer: opts.profiles };
        } finally {
          await batch.close();
          await eventLog?.close();
          await store?.close();
          redis.disconnect();
        }
      }, (s) => `showroom API at ${s.url} stopped after ${s.seconds} s`),
    );
}
