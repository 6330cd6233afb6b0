import type { Command } from 'commander';
import { action } from '../cli-support.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import { createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { PROFILE_CONSUMER_GROUP, startProfileConsumer } from '../../online/profiles/profile-consumer.js';

interface ProfilesOptions {
  consumer?: string;
  json?: boolean;
}

export interface ProfilesSummary {
  ok: true;
  group: string;
  seconds: number;
  applied: number;
  skipped: number;
}

/** `showroom profiles`: the profile consumer alone (event log → Redis profiles and inventory) until Ctrl-C. */
export function registerProfilesCommand(program: Command): void {
  program
    .command('profiles')
    .description(`Consume the event log (group ${PROFILE_CONSUMER_GROUP}) into live customer profiles and inventory state in Redis, until Ctrl-C`)
    .option('--consumer <name>', 'consumer name within the group (default: unique per process)')
    .option('--json', 'print a JSON summary on stdout when stopped')
    .addHelpText(
      'after',
      `
Examples:
  $ showroom profiles
  $ showroom profiles --consumer profiles-1 --json

Applying is idempotent per eventId: events the API already applied, and redeliveries, change nothing.
\`showroom serve\` runs this consumer in-process unless started with --no-profiles.`,
    )
    .action(
      action<ProfilesOptions, ProfilesSummary>(async ({ config, logger, signal }, opts) => {
        const registry = createMetricsRegistry();
        const redis = createRedis(config.redisUrl, 'profiles');
        const eventLog = createEventLog(config, { logger, registry });
        const started = Date.now();
        try {
          await waitForRedis(redis, 5000);
          const profiles = new RedisProfileStore({ redis, prefix: config.redisPrefix, logger });
          const sub = await startProfileConsumer({ eventLog, profiles, logger, registry, consumer: opts.consumer });
          logger.info({ group: PROFILE_CONSUMER_GROUP }, 'profile consumer running; Ctrl-C to stop');
          await new Promise<void>((resolve) => {
            if (signal.aborted) resolve();
            else signal.addEventListener('abort', () => resolve(), { once: true });
          });
          await sub.close();
          const metric = (await registry.getSingleMetric('showroom_profile_events_total')?.get())?.values ?? [];
          const count = (outcome: string) => metric.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
          return { ok: true, group: PROFILE_CONSUMER_GROUP, seconds: Math.round((Date.now() - started) / 100) / 10, applied: count('applied'), skipped: count('skipped') };
        } finally {
          await eventLog.close();
          redis.disconnect();
        }
      }, (s) => `profile consumer stopped after ${s.seconds} s: ${s.applied} events applied, ${s.skipped} skipped`),
    );
}
