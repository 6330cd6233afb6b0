import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EVENT_TYPES } from '../../shared/domain/event.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { action, intOption, UsageError } from '../cli-support.js';
import { runBackfill, type BackfillSummary } from '../backfill/backfill.js';
import { stageProgress } from './batch-command.js';
import { sourceMapping } from './replay-command.js';

interface BackfillCommandOptions {
  from: string;
  to: string;
  model: string;
  activate?: boolean;
  lookbackDays?: number;
  topN?: number;
  threads: number;
  lakeFrom?: string;
  format?: string;
  map?: string;
  type?: string;
  json?: boolean;
}

const day = (name: string) => (raw: string): string => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`))) throw new UsageError(`--${name} must be a day YYYY-MM-DD, got "${raw}"`);
  return raw;
};

function human(s: BackfillSummary): string {
  const lines: string[] = [];
  if (s.rebuild) {
    const r = s.rebuild;
    lines.push(`lake rebuilt from ${r.source}: ${r.events} events in ${r.partitions} hour partitions (${r.replacedFiles} files replaced), ${r.rejected} rows rejected${r.rejectsFile ? ` (${r.rejectsFile})` : ''}`);
  }
  lines.push(`backfill of ${s.model} from ${s.from} to ${s.to}: ${s.days.length} runs`);
  for (const d of s.days) {
    lines.push(`  ${d.date}  ${d.runId}  ${d.status}${d.alreadyDone ? ' (already done)' : ''}${d.activated ? ', active' : ''}  predictions ${d.predictions ?? '-'}  nDCG ${d.ndcg?.toFixed(4) ?? '-'}  ${d.seconds} s${d.gate && !d.gate.passed ? `  gate failed: ${d.gate.reasons.join('; ')}` : ''}`);
  }
  for (const d of s.days) if (d.error) lines.push(`  ${d.date}: ${d.error}`);
  lines.push(s.activated ? `active run: ${s.activated}` : 'no run activated (pass --activate to activate the last one)');
  return lines.join('\n');
}

export function registerBackfillCommand(program: Command): void {
  program
    .command('backfill')
    .description('Run the batch job as of each day of a range (what would have been served then), each stored as a run')
    .requiredOption('--from <date>', 'first day, YYYY-MM-DD (UTC)', day('from'))
    .requiredOption('--to <date>', 'last day, YYYY-MM-DD (UTC), included', day('to'))
    .option('--model <name>', 'registered model', 'item-knn')
    .option('--activate', 'activate the last day’s run (after its quality gate); earlier runs are never activated')
    .option('--lookback-days <n>', 'days of history per run (default SHOWROOM_LOOKBACK_DAYS)', intOption('lookback-days', 1, 3650))
    .option('--top-n <n>', 'vehicles per customer (default SHOWROOM_TOP_N)', intOption('top-n', 1, 1000))
    .option('--threads <n>', 'worker threads for training and scoring (0 = inline)', intOption('threads', 0, 64), 2)
    .option('--lake-from <source>', 'first rebuild the lake partitions the runs read from this file (.parquet, .jsonl, .csv)')
    .option('--format <format>', '--lake-from: csv | jsonl | parquet (default: from the extension)')
    .option('--map <mapping>', '--lake-from: column mapping, as in `showroom import`')
    .option('--type <type>', `--lake-from: event type of every row without a type column (${EVENT_TYPES.join(', ')})`)
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
The run of day D uses the events before D 00:00 UTC (the nightly run that served D) and is
stored as run "backfill-D"; re-running a backfill skips the days already done. Nothing is
activated unless --activate, and then only the last day's run.
--lake-from replaces the hour partitions in [from − lookback, to) that the file has events for
(one file per partition, put atomically), then runs the days.

Examples:
  showroom backfill --from 2026-03-01 --to 2026-03-07
  showroom backfill --from 2026-03-01 --to 2026-03-07 --model popularity --activate --json
  showroom backfill --from 2026-03-05 --to 2026-03-06 --lake-from export.jsonl --lookback-days 30`,
    )
    .action(
      action<BackfillCommandOptions, BackfillSummary>(async (ctx, o) => {
        if (o.from > o.to) throw new UsageError(`--from ${o.from} is after --to ${o.to}`);
        const lakeFrom = o.lakeFrom
          ? { source: o.lakeFrom, ...sourceMapping({ source: o.lakeFrom, format: o.format, map: o.map, type: o.type }), rejectsFile: join(resolve(ctx.config.dataDir), 'replay', 'backfill-lake-from.rejects.jsonl') }
          : undefined;
        if (lakeFrom?.source === 'lake') throw new UsageError('--lake-from needs a file (.parquet, .jsonl, .csv)');
        if (lakeFrom) await mkdir(join(resolve(ctx.config.dataDir), 'replay'), { recursive: true });
        const lake = createLake(ctx.config);
        const store = await createPredictionStore(ctx.config, ctx.logger);
        const showProgress = !ctx.json || process.stderr.isTTY === true;
        const progress = stageProgress(showProgress);
        try {
          const summary = await runBackfill({
            lake,
            store,
            config: ctx.config,
            model: o.model,
            from: o.from,
            to: o.to,
            activate: o.activate,
            lookbackDays: o.lookbackDays ?? ctx.config.lookbackDays,
            topN: o.topN,
            threads: o.threads,
            lakeFrom,
            logger: ctx.logger,
            signal: ctx.signal,
            onProgress: progress.onProgress,
            onDay: (date, i, total, result) => {
              if (!showProgress) return;
              if (!result) process.stderr.write(`day ${i + 1}/${total}: ${date}\n`);
              else {
                progress.stop();
                process.stderr.write(`day ${i + 1}/${total}: ${date} ${result.status}${result.activated ? ', active' : ''} (${result.seconds} s)\n`);
              }
            },
          });
          if (summary.failed) {
            process.stderr.write(`showroom: ${summary.failed} of ${summary.days.length} days failed\n`);
            process.exitCode = 1;
          }
          return summary;
        } finally {
          progress.stop();
          await store.close();
        }
      }, human),
    );
}
