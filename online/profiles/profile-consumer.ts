import { Counter, type Registry } from 'prom-client';
import type { EventLog, Subscription } from '../../shared/event-log/event-log.js';
import { errorMessage } from '../../shared/errors/app-error.js';
import type { ProfileStore } from '../../shared/profile-store/profile-store.js';
import { getOrCreate } from '../../shared/telemetry/metrics.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import { notYetApplied, type AppliedEvents } from './applied-events.js';

/** Consumer group of the profile updater. */
export const PROFILE_CONSUMER_GROUP = 'online-profiles';

export interface ProfileConsumerOptions {
  eventLog: EventLog;
  profiles: ProfileStore;
  logger?: Logger;
  registry?: Registry;
  /** Instance name within the group (default: the log's). */
  consumer?: string;
  /** Longest a batch waits to fill, ms (default 50: events show up well within 1 s). */
  maxWaitMs?: number;
  maxBatchSize?: number;
  /** Events this process already applied (the API's read-your-writes path): skipped, not applied twice. */
  appliedEvents?: AppliedEvents;
}

/**
 * Event log → live profiles and inventory state (group `online-profiles`). Applying is
 * idempotent per eventId, so events the API already applied (read-your-writes) and
 * redeliveries change nothing. A failed batch is rejected and redelivered by the log.
 */
export async function startProfileConsumer(options: ProfileConsumerOptions): Promise<Subscription> {
  const logger = options.logger ?? silentLogger();
  const registry = options.registry;
  const counter = registry
    ? getOrCreate(registry, 'showroom_profile_events_total', () => new Counter({ name: 'showroom_profile_events_total', help: 'Events seen by the profile consumer, by outcome', labelNames: ['outcome'], registers: [registry] }))
    : undefined;
  return options.eventLog.subscribe(
    { group: PROFILE_CONSUMER_GROUP, consumer: options.consumer, maxWaitMs: options.maxWaitMs ?? 50, maxBatchSize: options.maxBatchSize ?? 1000 },
    async (batch) => {
      for (const u of batch.undecodable) logger.warn({ partition: u.partition, position: u.position, reason: u.reason }, 'undecodable event skipped');
      const applied = options.appliedEvents;
      const events = applied ? await notYetApplied(batch.events, applied) : batch.events;
      if (events.length < batch.events.length) counter?.inc({ outcome: 'applied-by-api' }, batch.events.length - events.length);
      if (events.length === 0) return;
      try {
        const r = await options.profiles.applyEvents(events);
        counter?.inc({ outcome: 'applied' }, r.applied);
        counter?.inc({ outcome: 'skipped' }, r.skipped);
      } catch (err) {
        counter?.inc({ outcome: 'failed' }, events.length);
        logger.warn({ partition: batch.partition, events: events.length, err: errorMessage(err) }, 'applying events to profiles failed; will be redelivered');
        throw err;
      }
    },
  );
}
