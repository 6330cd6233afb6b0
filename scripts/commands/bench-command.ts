import path from 'node:path';
import type { Command } from 'commander';
import { action, progressBar, UsageError, type CommandContext, type Progress } from '../cli-support.js';
import { BENCH_SIZES, formatTable, runBenchSuite, writeResults, type BenchResults, type BenchSize } from '../bench/bench-suite.js';

interface BenchOptions {
  size: string;
  check?: boolean;
  out?: string;
  save?: boolean;
  cpuProf?: string;
  json?: boolean;
}

export interface BenchCommandResult extends BenchResults {
  /** The results file written (full size by default; small only with --out). */
  resultsFile?: string;
}

/**
 * `showroom bench` (= `npm run bench`): the benchmark suite on the real embedded stack, each
 * figure next to its ceiling measured in the same run (see scripts/bench/bench-suite.ts).
 */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('Benchmark showroom on this machine (serving, ingest, event log, sink, batch run, freshness, memory), each figure next to its ceiling')
    .option('--size <size>', `small (CI, about a minute) or full (${BENCH_SIZES.full.dataset.customers} customers, ${BENCH_SIZES.full.dataset.vehicles} vehicles, ${BENCH_SIZES.full.dataset.days} days)`, 'small')
    .option('--check', 'only check that every measure produced a number (exit 1 otherwise); targets are not judged')
    .option('--out <dir>', 'folder of the results files (default bench/results for --size full; small writes none unless given)')
    .option('--no-save', 'do not write results files')
    .option('--cpu-prof <dir>', 'write a V8 CPU profile of the API server process into <dir> (open it in Chrome DevTools)')
    .option('--json', 'print the full results as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ npm run bench -- --size full                 # = showroom bench --size full; writes bench/results/<date>-<machine>.json/.md
  $ showroom bench --size small --check          # what CI runs: fails only when a benchmark is broken
  $ showroom bench --size small --json > bench.json

The generated full-size lake is cached under SHOWROOM_DATA_DIR/bench/lake-full (keyed by size and
seed), so reruns skip generation. Redis comes from REDIS_URL (else a private redis-server); the
embedded Cosmos server, the API, its ceilings (the same server construction serving the same body;
the same server doing one bare append per POST), stock Express and the autocannon load generator
each run in their own process. Other jobs on the machine skew absolute figures; the ratios to the
ceilings measured in the same run hold better: the host and its ceilings are printed first and
open the results file, with the load average.`,
    )
    .action(action<BenchOptions, BenchCommandResult>((ctx, opts) => runBench(ctx, opts), (r) => `${formatTable(r)}${r.resultsFile ? `\n\nresults: ${r.resultsFile} (+ .md)` : ''}`));
}

async function runBench(ctx: CommandContext, opts: BenchOptions): Promise<BenchCommandResult> {
  if (opts.size !== 'small' && opts.size !== 'full') throw new UsageError(`--size must be small or full, got "${opts.size}"`);
  const size: BenchSize = opts.size;
  let bar: Progress | undefined;
  const started = Date.now();
  const results = await runBenchSuite({
    config: ctx.config,
    size,
    logger: ctx.logger,
    signal: ctx.signal,
    cpuProfileDir: opts.cpuProf ? path.resolve(opts.cpuProf) : undefined,
    onStage: (s) => {
      bar?.stop();
      bar = undefined;
      process.stderr.write(`bench [${Math.round((Date.now() - started) / 1000)} s]: ${s}\n`);
    },
    onGenerate: (p) => {
      bar ??= progressBar('generate', p.total);
      bar.setTotal(p.total);
      bar.update(p.done);
    },
  });
  bar?.stop();
  const out = opts.out ?? (size === 'full' ? 'bench/results' : undefined);
  const resultsFile = opts.save !== false && out ? await writeResults(path.resolve(out), results) : undefined;
  if (opts.check && results.missing.length > 0) {
    process.exitCode = 1;
    process.stderr.write(`showroom bench: broken benchmark, no number for: ${results.missing.join('; ')}\n`);
  }
  return { ...results, resultsFile };
}
