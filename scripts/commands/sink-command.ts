import type { Server } from 'node:http';
import type { Command } from 'commander';
import { action, intOption } from '../cli-support.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { startOfflineSink, type OfflineSinkStats } from '../../online/sink/offline-sink.js';
import { serveMetrics } from '../../shared/telemetry/metrics-server.js';

interface SinkOptions {
  maxRows?: number;
  maxAgeMs?: number;
  metricsPort: number;
  consumer?: string;
  json?: boolean;
}

export interface SinkSummary extends OfflineSinkStats {
  ok: true;
  lake: string;
  seconds: number;
  eventsPerSecond: number;
  metricsPort?: number;
}

/** `showroom sink`: the offline sink process (event log → Parquet lake) until Ctrl-C. */
export function registerSinkCommand(program: Command): void {
  program
    .command('sink')
    .description('Consume the event log (group offline-sink) into the Parquet lake, hour-partitioned by occurredAt, until Ctrl-C')
    .option('--max-rows <n>', 'rows buffered per hour partition before a file is written (default SHOWROOM_SINK_MAX_ROWS)', intOption('max-rows', 1))
    .option('--max-age-ms <ms>', 'longest an event waits before its partition is written (default SHOWROOM_SINK_MAX_AGE_MS)', intOption('max-age-ms', 10))
    .option('--metrics-port <port>', 'port of the /metrics HTTP endpoint on 127.0.0.1 (0 = any free port)', intOption('metrics-port', 0, 65535), 9464)
    .option('--consumer <name>', 'consumer name in the group; a stable name lets a restarted sink re-read its own unacknowledged batches at once (default: unique per process)')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ showroom sink                                  # defaults from the environment; /metrics on :9464
  $ showroom sink --max-age-ms 5000 --metrics-port 0
  $ LAKE_URL="DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;" SHOWROOM_LAKE_CONTAINER=lake showroom sink --json

Files: events/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet; bad messages: deadletter/offline-sink/date=YYYY-MM-DD/*.jsonl.
Every event is checkpointed only after the file holding it is durable; Ctrl-C writes what is buffered, then exits.`,
    )
    .action(
      action<SinkOptions, SinkSummary>(async ({ config, logger, signal }, opts) => {
        const registry = createMetricsRegistry();
        const eventLog = createEventLog(config, { logger, registry });
        const lake = createLake(config);
        const started = Date.now();
        let server: Server | undefined;
        let metricsPort: number | undefined;
        try {
          const sink = await startOfflineSink({
            eventLog,
            lake,
            logger,
            registry,
            maxRows: opts.maxRows ?? config.sinkMaxRows,
            maxAgeMs: opts.maxAgeMs ?? config.sinkMaxAgeMs,
            ...(opts.consumer ? { consumer: opts.consumer } : {}),
          });
          ({ server, port: metricsPort } = await serveMetrics(registry, opts.metricsPort));
          logger.info({ writerId: sink.writerId, lake: lake.description, metrics: `http://127.0.0.1:${metricsPort}/metrics` }, 'sink running; Ctrl-C to stop');
          const ticker = setInterval(() => {
            const s = sink.stats();
            logger.info({ eventsIn: s.eventsIn, eventsOut: s.eventsOut, files: s.files, buffered: s.buffered, deadLetters: s.deadLetters }, 'sink progress');
          }, 10_000);
          ticker.unref();
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            else signal.addEventListener('abort', () => resolve(), { once: true });
          });
          clearInterval(ticker);
          await sink.close();
          const stats = sink.stats();
          const seconds = (Date.now() - started) / 1000;
          return { ok: true, lake: lake.description, ...stats, seconds, eventsPerSecond: Math.round(stats.eventsOut / Math.max(seconds, 0.001)), metricsPort };
        } finally {
          await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
          await eventLog.close();
        }
      }, humanSummary),
    );
}

function humanSummary(s: SinkSummary): string {
  return [
    `sink ${s.writerId} stopped after ${s.seconds.toFixed(1)} s`,
    `  events in ${s.eventsIn}, written ${s.eventsOut} in ${s.files} files (${(s.bytes / 1e6).toFixed(1)} MB), ${s.eventsPerSecond}/s`,
    `  dead letters ${s.deadLetters}, failed writes ${s.flushFailures}`,
    `  lake ${s.lake}`,
  ].join('\n');
}

