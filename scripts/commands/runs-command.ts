import type { Command } from 'commander';
import type { RunRecord } from '../../shared/domain/prediction.js';
import { NotFound } from '../../shared/errors/app-error.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { activateRunChecked, discardRun } from '../../offline/batch/batch-pipeline.js';
import { action, intOption, type CommandContext } from '../cli-support.js';

interface RunsOptions {
  model?: string;
  limit?: number;
  json?: boolean;
}

async function withStore<R>(ctx: CommandContext, fn: (store: PredictionStore) => Promise<R>): Promise<R> {
  const store = await createPredictionStore(ctx.config, ctx.logger);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function fmt(n: number | undefined, digits = 4): string {
  return n === undefined ? '-' : n.toFixed(digits);
}

function table(runs: (RunRecord & { active: boolean })[]): string {
  if (runs.length === 0) return 'no runs';
  const head = ['', 'runId', 'status', 'stage', 'asOf', 'customers', 'nDCG@k', 'coverage', 'created'];
  const rows = runs.map((r) => [r.active ? '*' : '', r.runId, r.status, r.stage ?? '-', r.asOf.slice(0, 16), String(r.counts.predictionsWritten ?? '-'), fmt(r.metrics?.ndcg), fmt(r.metrics?.coverage), r.createdAt.slice(0, 19)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line), '', '* = active'].join('\n');
}

function show(r: RunRecord & { active: boolean }): string {
  const lines = [`run ${r.runId} of ${r.model}${r.active ? ' (active)' : ''}`, `status ${r.status}${r.stage ? `, stage ${r.stage}` : ''}, asOf ${r.asOf}`];
  lines.push(`created ${r.createdAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''}${r.activatedAt ? `, activated ${r.activatedAt}` : ''}`);
  lines.push(`params ${JSON.stringify(r.params)}`);
  lines.push(`counts ${Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  lines.push(`timings (ms) ${Object.entries(r.timings).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (r.metrics) lines.push(`metrics @${r.metrics.k}: nDCG ${fmt(r.metrics.ndcg)} precision ${fmt(r.metrics.precision)} recall ${fmt(r.metrics.recall)} MAP ${fmt(r.metrics.map)} coverage ${fmt(r.metrics.coverage)} (${r.metrics.customers} customers)`);
  if (r.baselineMetrics) lines.push(`popularity baseline: nDCG ${fmt(r.baselineMetrics.ndcg)} coverage ${fmt(r.baselineMetrics.coverage)}`);
  if (r.gate) lines.push(`gate ${r.gate.passed ? 'passed' : 'failed'}${r.gate.reasons.length ? `: ${r.gate.reasons.join('; ')}` : ''}`);
  if (r.shards) lines.push(`shards ${r.shards.done.length}/${r.shards.total} done`);
  if (r.error) lines.push(`error ${r.error}`);
  return lines.join('\n');
}

export function registerRunsCommand(program: Command): void {
  const runs = program.command('runs').description('Batch runs of a model: list, show, activate (rollback), discard');
  const modelOption = (c: Command) => c.option('--model <name>', 'model (default SHOWROOM_DEFAULT_MODEL)').option('--json', 'print JSON on stdout');

  modelOption(runs.command('list'))
    .description('Runs of a model, newest first (* = active)')
    .option('--limit <n>', 'at most this many', intOption('limit', 1, 1000), 20)
    .addHelpText('after', '\nExamples:\n  showroom runs list\n  showroom runs list --model popularity --json')
    .action(
      action<RunsOptions, (RunRecord & { active: boolean })[]>(
        async (ctx, o) =>
          withStore(ctx, async (store) => {
            const model = o.model ?? ctx.config.defaultModel;
            const [list, pointer] = await Promise.all([store.listRuns(model, { limit: o.limit }), store.getActiveRun(model)]);
            return list.map((r) => ({ ...r, popularity: undefined, active: r.runId === pointer?.runId }));
          }),
        table,
      ),
    );

  modelOption(runs.command('show <runId>'))
    .description('One run record: status, counts, timings, metrics, gate, error')
    .addHelpText('after', '\nExamples:\n  showroom runs show 2026-03-01-1a2b3c4d\n  showroom runs show 2026-03-01-1a2b3c4d --json')
    .action(
      action<RunsOptions, RunRecord & { active: boolean }>(
        async (ctx, o, args) =>
          withStore(ctx, async (store) => {
            const model = o.model ?? ctx.config.defaultModel;
            const run = await store.getRun(model, args[0]!);
            if (!run) throw new NotFound(`no run ${args[0]} of model ${model}`);
            return { ...run, active: (await store.getActiveRun(model))?.runId === run.runId };
          }),
        show,
      ),
    );

  modelOption(runs.command('activate <runId>'))
    .description('Point the model at a succeeded run (rollback = activate an older one)')
    .addHelpText('after', '\nExamples:\n  showroom runs activate 2026-02-28-9f8e7d6c')
    .action(
      action<RunsOptions, RunRecord & { active: boolean }>(
        async (ctx, o, args) => withStore(ctx, async (store) => ({ ...(await activateRunChecked(store, o.model ?? ctx.config.defaultModel, args[0]!)), active: true })),
        (r) => `run ${r.runId} of ${r.model} is active`,
      ),
    );

  modelOption(runs.command('discard <runId>'))
    .description('Mark a run discarded and delete its predictions and neighbours (not the active run)')
    .addHelpText('after', '\nExamples:\n  showroom runs discard 2026-03-01-1a2b3c4d')
    .action(
      action<RunsOptions, { runId: string; deleted: number }>(
        async (ctx, o, args) =>
          withStore(ctx, async (store) => {
            const r = await discardRun(store, o.model ?? ctx.config.defaultModel, args[0]!);
            return { runId: r.run.runId, deleted: r.deleted };
          }),
        (r) => `run ${r.runId} discarded, ${r.deleted} documents deleted`,
      ),
    );
}
