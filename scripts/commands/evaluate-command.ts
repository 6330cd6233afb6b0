import type { Command } from 'commander';
import { createLake } from '../../shared/lake/create-lake.js';
import { runEvaluation, type EvaluationReport, type Protocol } from '../../offline/evaluation/run-evaluation.js';
import { action, asUsage, collect, dateOption, intOption, numberOption, progressBar, UsageError, type Progress } from '../cli-support.js';
import { getModel } from '../../offline/models/registry.js';
import { parseParamsByModel } from '../../offline/models/model-params.js';
import { formatOnlineEvaluation, runOnlineEvaluation, type OnlineEvaluationReport } from '../evaluate-online/evaluate-online.js';

interface EvaluateOptions {
  protocol: string;
  ratio: number;
  seed: number;
  k: number;
  asOf?: string;
  lookbackDays?: number;
  testDays: number;
  models: string;
  param: string[];
  maxCustomers?: number;
  online?: boolean;
  day?: string;
  url?: string;
  key?: string;
  json?: boolean;
}

/** The metrics table `showroom evaluate` prints. */
export function formatEvaluation(r: EvaluationReport): string {
  const head = ['model', `precision@${r.k}`, `recall@${r.k}`, `nDCG@${r.k}`, `MAP@${r.k}`, 'coverage', 'customers', 'train s'];
  const rows = r.results.map((e) => [
    e.model,
    e.metrics.precision.toFixed(4),
    e.metrics.recall.toFixed(4),
    e.metrics.ndcg.toFixed(4),
    e.metrics.map.toFixed(4),
    e.metrics.coverage.toFixed(4),
    String(e.metrics.customers),
    (e.trainMs / 1000).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`${r.split}`, `events: ${r.events.train} train, ${r.events.test} test`, '', line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const knn = r.results.find((e) => e.model === 'item-knn');
  const pop = r.results.find((e) => e.model === 'popularity');
  if (knn && pop && pop.metrics.ndcg > 0) out.push('', `item-knn / popularity nDCG@${r.k}: ${(knn.metrics.ndcg / pop.metrics.ndcg).toFixed(2)}x`);
  return out.join('\n');
}

export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description('Offline evaluation of models on the lake: precision, recall, nDCG, MAP @k and catalogue coverage')
    .option('--protocol <name>', 'time (train before a cut, test after) | stratified (per-customer random split)', 'time')
    .option('--ratio <r>', 'stratified: share of each customer’s vehicles in train', numberOption('ratio', 0, 1), 0.75)
    .option('--seed <n>', 'stratified: random seed', intOption('seed'), 42)
    .option('--k <n>', 'cut-off of the lists', intOption('k', 1, 1000), 10)
    .option('--as-of <date>', 'end of the data (exclusive), YYYY-MM-DD or ISO (default: now)', dateOption('as-of'))
    .option('--lookback-days <n>', 'days of history read (default SHOWROOM_LOOKBACK_DAYS)', intOption('lookback-days', 1, 3650))
    .option('--test-days <n>', 'time: days after the cut in the test part', numberOption('test-days', 0, 3650), 1)
    .option('--models <list>', 'comma-separated registered models', 'item-knn,popularity')
    .option('--max-customers <n>', 'evaluate at most this many customers (evenly sampled)', intOption('max-customers', 1))
    .option('--param <[model.]name=value>', 'a model parameter (repeatable): name=value sets it for every evaluated model that has it, model.name=value for one', collect, [])
    .option('--online', 'freshness lift: train as of --day, replay the next day through the API, precomputed vs re-ranked hit rate / nDCG @k on discovery (already-engaged vehicles removed; the headline) and re-engagement, and the served share of already-engaged vehicles')
    .option('--day <date>', 'online: last training day YYYY-MM-DD (default: the day before the lake’s last day)')
    .option('--url <url>', 'online: a running service (its run is replaced!); default: a private embedded stack')
    .option('--key <key>', 'online: API key of --url')
    .option('--json', 'print the report as JSON on stdout')
    .addHelpText(
      'after',
      `
Relevant items: vehicles with a positive-weight event in the test part that the customer had not
interacted with in the train part; lists exclude vehicles seen in train.

Examples:
  showroom evaluate --protocol time --k 10
  showroom evaluate --protocol stratified --ratio 0.75 --seed 42 --models item-knn,popularity
  showroom evaluate --models item-knn,als --param halfLifeDays=30 --param item-knn.similarity=jaccard
  showroom evaluate --as-of 2026-03-01 --lookback-days 30 --test-days 2 --json
  showroom evaluate --online --k 10                  # freshness lift on the embedded stack
  showroom evaluate --online --day 2026-03-06 --max-customers 500 --json`,
    )
    .action(
      action<EvaluateOptions, EvaluationReport | OnlineEvaluationReport>(async (ctx, o) => {
        if (o.online) {
          let bar: Progress | undefined;
          let stage = '';
          const show = !ctx.json || process.stderr.isTTY === true;
          try {
            return await runOnlineEvaluation({
              config: ctx.config,
              logger: ctx.logger,
              lake: createLake(ctx.config),
              day: o.day,
              k: o.k,
              model: o.models.split(',')[0]?.trim() || undefined,
              url: o.url,
              key: o.key,
              maxCustomers: o.maxCustomers,
              lookbackDays: o.lookbackDays,
              signal: ctx.signal,
              onProgress: (s, done, total) => {
                if (!show) return;
                if (s !== stage) {
                  bar?.stop();
                  stage = s;
                  bar = progressBar(s, total);
                }
                bar?.setTotal(total);
                bar?.update(done);
              },
            });
          } finally {
            bar?.stop();
          }
        }
        if (o.protocol !== 'time' && o.protocol !== 'stratified') throw new UsageError(`--protocol must be time or stratified, got "${o.protocol}"`);
        const models = o.models.split(',').map((s) => s.trim()).filter(Boolean);
        const params = asUsage(() => parseParamsByModel(models.map((m) => getModel(m)), o.param));
        const lake = createLake(ctx.config);
        return runEvaluation({
          lake,
          protocol: o.protocol as Protocol,
          asOf: o.asOf ?? new Date().toISOString(),
          lookbackDays: o.lookbackDays ?? ctx.config.lookbackDays,
          testDays: o.testDays,
          ratio: o.ratio,
          seed: o.seed,
          k: o.k,
          models,
          params,
          maxCustomers: o.maxCustomers,
          signal: ctx.signal,
        });
      }, (r) => ('rows' in r ? formatOnlineEvaluation(r) : formatEvaluation(r))),
    );
}
