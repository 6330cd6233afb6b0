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
  /** Row specs: the precomputed list is each row's baseline (a reference, not a bound). */
  rows: DiscoveryRowSpec[];
  report: OnlineEvaluationReport;
}

/** A row of the bench table before bench-suite.ts computes its ratio and verdict. */
export type DiscoveryRowSpec = Omit<BenchRow, 'ratio' | 'pass' | 'previous'>;

/**
 * Runs the online evaluation on a private embedded stack (its own Cosmos, a private Redis
 * prefix) and returns the discovery rows of the bench table:
 * - discovery HR@k: re-ranked (value) vs precomputed (baseline), target ratio ≥ 1.5;
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
  const rows: DiscoveryRowSpec[] = [
    ({
      group: 'freshness',
      measure: `discovery HR@${k}, re-ranked (already-engaged vehicles removed; ${n})`,
      value: discovery.reranked.hitRate,
      unit: '',
      baseline: discovery.precomputed.hitRate,
      baselineName: `precomputed list HR@${k}, same requests`,
      target: { on: 'ratio', op: '>=', limit: DISCOVERY_LIFT_TARGET, source: 'issue 14' },
    }),
    ({ group: 'freshness', measure: `discovery nDCG@${k}, re-ranked`, value: discovery.reranked.ndcg, unit: '', baseline: discovery.precomputed.ndcg, baselineName: `precomputed list nDCG@${k}` }),
    ({
      group: 'freshness',
      measure: `re-engagement HR@${k}, re-ranked (lists whole; ${reengagement.requests} requests)`,
      value: reengagement.reranked.hitRate,
      unit: '',
      baseline: reengagement.precomputed.hitRate,
      baselineName: `precomputed list HR@${k}`,
    }),
    ({
      group: 'freshness',
      measure: `already-engaged vehicles in the served top ${k}, mean per list`,
      value: report.servedEngaged?.mean ?? NaN,
      unit: 'vehicles',
      target: Number.isFinite(cap) ? { on: 'value', op: '<=', limit: cap, source: 'issue 19' } : undefined,
    }),
  ];
  return { discovery, reengagement, cap, rows, report };
}
