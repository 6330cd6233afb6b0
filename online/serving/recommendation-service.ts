import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';
import { NotFound, errorMessage } from '../../shared/errors/app-error.js';
import type { CustomerProfile, InventoryState, ProfileStore } from '../../shared/profile-store/profile-store.js';
import { rerank, type Boost, type CandidateSource } from '../../shared/rerank/rerank.js';
import { RerankCatalog } from '../../shared/rerank/rerank-catalog.js';
import { policyFor, type RerankPolicies, type RerankPolicy } from '../../shared/rerank/rerank-policy.js';
import { Budget, withDeadline } from '../../shared/resilience/with-deadline.js';
import { getOrCreate } from '../../shared/telemetry/metrics.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import type { NeighborTable, ServingState } from './serving-state.js';

export interface RecommendationItem {
  vehicleId: string;
  score: number;
  reasons: string[];
  baseScore?: number;
  source?: CandidateSource;
  boosts?: Boost[];
  filters?: string[];
}

export interface Recommendations {
  customerId: string;
  model: string;
  runId: string;
  /** ISO-8601 UTC: when the precomputed list (or the run, for cold start) was generated. */
  generatedAt: string;
  degraded: boolean;
  /** Why the answer is degraded (`predictions-unavailable`, `profile-unavailable`, ...). */
  degradedReasons?: string[];
  coldStart: boolean;
  items: RecommendationItem[];
  explain?: { candidates: number; filtered: Record<string, number>; deferred: number; recentEvents: number; searches: number };
}

export interface SimilarVehicles {
  vehicleId: string;
  model: string;
  runId: string;
  degraded: boolean;
  items: { vehicleId: string; score: number }[];
}

export interface RecommendationServiceOptions {
  /** Model served when a request names none or `default`. */
  defaultModel: string;
  policies?: RerankPolicies;
  /** Longest a request waits for a live-profile or inventory read, ms (SHOWROOM_REDIS_DEADLINE_MS, default 500); then it is served without live signals. */
  redisDeadlineMs?: number;
  /** Longest a request waits for Cosmos in total (pointer, prediction, run record, neighbour table), ms (SHOWROOM_COSMOS_DEADLINE_MS, default 1000). */
  cosmosDeadlineMs?: number;
  logger?: Logger;
  registry?: Registry;
}

const round = (n: number) => Math.round(n * 1e4) / 1e4;

/** Catalog of a model whose neighbour table could not be loaded: base list and popularity only. */
const EMPTY_CATALOG = RerankCatalog.from([]);

/**
 * Serving: active run → cached prediction document + live profile + neighbour table →
 * re-rank (shared/rerank) → answer. Every dependency failure degrades instead of failing
 * while any fallback exists (DESIGN.md §4, issue 5 item 4). A silent dependency is a failure:
 * a request waits for Redis at most `redisDeadlineMs` and for Cosmos at most `cosmosDeadlineMs`
 * (one budget for all its Cosmos reads), so a frozen Redis or Cosmos answers like a disconnected one.
 */
export class RecommendationService {
  private readonly logger: Logger;
  private readonly degradedTotal?: Counter<'reason'>;
  private readonly rerankSeconds?: Histogram;
  /** Resolved policy per model (defaults overlaid with the model's overrides), built once. */
  private readonly policies = new Map<string, RerankPolicy>();
  private readonly redisDeadlineMs: number;
  private readonly cosmosDeadlineMs: number;

  constructor(
    private readonly state: ServingState,
    private readonly profiles: ProfileStore,
    private readonly options: RecommendationServiceOptions,
  ) {
    this.logger = options.logger ?? silentLogger();
    this.redisDeadlineMs = options.redisDeadlineMs ?? 500;
    this.cosmosDeadlineMs = options.cosmosDeadlineMs ?? 1000;
    const registry = options.registry;
    if (registry) {
      this.degradedTotal = getOrCreate(registry, 'showroom_degraded_responses_total', () => new Counter({ name: 'showroom_degraded_responses_total', help: 'Responses served from a fallback, by reason', labelNames: ['reason'], registers: [registry] }));
      this.rerankSeconds = getOrCreate(registry, 'showroom_rerank_seconds', () => new Histogram({ name: 'showroom_rerank_seconds', help: 'Time spent in the pure re-ranker', buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05], registers: [registry] }));
    }
  }

  private policy(model: string): RerankPolicy {
    let p = this.policies.get(model);
    if (!p) {
      p = policyFor(model, this.options.policies);
      this.policies.set(model, p);
    }
    return p;
  }

  resolveModel(model: string | undefined): string {
    return !model || model === 'default' ? this.options.defaultModel : model;
  }

  async recommend(customerId: string, options: { limit: number; model?: string; explain?: boolean }): Promise<Recommendations> {
    const model = this.resolveModel(options.model);
    const reasons: string[] = [];
    const cosmos = new Budget(this.cosmosDeadlineMs);
    const { pointer, degraded: pointerDegraded } = this.state.activeNow(model) ?? (await this.state.active(model, cosmos.left()));
    if (pointerDegraded) reasons.push('run-registry-unavailable');
    const runId = pointer.runId;

    // Cached parts are taken without waiting; the rest is read concurrently (the profile always is).
    const profileRead = withDeadline(this.profiles.getProfile(customerId), this.redisDeadlineMs, 'Redis (live profile)').catch((err: unknown): CustomerProfile | undefined => {
      this.logger.warn({ customerId, err: errorMessage(err) }, 'live profile unavailable; serving without live signals');
      reasons.push('profile-unavailable');
      return undefined;
    });
    const cachedPred = this.state.predictionNow(model, runId, customerId);
    const predRead =
      cachedPred ??
      this.state.prediction(model, runId, customerId, cosmos.left()).catch((err: unknown) => {
        this.logger.warn({ customerId, err: errorMessage(err) }, 'prediction unavailable; serving popularity');
        reasons.push('predictions-unavailable');
        return { doc: undefined, degraded: true };
      });
    const cachedTable = this.state.neighborTableNow(model, runId);
    const tableRead =
      cachedTable ??
      this.state.neighborTable(model, runId, cosmos.left()).catch((): NeighborTable | undefined => {
        reasons.push('neighbors-unavailable');
        return this.state.cachedTable(model);
      });
    const cachedRun = this.state.cachedRun(model, runId);
    const runRead =
      cachedRun ??
      this.state.run(model, runId, cosmos.left()).catch(() => {
        const cached = this.state.cachedRun(model, runId);
        if (!cached) reasons.push('run-unavailable');
        return cached;
      });
    const pred = cachedPred ?? (await predRead);
    const table = cachedTable ?? (await tableRead);
    const run = cachedRun ?? (await runRead);
    const profile = await profileRead;
    if (pred.degraded && !reasons.includes('predictions-unavailable')) reasons.push('predictions-stale');
    const inventory = this.profiles.cachedInventory();
    const base = pred.doc?.items ?? [];
    const started = performance.now();
    const result = rerank({
      base,
      popularity: run?.popularity,
      session: profile,
      catalog: table?.catalog ?? EMPTY_CATALOG,
      vehicle: (id) => inventory.listed(id),
      inventory,
      policy: this.policy(model),
      limit: options.limit,
      now: Date.now(),
      boosts: options.explain === true,
    });
    this.rerankSeconds?.observe((performance.now() - started) / 1000);
    const degraded = reasons.length > 0;
    if (degraded) for (const r of reasons) this.degradedTotal?.inc({ reason: r });
    const items: RecommendationItem[] = result.items.map((it) =>
      options.explain
        ? { vehicleId: it.vehicleId, score: round(it.score), baseScore: round(it.baseScore), source: it.source, boosts: it.boosts.map((b) => ({ kind: b.kind, amount: round(b.amount) })), filters: it.filters, reasons: it.reasons }
        : { vehicleId: it.vehicleId, score: round(it.score), reasons: it.reasons },
    );
    const out: Recommendations = {
      customerId,
      model,
      runId: pred.doc?.runId ?? runId,
      generatedAt: pred.doc?.generatedAt ?? run?.finishedAt ?? run?.updatedAt ?? pointer.activatedAt,
      degraded,
      coldStart: base.length === 0,
      items,
    };
    if (degraded) out.degradedReasons = reasons;
    if (options.explain) {
      out.explain = { candidates: result.candidates, filtered: result.filtered, deferred: result.deferred, recentEvents: profile?.recent.length ?? 0, searches: profile?.searches.length ?? 0 };
    }
    return out;
  }

  /** Neighbours of a vehicle from the active run's table, live-inventory filtered. */
  async similar(vehicleId: string, options: { limit: number; model?: string }): Promise<SimilarVehicles> {
    const model = this.resolveModel(options.model);
    const cosmos = new Budget(this.cosmosDeadlineMs);
    const { pointer, degraded: pointerDegraded } = await this.state.active(model, cosmos.left());
    let degraded = pointerDegraded;
    const table = await this.state.neighborTable(model, pointer.runId, cosmos.left());
    let inventory: InventoryState;
    try {
      inventory = await withDeadline(this.profiles.getInventory(), this.redisDeadlineMs, 'Redis (inventory)');
    } catch {
      inventory = this.profiles.cachedInventory();
      degraded = true;
    }
    const neighbors = table.catalog.has(vehicleId) ? (table.catalog.neighborsOf(vehicleId) ?? []) : undefined;
    if (!neighbors) throw new NotFound(`vehicle "${vehicleId}" has no neighbours in run ${table.runId} of model "${model}"`);
    const items: { vehicleId: string; score: number }[] = [];
    for (const n of neighbors) {
      if (items.length >= options.limit) break;
      if (n.vehicleId === vehicleId || inventory.isSold(n.vehicleId)) continue;
      const v = table.catalog.vehicle(n.vehicleId);
      if (v?.soldAt) continue;
      items.push({ vehicleId: n.vehicleId, score: round(n.score) });
    }
    return { vehicleId, model, runId: table.runId, degraded, items };
  }
}
