import type { Command } from 'commander';
import { action, dateOption, intOption, progressBar, UsageError, type Progress } from '../cli-support.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import type { Lake } from '../../shared/lake/lake.js';
import type { Config } from '../../shared/config/config.js';
import { generateDataset, type GenerateProgress, type GenerateResult } from '../generate/generate-dataset.js';

interface GenerateFlags {
  customers: number;
  vehicles: number;
  days: number;
  seed: number;
  out?: string;
  end?: string;
  json?: boolean;
}

/** Yesterday (UTC) as YYYY-MM-DD. */
function yesterdayUtc(now = Date.now()): string {
  return new Date(now - 24 * 3600 * 1000).toISOString().slice(0, 10);
}

/** `--out`: a folder or a lake URL; default the configured lake (LAKE_URL). */
function lakeFor(out: string | undefined, config: Config): Lake {
  if (out === undefined) return createLake(config);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(out) || /AccountName=|UseDevelopmentStorage=true/i.test(out)) return createLake({ ...config, lakeUrl: out });
  return new LocalLake(out);
}

function human(r: GenerateResult): string {
  const mb = (r.bytes / 1e6).toFixed(1);
  const types = Object.entries(r.eventsByType)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  return [
    `generated ${r.events} events (${r.start} .. ${r.end}) for ${r.customers} customers and ${r.vehicles} vehicles in ${r.seconds} s`,
    `  ${types}`,
    `  ${r.files} files (${r.eventFiles} event, ${r.snapshotFiles} catalog snapshots), ${mb} MB → ${r.lake}`,
  ].join('\n');
}

export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('Write a deterministic synthetic dataset (catalog snapshots, inventory churn, customer journeys) to the Parquet lake')
    .option('--customers <n>', 'customers with at least one session', intOption('customers', 1, 50_000_000), 2000)
    .option('--vehicles <n>', 'vehicles in stock when the window starts (~1/45 more are listed daily)', intOption('vehicles', 10, 5_000_000), 500)
    .option('--days <n>', 'days of events', intOption('days', 1, 366), 7)
    .option('--seed <n>', 'PRNG seed: the same seed and sizes give the same data', intOption('seed', 0, 0xffffffff), 42)
    .option('--end <date>', 'last day of events, YYYY-MM-DD UTC (default: yesterday)')
    .option('--out <lake>', 'lake root: a folder or file:// / Blob URL (default: LAKE_URL, file://./data/lake)')
    .option('--json', 'print a JSON summary on stdout')
    .addHelpText(
      'after',
      `
Writes events/date=YYYY-MM-DD/hour=HH/generate-00000000.parquet and vehicles/date=YYYY-MM-DD/vehicles.parquet
(one catalog snapshot per day, as of 00:00 UTC, plus the day after --end). Re-running overwrites the same files.

Examples:
  showroom generate                                   # 2000 customers, 500 vehicles, 7 days into ./data/lake
  showroom generate --customers 2000 --vehicles 500 --days 7 --out /tmp/lake --json
  showroom generate --customers 200000 --vehicles 20000 --days 30 --seed 7 --end 2026-03-31`,
    )
    .action(
      action<GenerateFlags, GenerateResult>(async (ctx, flags) => {
        let end = yesterdayUtc();
        if (flags.end !== undefined) {
          const iso = dateOption('end')(flags.end);
          if (!iso.endsWith('T00:00:00.000Z')) throw new UsageError(`--end must be a day (YYYY-MM-DD), got "${flags.end}"`);
          end = iso.slice(0, 10);
        }
        const lake = lakeFor(flags.out, ctx.config);
        let bar: Progress | undefined;
        let phase: GenerateProgress['phase'] | undefined;
        const onProgress = (p: GenerateProgress) => {
          if (p.phase !== phase) {
            bar?.stop();
            phase = p.phase;
            bar = progressBar(p.phase === 'simulate' ? 'sessions' : p.phase, p.total);
          }
          bar?.update(p.done);
        };
        try {
          return await generateDataset({ customers: flags.customers, vehicles: flags.vehicles, days: flags.days, seed: flags.seed, end, lake, signal: ctx.signal }, onProgress);
        } finally {
          bar?.stop();
        }
      }, human),
    );
}
