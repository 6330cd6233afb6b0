import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EVENT_TYPES, type EventType } from '../../shared/domain/event.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createRedis } from '../../shared/redis/redis-connection.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { inferFormat, parseMapping, type ColumnMapping, type ImportFormat } from '../../offline/import/event-import.js';
import { action, dateOption, numberOption, intOption, progressBar, UsageError, type Progress } from '../cli-support.js';
import { replay, type ReplaySummary } from '../replay/replay.js';
import { apiTarget, logTarget, type ReplayTarget } from '../replay/replay-targets.js';

interface ReplayCommandOptions {
  source: string;
  format?: string;
  map?: string;
  type?: string;
  from?: string;
  to?: string;
  target: string;
  url?: string;
  key?: string;
  rate?: number;
  speed?: number;
  batchSize?: number;
  concurrency?: number;
  dryRun?: boolean;
  resume?: boolean;
  dedupe: boolean;
  rejects?: string;
  json?: boolean;
}

/** `--to` given as a day (YYYY-MM-DD) includes that whole day; an ISO instant is exclusive. */
export function endOption(name: string) {
  const parse = dateOption(name);
  return (raw: string): string => {
    const iso = parse(raw);
    return /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(Date.parse(iso) + 86_400_000).toISOString() : iso;
  };
}

/** Parses `--map`/`--format`/`--type` like `showroom import`, as usage errors. */
export function sourceMapping(o: { source: string; format?: string; map?: string; type?: string }): { mapping: ColumnMapping; format?: ImportFormat; type?: EventType } {
  if (o.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(o.type)) throw new UsageError(`--type must be one of ${EVENT_TYPES.join(', ')}`);
  try {
    const mapping = parseMapping(o.map);
    const format = o.source === 'lake' ? undefined : inferFormat(o.source, o.format);
    return { mapping, format, type: o.type as EventType | undefined };
  } catch (err) {
    if (err instanceof InvalidArgument) throw new UsageError(err.message);
    throw err;
  }
}

function human(s: ReplaySummary): string {
  const lines: string[] = [];
  const head = s.dryRun ? 'dry run' : s.interrupted ? 'interrupted' : s.complete ? 'done' : 'stopped';
  lines.push(`${head}: ${s.source} → ${s.target}`);
  lines.push(`rows ${s.rows}, events in range ${s.events}${s.outOfRange ? ` (${s.outOfRange} outside --from/--to)` : ''}, rejected ${s.rejected}`);
  if (!s.dryRun) {
    lines.push(`sent ${s.sent} (accepted ${s.accepted}, duplicates ${s.duplicates}) in ${s.seconds} s, ${s.rate} events/s; position ${s.position}/${s.events}${s.resumed ? ` (resumed at ${s.startPosition})` : ''}`);
  }
  for (const r of s.rejectReasons.slice(0, 8)) lines.push(`  ${r.count} × ${r.reason}`);
  if (s.rejectsFile) lines.push(`rejected rows: ${s.rejectsFile}`);
  if (s.interrupted) lines.push('continue with the same command and --resume');
  return lines.join('\n');
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('Replay events from the lake or a file into the event log or a running API, keeping their eventIds')
    .requiredOption('--source <source>', 'lake | <file.parquet> | <file.jsonl> | <file.csv>')
    .option('--format <format>', 'csv | jsonl | parquet (default: from the extension)')
    .option('--map <mapping>', 'column mapping of a file, as in `showroom import` (field=column[:conversion],...)')
    .option('--type <type>', `event type of every row when no column is mapped to type (${EVENT_TYPES.join(', ')})`)
    .option('--from <date>', 'first occurredAt replayed (inclusive; YYYY-MM-DD = 00:00 UTC)', dateOption('from'))
    .option('--to <date>', 'end of occurredAt (exclusive instant; a YYYY-MM-DD day is included whole)', endOption('to'))
    .option('--target <target>', 'log (the event log directly) | api (POST /v1/events at --url)', 'log')
    .option('--url <url>', 'api: base URL of the running service (default http://127.0.0.1:$PORT)')
    .option('--key <key>', 'api: API key (default: the first of SHOWROOM_API_KEYS)')
    .option('--rate <n>', 'events per second (default: as fast as possible)', numberOption('rate', 0.001))
    .option('--speed <x>', 'relative to the original timing (2 = twice as fast)', numberOption('speed', 0.000001))
    .option('--batch-size <n>', 'events per batch (api: at most 500)', intOption('batch-size', 1, 1000))
    .option('--concurrency <n>', 'batches in flight', intOption('concurrency', 1, 64), 4)
    .option('--dry-run', 'validate and count only; send nothing')
    .option('--resume', 'continue from the last confirmed position of the same replay')
    .option('--no-dedupe', 'log target: append every event, even ones the service already has (consumers still de-duplicate)')
    .option('--rejects <file>', 'where rejected rows go (default <SHOWROOM_DATA_DIR>/replay/<key>.rejects.jsonl)')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Events keep their eventId: the API answers repeats as duplicates, and the log target claims the
same dedupe keys (SHOWROOM_REDIS_PREFIX dedupe:{d<bucket>}:<eventId>, 48 h) before appending, so replaying
twice adds nothing; the sink and the batch job also de-duplicate by eventId. The last confirmed position is saved
after every batch in <SHOWROOM_DATA_DIR>/replay/; after Ctrl-C or a crash, --resume continues there.

Examples:
  showroom replay --source lake --from 2026-03-01 --to 2026-03-02 --target log
  showroom replay --source history.csv --map customerId=user,vehicleId=item,occurredAt=ts:unix --type view --dry-run
  showroom replay --source lake --target api --url http://127.0.0.1:8080 --key $KEY --rate 2000
  showroom replay --source events.jsonl --speed 60 --resume --json`,
    )
    .action(
      action<ReplayCommandOptions, ReplaySummary>(async (ctx, o) => {
        if (o.target !== 'log' && o.target !== 'api') throw new UsageError(`--target must be log or api, got "${o.target}"`);
        if (o.rate !== undefined && o.speed !== undefined) throw new UsageError('pass --rate or --speed, not both');
        const { mapping, format, type } = sourceMapping(o);
        const lake = o.source === 'lake' ? createLake(ctx.config) : undefined;
        let target: ReplayTarget | undefined;
        let close = async () => {};
        if (!o.dryRun) {
          if (o.target === 'api') {
            target = apiTarget({ url: o.url ?? `http://127.0.0.1:${ctx.config.port}`, key: o.key ?? ctx.config.apiKeys[0] });
          } else {
            const eventLog = createEventLog(ctx.config, { logger: ctx.logger });
            const redis = o.dedupe ? createRedis(ctx.config.redisUrl, 'replay') : undefined;
            close = async () => {
              await eventLog.close();
              redis?.disconnect();
            };
            const description = ctx.config.eventHubsConnectionString ? `event hub ${ctx.config.eventHubName}` : `redis streams ${ctx.config.redisPrefix}log:*`;
            target = logTarget(eventLog, description, redis ? { redis, prefix: ctx.config.redisPrefix } : undefined);
          }
        }
        let bar: Progress | undefined;
        const showProgress = !ctx.json || process.stderr.isTTY === true;
        try {
          const summary = await replay({
            source: o.source,
            lake,
            format,
            mapping,
            type,
            from: o.from,
            to: o.to,
            target,
            rate: o.rate,
            speed: o.speed,
            batchSize: o.batchSize,
            concurrency: o.concurrency,
            dryRun: o.dryRun,
            resume: o.resume,
            stateDir: join(resolve(ctx.config.dataDir), 'replay'),
            rejectsFile: o.rejects,
            signal: ctx.signal,
            onProgress: (done, total) => {
              if (!showProgress) return;
              bar ??= progressBar('replay', total);
              bar.update(done);
            },
          });
          bar?.stop();
          if (summary.rejected > 0) process.stderr.write(`showroom: ${summary.rejected} rows rejected (${summary.rejectReasons[0]?.reason ?? ''}...), see ${summary.rejectsFile}\n`);
          if (summary.interrupted) {
            process.stderr.write(`showroom: replay interrupted at ${summary.position}/${summary.events}; run again with --resume to continue\n`);
            process.exitCode = 130;
          }
          return summary;
        } finally {
          bar?.stop();
          await close();
        }
      }, human),
    );
}
