/**
 * Discovery rows of the bench (issue 14 item 4, issue 19 item 4): `evaluate --online` on the
 * bench's lake — train as of the day before its last day, replay the last day through the API —
 * scored on discovery: every vehicle the customer engaged with before a request removed from
 * both lists, requests for never-engaged vehicles only (scripts/evaluate-online/freshness-metrics.ts).
 * Target: re-ranked hit rate@10 ≥ 1.5 × the precomputed list's.
 */
import type { Config } from '../../shared/config/config.js';
import type { Lake } from '../../shared/lake/lake.js';
import { recentEngagedCap, policyFor, type RerankPolicies } from '../../shared/rerank/rerank-policy.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import { runOnlineEvaluation, type OnlineEvaluationReport } from '../evaluate-online/evaluate-online.js';
import type { FreshnessRow } from '../evaluate-online/freshness-metrics.js';
import type { BenchRow } from './bench-suite.js';

/** Re-ranked ≥ this × precomputed discovery hit rate@k (issue 14). */
export const DISCOVERY_LIFT_TARGET = 1.5;

export interface DiscoveryBenchOptions {
  config: Config;
  /** The bench's lake (at least two days of events). */
  lake: Lake;
  /** Customers replayed (evenly sampled by id; default 500). */
  maxCustomers?: number;
  /** Last training day (default: the day before the lake's last day). */
  day?: string;
  lookbackDays?: number;
  /** Model trained and served (default config.defaultModel). */
  model?: string;
  /** Re-ranker policy overrides (default: the shipped policy). */
  policies?: RerankPolicies;
  k?: number;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: (stage: 'train' | 'replay', done: number, total: number) => void;
}

export interface DiscoveryBenchResult {
  /** The discovery `all` row (engaged events and views). */
  discovery: FreshnessRow;
  /** The re-engagement `all` row (the lists as they are). */
  reengagement: FreshnessRow;
  /** Recently engaged vehicles allowed in the served top k by the policy (Infinity under `include`). */
  cap: number;
  rows: BenchRow[];
  report: OnlineEvaluationReport;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** A bench row with its ratio and verdict (as bench-suite.ts builds them). */
function benchRow(r: Omit<BenchRow, 'ratio' | 'pass'>): BenchRow {
  const ratio = r.ceiling !== undefined && r.ceiling > 0 ? Math.round((r.value / r.ceiling) * 100) / 100 : undefined;
  let pass: boolean | undefined;
  if (r.target) {
    const x = r.target.on === 'ratio' ? ratio : r.value;
    pass = x !== undefined && Number.isFinite(x) && (r.target.op === '>=' ? x >= r.target.limit : x <= r.target.limit);
  }
  return { ...r, value: Number.isFinite(r.value) ? round4(r.value) : r.value, ceiling: r.ceiling === undefined || !Number.isFinite(r.ceiling) ? r.ceiling : round4(r.ceiling), ratio, pass };
}

/**
 * Runs the online evaluation on a private embedded stack (its own Cosmos, a private Redis
 * prefix) and returns the discovery rows of the bench table:
 * - discovery HR@k: re-ranked (value) vs precomputed (ceiling), target ratio ≥ 1.5;
 * - discovery nDCG@k: re-ranked vs precomputed (no target);
 * - re-engagement HR@k: re-ranked vs precomputed (the former headline, no target);
 * - already-engaged vehicles in the served top k, mean per list (target ≤ the policy's cap).
 */
export async function benchDiscovery(o: DiscoveryBenchOptions): Promise<DiscoveryBenchResult> {
  const k = o.k ?? 10;
  const report = await runOnlineEvaluation({
    config: o.config,
    logger: o.logger ?? silentLogger(),
    lake: o.lake,
    day: o.day,
    k,
    model: o.model,
    maxCustomers: o.maxCustomers ?? 500,
    lookbackDays: o.lookbackDays,
    policies: o.policies,
    signal: o.signal,
    onProgress: o.onProgress,
  });
  const discovery = report.discovery.find((r) => r.type === 'all')!;
  const reengagement = report.rows.find((r) => r.type === 'all')!;
  const cap = recentEngagedCap(policyFor(report.model, o.policies));
  const n = `${discovery.requests} requests, ${report.customers} customers, ${report.testDay}`;
  const rows: BenchRow[] = [
    benchRow({
      group: 'freshness',
      measure: `discovery HR@${k}, re-ranked (already-engaged vehicles removed; ${n})`,
      value: discovery.reranked.hitRate,
      unit: '',
      ceiling: discovery.precomputed.hitRate,
      ceilingName: `precomputed list HR@${k}, same requests`,
      target: { on: 'ratio', op: '>=', limit: DISCOVERY_LIFT_TARGET, source: 'issue 14' },
    }),
    benchRow({ group: 'freshness', measure: `discovery nDCG@${k}, re-ranked`, value: discovery.reranked.ndcg, unit: '', ceiling: discovery.precomputed.ndcg, ceilingName: `precomputed list nDCG@${k}` }),
    benchRow({
      group: 'freshness',
      measure: `re-engagement HR@${k}, re-ranked (lists whole; ${reengagement.requests} requests)`,
      value: reengagement.reranked.hitRate,
      unit: '',
      ceiling: reengagement.precomputed.hitRate,
      ceilingName: `precomputed list HR@${k}`,
    }),
    benchRow({
      group: 'freshness',
      measure: `already-engaged vehicles in the served top ${k}, mean per list`,
      value: report.servedEngaged?.mean ?? NaN,
      unit: 'vehicles',
      target: Number.isFinite(cap) ? { on: 'value', op: '<=', limit: cap, source: 'issue 19' } : undefined,
    }),
  ];
  return { discovery, reengagement, cap, rows, report };
}
