import type { Command } from 'commander';
import { UsageError, action, intOption, type CommandContext } from '../cli-support.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { createBatchQueue } from '../../shared/queue/batch-queue.js';
import {
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  setSchedule,
  type ScheduleDefaults,
  type ScheduleStatus,
} from '../../shared/queue/batch-schedules.js';
import { waitForRedis } from '../../shared/redis/redis-connection.js';

function defaults(ctx: CommandContext): ScheduleDefaults {
  return { models: [ctx.config.defaultModel], cron: ctx.config.nightlyCron, tz: ctx.config.nightlyTimeZone };
}

async function withBatch<T>(ctx: CommandContext, fn: (batch: ReturnType<typeof createBatchQueue>) => Promise<T>): Promise<T> {
  const batch = createBatchQueue(ctx.config.redisUrl, ctx.config.redisPrefix);
  try {
    await waitForRedis(batch.redis, 3000);
    return await fn(batch);
  } catch (err) {
    if (err instanceof InvalidArgument) throw new UsageError(err.message);
    throw err;
  } finally {
    await batch.close();
  }
}

function line(s: ScheduleStatus): string {
  const state = s.paused ? 'paused' : s.registered ? `next ${s.next ?? '?'}` : 'not registered (a worker registers it at start)';
  return `${s.model.padEnd(16)} ${s.cron.padEnd(14)} ${s.tz.padEnd(16)} shards ${String(s.shards).padEnd(3)} ${s.source.padEnd(7)} ${state}`;
}

/** `showroom schedule list|set|pause|resume`: the nightly batch schedule per model (BullMQ job schedulers). */
export function registerScheduleCommand(program: Command): void {
  const schedule = program
    .command('schedule')
    .description('Show and change the nightly batch schedule of each model (BullMQ job schedulers)')
    .addHelpText(
      'after',
      `
Examples:
  showroom schedule list
  showroom schedule set item-knn --cron "30 1 * * *" --tz Europe/Berlin --shards 4
  showroom schedule pause item-knn      # no nightly run until resumed; settings are kept
  showroom schedule resume item-knn

Defaults come from SHOWROOM_NIGHTLY_CRON (default "0 2 * * *") and SHOWROOM_NIGHTLY_TZ (UTC).
Workers register every schedule at start; a night missed while no worker ran runs once when one comes back.`,
    );

  schedule
    .command('list')
    .description('List every model\'s schedule, whether it is registered and when it fires next')
    .option('--json', 'print JSON')
    .action(
      action(
        async (ctx) => withBatch(ctx, async (batch) => ({ schedules: await listSchedules(batch, defaults(ctx)) })),
        (r) => (r.schedules.length === 0 ? 'no schedules' : r.schedules.map(line).join('\n')),
      ),
    );

  schedule
    .command('set')
    .description('Set a model\'s nightly cron and time zone (registered at once unless paused)')
    .argument('<model>', 'model name')
    .requiredOption('--cron <pattern>', 'cron pattern, 5 fields (or 6 with seconds first)')
    .option('--tz <zone>', 'IANA time zone of the cron (default SHOWROOM_NIGHTLY_TZ)')
    .option('--shards <n>', 'score shards of nightly runs', intOption('shards', 1, 256))
    .option('--json', 'print JSON')
    .action(
      action<{ cron: string; tz?: string; shards?: number; json?: boolean }, ScheduleStatus>(
        async (ctx, opts, [model]) =>
          withBatch(ctx, (batch) => setSchedule(batch, model ?? '', { cron: opts.cron, tz: opts.tz ?? ctx.config.nightlyTimeZone, shards: opts.shards }, defaults(ctx))),
        line,
      ),
    );

  schedule
    .command('pause')
    .description('Stop a model\'s nightly runs (the scheduler is removed; its settings are remembered)')
    .argument('<model>', 'model name')
    .option('--json', 'print JSON')
    .action(action<{ json?: boolean }, ScheduleStatus>(async (ctx, _o, [model]) => withBatch(ctx, (batch) => pauseSchedule(batch, model ?? '', defaults(ctx))), line));

  schedule
    .command('resume')
    .description('Register a paused model\'s scheduler again with its remembered settings')
    .argument('<model>', 'model name')
    .option('--json', 'print JSON')
    .action(action<{ json?: boolean }, ScheduleStatus>(async (ctx, _o, [model]) => withBatch(ctx, (batch) => resumeSchedule(batch, model ?? '', defaults(ctx))), line));
}
