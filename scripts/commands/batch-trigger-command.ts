import type { Command } from 'commander';
import { EXIT_FAILED, action, dateOption, intOption, progressBar, type Progress } from '../cli-support.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import { errorMessage } from '../../shared/errors/app-error.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { createBatchQueue, triggerRun, waitForRun } from '../../shared/queue/batch-queue.js';
import { waitForRedis } from '../../shared/redis/redis-connection.js';

interface TriggerOptions {
  model?: string;
  asOf?: string;
  shards?: number;
  runId?: string;
  wait?: boolean;
  force?: string | true;
  json?: boolean;
}

export interface TriggerSummary {
  ok: boolean;
  model: string;
  runId: string;
  alreadyInFlight: boolean;
  asOf?: string;
  shards?: number;
  /** With --wait: the final run record's status, counts, timings (ms) and error. */
  status?: RunRecord['status'];
  activated?: boolean;
  counts?: Record<string, number>;
  timings?: RunRecord['timings'];
  error?: string;
  seconds?: number;
}

/** `--force [reason]` → the gate override recorded on the run (a default reason naming the command). */
export function gateOverride(force: string | true | undefined, command: string): { reason: string } | undefined {
  if (force === undefined) return undefined;
  const reason = force === true ? '' : force.trim();
  return { reason: reason || `forced by the operator (${command} --force)` };
}

/**
 * Adds `showroom batch trigger` to the `batch` command: queues a run for the BullMQ workers
 * (`showroom worker`), optionally waiting for it with a progress bar.
 */
export function addBatchTriggerCommand(batch: Command): void {
  batch
    .command('trigger')
    .description('Queue a batch run for the workers (showroom worker); at most one run per model is in flight')
    .option('--model <name>', 'model to run (default SHOWROOM_DEFAULT_MODEL)')
    .option('--as-of <date>', 'use events strictly before this instant (YYYY-MM-DD or ISO-8601; default today 00:00 UTC)', dateOption('as-of'))
    .option('--shards <n>', 'score shards, spread over every running worker', intOption('shards', 1, 256), 1)
    .option('--run-id <id>', 'a run id of your own (default: timestamp + random)')
    .option('--force [reason]', 'activate even if the quality gate fails; recorded on the run (gate.forced, gate.reason)')
    .option('--wait', 'wait until the run succeeded or failed, with progress on stderr (exit 1 when it failed)')
    .option('--json', 'print the summary as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ showroom batch trigger                          # queue a run of the default model, print its id
  $ showroom batch trigger --shards 4 --wait        # 4 shards over the running workers; wait for the outcome
  $ showroom batch trigger --as-of 2026-01-31 --json
  $ showroom batch trigger --force "evaluation day empty after the outage" --wait

When a run of the model is already in flight nothing is queued: the command prints that run's id and exits 1.
Needs a running \`showroom worker\` (or \`showroom demo\`) to make progress.`,
    )
    .action(
      action<TriggerOptions, TriggerSummary>(async ({ config, logger, signal, json }, opts) => {
        const model = opts.model ?? config.defaultModel;
        const queue = createBatchQueue(config.redisUrl, config.redisPrefix);
        const started = Date.now();
        try {
          await waitForRedis(queue.redis, 3000);
          const force = gateOverride(opts.force, 'showroom batch trigger');
          const t = await triggerRun(queue, { model, asOf: opts.asOf, shards: opts.shards, runId: opts.runId, trigger: 'manual', ...(force ? { force } : {}) });
          if (t.alreadyInFlight) {
            process.stderr.write(`showroom: a run of ${model} is already in flight: ${t.runId}\n`);
            process.exitCode = EXIT_FAILED;
            return { ok: false, model, runId: t.runId, alreadyInFlight: true };
          }
          const summary: TriggerSummary = { ok: true, model, runId: t.runId, alreadyInFlight: false, asOf: t.asOf, shards: t.shards };
          if (!opts.wait) return summary;

          const store = await createPredictionStore(config, logger);
          let bar: Progress | undefined;
          let stage: string | undefined;
          try {
            process.stderr.write(`run ${t.runId} queued; waiting (Ctrl-C stops waiting, the run goes on)\n`);
            const run = await waitForRun(store, model, t.runId, {
              signal,
              intervalMs: 500,
              onError: (err) => logger.warn({ err: errorMessage(err) }, 'reading the run record failed; still waiting'),
              onUpdate: (r) => {
                if (!r) return;
                if (r.stage !== stage && r.stage !== 'score') {
                  stage = r.stage;
                  if (!bar) process.stderr.write(`  ${r.status} ${r.stage ?? ''}\n`);
                }
                const total = r.counts.customers;
                if (r.stage === 'score' && total && !bar) bar = progressBar('score', total, { enabled: !json || process.stderr.isTTY });
                bar?.update(r.counts.scored ?? 0);
              },
            });
            bar?.stop();
            const activated = run.status === 'succeeded' && Boolean(run.activatedAt);
            if (run.status !== 'succeeded') process.exitCode = EXIT_FAILED;
            return {
              ...summary,
              ok: run.status === 'succeeded',
              status: run.status,
              activated,
              counts: run.counts,
              timings: run.timings,
              error: run.error,
              seconds: (Date.now() - started) / 1000,
            };
          } finally {
            bar?.stop();
            await store.close();
          }
        } finally {
          await queue.close();
        }
      }, human),
    );
}

function human(s: TriggerSummary): string {
  if (s.alreadyInFlight) return `not queued: run ${s.runId} of ${s.model} is already in flight`;
  if (!s.status) return `queued run ${s.runId} of ${s.model} (asOf ${s.asOf}, ${s.shards} shard${s.shards === 1 ? '' : 's'})`;
  const lines = [`run ${s.runId} of ${s.model}: ${s.status}${s.activated ? ', activated' : ''} after ${s.seconds?.toFixed(1)} s`];
  if (s.counts) lines.push(`  customers ${s.counts.customers ?? '?'}, predictions ${s.counts.predictionsWritten ?? '?'}, events ${s.counts.events ?? '?'}`);
  if (s.timings) lines.push(`  timings (ms): ${Object.entries(s.timings).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (s.error) lines.push(`  error: ${s.error}`);
  return lines.join('\n');
}
