/**
 * A minimal sink process for fault tests: the composition of `showroom sink` without the CLI's
 * other commands (so a restart takes a fraction of the CLI's start-up). Configured by the
 * environment like the CLI; `SINK_CONSUMER` names the consumer. Prints `ready <writer>` and then
 * `stats <json>` lines on stdout. SIGINT/SIGTERM close cleanly.
 */
import { loadConfig } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createLogger } from '../../shared/telemetry/logger.js';
import { startOfflineSink } from '../../online/sink/offline-sink.js';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'sink-child' });
const eventLog = createEventLog(config, { logger });
const sink = await startOfflineSink({
  eventLog,
  lake: createLake(config),
  logger,
  maxRows: config.sinkMaxRows,
  maxAgeMs: config.sinkMaxAgeMs,
  ...(process.env.SINK_CONSUMER ? { consumer: process.env.SINK_CONSUMER } : {}),
});
process.stdout.write(`ready ${sink.writerId}\n`);
// Progress for the test driver: one `stats {...}` line every 50 ms.
setInterval(() => process.stdout.write(`stats ${JSON.stringify(sink.stats())}\n`), 50).unref();
const stop = async () => {
  await sink.close();
  await eventLog.close();
  process.stdout.write(`${JSON.stringify(sink.stats())}\n`);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
