import type { Command } from 'commander';
import { action, EXIT_FAILED, intOption, progressBar, UsageError, type CommandContext } from '../cli-support.js';
import { ensureDemoRedis } from '../demo/local-redis.js';
import { startFuzzTarget, type FuzzTarget } from '../fuzz/fuzz-target.js';
import { formatFuzzReport, runFuzz, type FuzzReport } from '../fuzz/run-fuzz.js';
import { silentLogger } from '../../shared/telemetry/logger.js';

interface FuzzOptions {
  requests: number;
  seed: number;
  concurrency: number;
  phases: string;
  maxSeconds?: number;
  seriesBound: number;
  rssBoundMb: number;
  target?: string;
  readKey?: string;
  adminKey?: string;
  json?: boolean;
}

export interface FuzzCommandResult {
  ok: boolean;
  phases: FuzzReport[];
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

/** A running API given by `--target` (loopback only): its process is not ours, so RSS and crashes are unknown. */
function externalTarget(url: string, keys: { read: string; admin: string } | undefined): FuzzTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--target must be a URL such as http://127.0.0.1:3000, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' || !LOOPBACK.has(parsed.hostname)) throw new UsageError(`--target must be an http:// loopback URL (127.0.0.1, ::1, localhost), got "${url}"`);
  return {
    url: parsed.origin,
    keys,
    customers: ['c-0', 'c-1'],
    vehicles: ['v-0', 'v-1'],
    models: ['item-knn'],
    rssBytes: () => 0,
    crashes: () => [],
    processProblems: () => [],
    close: async () => {},
  };
}

async function runPhase(ctx: CommandContext, opts: FuzzOptions, withKeys: boolean, redisUrl: string): Promise<FuzzReport> {
  let target: FuzzTarget;
  if (opts.target) {
    const keys = opts.readKey && opts.adminKey ? { read: opts.readKey, admin: opts.adminKey } : undefined;
    target = externalTarget(opts.target, keys);
  } else {
    // The app's own request logs (one per 4xx) would drown the report: the target logs nothing.
    target = await startFuzzTarget({ config: { ...ctx.config, redisUrl }, logger: silentLogger(), withKeys });
  }
  const bar = progressBar(withKeys ? 'fuzz+keys' : 'fuzz-open', opts.requests);
  try {
    return await runFuzz({
      target,
      seed: opts.seed,
      requests: opts.requests,
      concurrency: opts.concurrency,
      maxDurationMs: opts.maxSeconds === undefined ? undefined : opts.maxSeconds * 1000,
      seriesBound: opts.seriesBound,
      rssGrowthBoundBytes: opts.target ? Number.POSITIVE_INFINITY : opts.rssBoundMb * 1024 * 1024,
      onProgress: (done) => bar.update(done),
      signal: ctx.signal,
    });
  } finally {
    bar.stop();
    await target.close();
  }
}

/**
 * `showroom fuzz` (= `npm run fuzz`): the hostile-input suite of scripts/fuzz against the API on
 * a free loopback port, once with keys and once without; exit 1 when any invariant broke.
 */
export function registerFuzzCommand(program: Command): void {
  program
    .command('fuzz')
    .description('Throw seeded hostile requests at every endpoint (with and without keys) and check: no 5xx, problem+json errors, authorisation, bounded metric series and RSS, process alive')
    .option('--requests <n>', 'requests per phase', intOption('requests', 1, 10_000_000), 2000)
    .option('--seed <n>', 'PRNG seed: the same seed sends the same requests', intOption('seed', 0, 0xffffffff), 13)
    .option('--concurrency <n>', 'requests in flight at once', intOption('concurrency', 1, 256), 16)
    .option('--phases <which>', 'both (with keys, then without), keys or open', 'both')
    .option('--max-seconds <n>', 'stop sending after this long per phase', intOption('max-seconds', 1, 86_400))
    .option('--series-bound <n>', 'most metric series the registry may hold at the end', intOption('series-bound', 1, 10_000_000), 2000)
    .option('--rss-bound-mb <n>', 'most RSS growth over a phase, MB', intOption('rss-bound-mb', 1, 1_000_000), 200)
    .option('--target <url>', 'fuzz an API already running on loopback instead of starting one (RSS and crashes are then not measured)')
    .option('--read-key <key>', 'with --target: its read key (with --admin-key: the keyed checks)')
    .option('--admin-key <key>', 'with --target: its admin key')
    .option('--json', 'print the reports as JSON on stdout')
    .addHelpText(
      'after',
      `
Starts the API in this process on a free 127.0.0.1 port, on Redis (REDIS_URL, else a private
redis-server; its own key prefix, removed at the end), an embedded Cosmos server (memory) with a
small seeded run, and Bull Board at /admin/queues; then sends --requests hostile requests: broken
JSON, wrong types, huge and deep values, bad ids and encodings, wrong content types and charsets,
prototype-pollution keys, case and slash variants of every route, oversized batches and raw
malformed HTTP, each with no key, a malformed or wrong key, a read key or an admin key.
Every failure class is printed with its count and a minimal reproducer (a curl line).

Examples:
  $ npm run fuzz -- --requests 20000             # = showroom fuzz --requests 20000: the long run
  $ showroom fuzz --requests 1500 --seed 7       # a quick run; the same seed sends the same requests
  $ showroom fuzz --phases keys --json > fuzz.json
  $ showroom fuzz --target http://127.0.0.1:3000 --read-key r --admin-key a --phases keys

Exit codes: 0 every invariant held, 1 one broke (or the run failed), 2 usage.`,
    )
    .action(
      action<FuzzOptions, FuzzCommandResult>(async (ctx, opts) => {
        if (!['both', 'keys', 'open'].includes(opts.phases)) throw new UsageError(`--phases must be both, keys or open, got "${opts.phases}"`);
        if (opts.target && opts.phases === 'both') opts.phases = opts.readKey && opts.adminKey ? 'keys' : 'open';
        if (opts.target && opts.phases === 'keys' && !(opts.readKey && opts.adminKey)) throw new UsageError('--phases keys with --target needs --read-key and --admin-key');
        const redis = opts.target ? undefined : await ensureDemoRedis(ctx.config.redisUrl);
        const phases: FuzzReport[] = [];
        try {
          for (const withKeys of opts.phases === 'both' ? [true, false] : [opts.phases === 'keys']) {
            if (ctx.signal.aborted) break;
            const report = await runPhase(ctx, opts, withKeys, redis?.url ?? ctx.config.redisUrl);
            phases.push(report);
            if (!ctx.json) process.stderr.write(`${formatFuzzReport(report, { maxClasses: 0 }).split('\n')[0]}\n`);
          }
        } finally {
          await redis?.stop();
        }
        const ok = phases.length > 0 && phases.every((p) => p.ok);
        if (!ok) process.exitCode = EXIT_FAILED;
        return { ok, phases };
      }, (r) => r.phases.map((p) => formatFuzzReport(p)).join('\n\n')),
    );
}
