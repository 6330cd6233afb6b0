/**
 * Tuning harness of the re-ranker's discovery policy on generated data (not part of the CLI):
 *
 *   npx tsx scripts/evaluate-online/tune-rerank.ts <dir> <day> '<policies JSON array>'
 *
 * Generates a dataset in <dir> once (600 customers, 150 vehicles, 10 days ending 2026-03-10,
 * seed 7), then runs `evaluate --online` as of <day> once per policy of the array (each a
 * Partial<RerankPolicy> for the default model) and prints one JSON line per policy: the
 * discovery and re-engagement `all` rows and the served share of already-engaged vehicles.
 * Tune on one day (validation), report another.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../shared/config/config.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import type { RerankPolicy } from '../../shared/rerank/rerank-policy.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { generateDataset } from '../generate/generate-dataset.js';
import { runOnlineEvaluation } from './evaluate-online.js';

async function main(): Promise<void> {
  const [dir, day, policiesJson] = process.argv.slice(2);
  if (!dir || !day) throw new Error('usage: tune-rerank.ts <dir> <day> [policies JSON array]');
  const lakeDir = join(dir, 'lake');
  const lake = new LocalLake(lakeDir);
  await mkdir(dir, { recursive: true });
  if (!existsSync(lakeDir)) await generateDataset({ customers: 600, vehicles: 150, days: 10, seed: 7, end: '2026-03-10', lake, stagingDir: dir });
  const config = loadConfig({ ...process.env, LAKE_URL: `file://${lakeDir}`, SHOWROOM_DATA_DIR: join(dir, 'data'), SHOWROOM_LOG_LEVEL: 'error' });
  const variants = JSON.parse(policiesJson ?? '[{}]') as Partial<RerankPolicy>[];
  for (const v of variants) {
    const r = await runOnlineEvaluation({ config, logger: silentLogger(), lake, day, k: 10, lookbackDays: 30, policies: { [config.defaultModel]: v }, maxCustomers: Number(process.env.TUNE_CUSTOMERS ?? 300) });
    const pick = (rows: typeof r.rows, t: string) => {
      const x = rows.find((y) => y.type === t)!;
      return { n: x.requests, pre: +x.precomputed.hitRate.toFixed(4), re: +x.reranked.hitRate.toFixed(4), lift: x.lift.hitRate && +x.lift.hitRate.toFixed(2), ndcgPre: +x.precomputed.ndcg.toFixed(4), ndcgRe: +x.reranked.ndcg.toFixed(4), served: +x.asServed.hitRate.toFixed(4), seen: x.servedEngaged && +x.servedEngaged.toFixed(2) };
    };
    console.log(JSON.stringify({ policy: v, day, discovery: { all: pick(r.discovery, 'all'), engaged: pick(r.discovery, 'engaged'), view: pick(r.discovery, 'view') }, reengagement: pick(r.rows, 'all'), seconds: r.seconds }));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
