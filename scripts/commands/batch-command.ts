import type { Command } from 'commander';
import type { RunStage } from '../../shared/domain/prediction.js';
import { createLake } from '../../shared/lake/create-lake.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { runBatch, type BatchResult, type Shard } from '../../offline/batch/batch-pipeline.js';
import { action, asUsage, collect, dateOption, intOption, progressBar, UsageError, type Progress } from '../cli-support.js';
import { getModel } from '../../offline/models/registry.js';
import { parseModelParams } from '../../offline/models/model-params.js';
import { addBatchTriggerCommand, gateOverride } from './batch-trigger-command.js';

interface BatchRunOptions {
  asOf?: string;
  model: string;
  shard?: string;
  runId?: string;
  activate: boolean;
  lookbackDays?: number;
  topN?: number;
  threads: number;
  verifyCount?: boolean;
  force?: string | true;
  param: string[];
  json?: boolean;
}

/** Parses `k/n` (0 ≤ k < n). */
export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  const k = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || k >= n) throw new UsageError(`--shard must be k/n with 0 ≤ k < n, got "${raw}"`);
  return { k, n };
}

/** One progress bar per stage on stderr, replaced when the stage changes. */
export function stageProgress(enabled: boolean): { onProgress: (stage: RunStage, done: number, total: number) => void; stop: () => void } {
  let current: { stage: RunStage; bar: Progress; total: number } | undefined;
  return {
    onProgress(stage, done, total) {
      if (!enabled) return;
      if (current?.stage !== stage) {
        current?.bar.stop();
        current = { stage, bar: progressBar(stage, total), total };
      } else if (current.total !== total) {
        current.bar.setTotal(total);
        current.total = total;
      }
      current.bar.update(done);
    },
    stop() {
      current?.bar.stop();
      current = undefined;
    },
  };
}

/** Lake rows left out for an id outside the id alphabet, and documents the store refused; undefined when none. */
export function skippedRowsLine(c: Record<string, number | undefined>): string | undefined {
  const parts = [
    ['eventId', c.skippedInvalidEventId],
    ['customerId', c.skippedInvalidCustomerId],
    ['vehicleId', c.skippedInvalidVehicleId],
    ['catalog vehicleId', c.skippedInvalidCatalogVehicleId],
  ] as const;
  const shown = parts.filter(([, n]) => (n ?? 0) > 0).map(([what, n]) => `${what} ${n}`);
  const refused = [['predictions', c.predictionsRejected], ['neighbours', c.neighboursRejected]] as const;
  const refusedShown = refused.filter(([, n]) => (n ?? 0) > 0).map(([what, n]) => `${what} ${n}`);
  const out: string[] = [];
  if (shown.length > 0) out.push(`skipped lake rows with an id outside the id alphabet: ${shown.join(', ')}`);
  if (refusedShown.length > 0) out.push(`documents refused by the store as invalid (skipped): ${refusedShown.join(', ')}`);
  return out.length > 0 ? out.join('; ') : undefined;
}

function human(r: BatchResult): string {
  const run = r.run;
  const lines = [`run ${run.runId} (${run.model}, asOf ${run.asOf}): ${run.status}${r.activated ? ', active' : ''}${r.alreadyDone ? ' (already done, nothing changed)' : ''}${r.waitingForShards ? ` (waiting for shards: ${run.shards?.done.length}/${run.shards?.total} done)` : ''}`];
  const c = run.counts;
  lines.push(`events ${c.events ?? '-'} (duplicates ${c.duplicates ?? 0}), customers ${c.customers ?? '-'}, vehicles for sale ${c.forSale ?? '-'}, predictions ${c.predictionsWritten ?? '-'}, neighbours ${c.neighboursWritten ?? '-'}`);
  const skipped = skippedRowsLine(c);
  if (skipped) lines.push(skipped);
  lines.push(`timings (s): ${Object.entries(run.timings).map(([k, v]) => `${k} ${((v ?? 0) / 1000).toFixed(1)}`).join(', ')}`);
  if (run.metrics) {
    const m = run.metrics;
    const b = run.baselineMetrics;
    lines.push(`held-out day @${m.k}: nDCG ${m.ndcg.toFixed(4)}, precision ${m.precision.toFixed(4)}, recall ${m.recall.toFixed(4)}, MAP ${m.map.toFixed(4)}, coverage ${m.coverage.toFixed(4)} (${m.customers} customers)`);
    if (b) lines.push(`popularity baseline: nDCG ${b.ndcg.toFixed(4)}, coverage ${b.coverage.toFixed(4)}`);
  }
  if (run.gate) lines.push(`gate: ${run.gate.passed ? 'passed' : `failed: ${run.gate.reasons.join('; ')}`}${run.gate.forced ? ` (forced: ${run.gate.reason})` : ''}`);
  return lines.join('\n');
}

/** The `showroom batch` command group (created on first call). Other commands add subcommands to it. */
export function batchCommandGroup(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === 'batch');
  if (existing) return existing;
  return program.command('batch').description('Offline batch runs: lake → model → every customer’s top vehicles in Cosmos');
}

/** `showroom batch run`: one batch run inline, with a progress bar per stage. */
export function registerBatchRunCommand(batch: Command): void {
  batch
    .command('run')
    .description('Run one batch inline: read → train → evaluate → score → write → gate → activate')
    .option('--as-of <date>', 'use events strictly before this instant (YYYY-MM-DD = 00:00 UTC; default today 00:00 UTC)', dateOption('as-of'))
    .option('--model <name>', 'registered model', 'item-knn')
    .option('--shard <k/n>', 'score only the customers with hash(customerId) % n == k; the last shard finalizes')
    .option('--run-id <id>', 'run id (default: <asOf date>-<hash of the inputs>, so a re-run is idempotent)')
    .option('--no-activate', 'stop after the quality gate, leave the active run as it is')
    .option('--lookback-days <n>', 'days of history (default SHOWROOM_LOOKBACK_DAYS)', intOption('lookback-days', 1, 3650))
    .option('--top-n <n>', 'vehicles per customer (default SHOWROOM_TOP_N)', intOption('top-n', 1, 1000))
    .option('--verify-count', 'count the stored predictions in Cosmos before activating (slow on the embedded server)')
    .option('--force [reason]', 'activate even if the quality gate fails; recorded on the run (gate.forced, gate.reason)')
    .option('--threads <n>', 'worker threads for training and scoring (0 = inline)', intOption('threads', 0, 64), 2)
    .option('--param <name=value>', 'a model parameter (repeatable; validated against the model\'s parameters, recorded on the run), e.g. --param similarity=jaccard --param halfLifeDays=30', collect, [])
    .option('--json', 'print the run record as JSON on stdout')
    .addHelpText(
      'after',
      `
Re-running the same run id is idempotent; a failed or interrupted run resumes from its stored
artefact and metrics. A run is activated only after every prediction is written and the quality
gate passed; otherwise the previous run stays active. --force overrides a failing gate (for
example after an outage left the held-out day empty) and records that, with the reason, on the run.

Examples:
  showroom batch run
  showroom batch run --as-of 2026-03-01 --model item-knn
  showroom batch run --shard 0/4 --run-id 2026-03-01-nightly
  showroom batch run --no-activate --json
  showroom batch run --model als --param factors=32 --param alpha=8
  showroom batch run --run-id 2026-03-01-nightly --force "held-out day empty after the outage"`,
    )
    .action(
      action<BatchRunOptions, BatchResult>(async (ctx, o) => {
        if (!/^[A-Za-z0-9._-]{1,100}$/.test(o.runId ?? 'x')) throw new UsageError('--run-id may only contain letters, digits, ".", "_" and "-"');
        const shard = o.shard ? parseShard(o.shard) : undefined;
        const params = asUsage(() => parseModelParams(getModel(o.model), o.param));
        const lake = createLake(ctx.config);
        const store = await createPredictionStore(ctx.config, ctx.logger);
        const progress = stageProgress(!ctx.json || process.stderr.isTTY === true);
        try {
          return await runBatch({
            config: ctx.config,
            lake,
            store,
            model: o.model,
            params,
            asOf: o.asOf,
            runId: o.runId,
            lookbackDays: o.lookbackDays,
            topN: o.topN,
            shard,
            activate: o.activate,
            threads: o.threads,
            verifyStoredCount: o.verifyCount,
            force: gateOverride(o.force, 'showroom batch run'),
            logger: ctx.logger,
            onProgress: progress.onProgress,
            signal: ctx.signal,
          });
        } finally {
          progress.stop();
          await store.close();
        }
      }, human),
    );
}

export function registerBatchCommand(program: Command): void {
  registerBatchRunCommand(batchCommandGroup(program));
  addBatchTriggerCommand(batchCommandGroup(program));
}
