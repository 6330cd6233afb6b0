import type { Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import type { EventLog } from './event-log.js';
import { createEventHubsEventLog } from './event-hubs-event-log.js';
import { RedisStreamsEventLog } from './redis-streams-event-log.js';

/**
 * Builds the EventLog the configuration asks for: Azure Event Hubs when
 * `EVENTHUBS_CONNECTION_STRING` is set, otherwise the embedded Redis Streams log at `REDIS_URL`
 * (streams `<SHOWROOM_REDIS_PREFIX>log:<n>`, `SHOWROOM_EVENT_LOG_PARTITIONS` partitions,
 * `SHOWROOM_EVENT_LOG_RETENTION_HOURS` retention). The caller owns the result and closes it.
 */
export function createEventLog(config: Config, deps: { logger?: Logger; registry?: Registry } = {}): EventLog {
  if (config.eventHubsConnectionString) return createEventHubsEventLog(config, deps);
  return new RedisStreamsEventLog({
    redisUrl: config.redisUrl,
    prefix: config.redisPrefix,
    partitions: config.eventLogPartitions,
    retentionMs: config.eventLogRetentionHours * 3600_000,
    logger: deps.logger,
    registry: deps.registry,
  });
}
