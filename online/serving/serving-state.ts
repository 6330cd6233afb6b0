import { LRUCache } from 'lru-cache';
import type { ActiveRunPointer, PredictionDoc, RunRecord } from '../../shared/domain/prediction.js';
import { NotFound, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { vehicleFacets, type RerankVehicle } from '../../shared/rerank/rerank.js';
import { RerankCatalog, type CatalogEntry } from '../../shared/rerank/rerank-catalog.js';
import { withDeadline } from '../../shared/resilience/with-deadline.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';

export { withDeadline };

export interface ServingStateOptions {
  /** Age after which the active-run pointer is re-read in the background, ms (default 3000). */
  pointerTtlMs?: number;
  /** Age after which a request waits for a fresh pointer instead, ms (default 8000; ≤ 10 s end to end). */
  pointerMaxAgeMs?: number;
  /** Prediction documents kept in memory (default 50,000). */
  predictionCacheSize?: number;
  /**
   * Deadline of one Cosmos read, ms (default 1000): the SDK request is aborted then. A request
   * passes its own remaining budget (`waitMs`) to the reads it waits for (SHOWROOM_COSMOS_DEADLINE_MS).
   */
  readDeadlineMs?: number;
  logger?: Logger;
}

/** A run's neighbour table, in memory: vehicle attributes and neighbours, indexed for the re-ranker. */
export interface NeighborTable {
  model: string;
  runId: string;
  catalog: RerankCatalog;
  loadedAt: number;
}

interface PointerEntry {
  pointer: ActiveRunPointer | undefined;
  fetchedAt: number;
  /** The last refresh failed (Cosmos unreachable): answers built on it are degraded. */
  failing: boolean;
}

type CachedPrediction = { runId: string; doc: PredictionDoc | null };

/** A Cosmos point read bounded by `ms`: the SDK request is aborted at the deadline, and the wait ends then whatever the SDK does. */
function boundedRead<T>(read: (signal: AbortSignal) => Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(read(AbortSignal.timeout(Math.max(1, ms))), ms, what);
}

/**
 * What the API holds in memory about runs: active-run pointers (re-read every few seconds),
 * run records (popularity lists), each active run's neighbour table (loaded once with
 * `listNeighbors`, swapped when the pointer moves) and an LRU of prediction documents.
 * Cosmos failures fall back to what is cached; callers learn it through `degraded` flags.
 */
export class ServingState {
  private readonly pointerTtlMs: number;
  private readonly pointerMaxAgeMs: number;
  private readonly deadlineMs: number;
  private readonly logger: Logger;
  private readonly pointers = new Map<string, PointerEntry>();
  private readonly pointerReads = new Map<string, Promise<void>>();
  private readonly runs = new LRUCache<string, RunRecord>({ max: 64 });
  private readonly tables = new Map<string, NeighborTable>();
  private readonly tableLoads = new Map<string, Promise<NeighborTable>>();
  private readonly predictions: LRUCache<string, CachedPrediction>;

  constructor(
    private readonly store: PredictionStore,
    options: ServingStateOptions = {},
  ) {
    this.pointerTtlMs = options.pointerTtlMs ?? 3000;
    this.pointerMaxAgeMs = options.pointerMaxAgeMs ?? 8000;
    this.deadlineMs = options.readDeadlineMs ?? 1000;
    this.logger = options.logger ?? silentLogger();
    this.predictions = new LRUCache({ max: options.predictionCacheSize ?? 50_000 });
  }

  /**
   * The model's active run. Fresh within `pointerTtlMs`; older pointers are served while a
   * background re-read runs; past `pointerMaxAgeMs` the request waits for the re-read.
   * Throws NotFound when the model has no active run, Unavailable when Cosmos is unreachable
   * and no pointer was ever read. A request waits at most `waitMs` (default: the read deadline)
   * for a re-read; past it, the cached pointer is served `degraded` (the re-read goes on).
   */
  async active(model: string, waitMs?: number): Promise<{ pointer: ActiveRunPointer; degraded: boolean }> {
    return this.activeNow(model) ?? this.activeSlow(model, waitMs);
  }

  /** `active` without waiting: the cached pointer when it can be served as is (a re-read may start in the background), else undefined. */
  activeNow(model: string): { pointer: ActiveRunPointer; degraded: boolean } | undefined {
    const entry = this.pointers.get(model);
    if (!entry?.pointer) return undefined;
    const age = Date.now() - entry.fetchedAt;
    if (age > this.pointerMaxAgeMs) return undefined;
    if (age > this.pointerTtlMs) void this.refreshPointer(model);
    return { pointer: entry.pointer, degraded: entry.failing };
  }

  private async activeSlow(model: string, waitMs = this.deadlineMs): Promise<{ pointer: ActiveRunPointer; degraded: boolean }> {
    let entry = this.pointers.get(model);
    const now = Date.now();
    let late = false;
    if (!entry || now - entry.fetchedAt > this.pointerMaxAgeMs) {
      // The re-read fails on its own after deadlineMs; a request with less time left stops waiting earlier.
      late = await withDeadline(this.refreshPointer(model), waitMs, 'Cosmos (active run)').then(() => false, () => true);
      entry = this.pointers.get(model);
    } else if (now - entry.fetchedAt > this.pointerTtlMs) {
      void this.refreshPointer(model);
    }
    if (!entry?.pointer) {
      if (!entry || entry.failing || late) throw new Unavailable(`the run registry is unreachable and no active run of model "${model}" is cached`);
      throw new NotFound(`model "${model}" has no active run`);
    }
    return { pointer: entry.pointer, degraded: entry.failing || late };
  }

  /** Forgets the cached pointer (after an activation through this process). */
  invalidate(model: string): void {
    this.pointers.delete(model);
  }

  private refreshPointer(model: string): Promise<void> {
    const inFlight = this.pointerReads.get(model);
    if (inFlight) return inFlight;
    const read = (async () => {
      try {
        const pointer = await boundedRead((signal) => this.store.getActiveRun(model, { signal }), this.deadlineMs, 'Cosmos (active run)');
        this.pointers.set(model, { pointer, fetchedAt: Date.now(), failing: false });
        if (pointer) void this.ensureTable(model, pointer.runId).catch(() => undefined);
      } catch (err) {
        this.logger.warn({ model, err: errorMessage(err) }, 'reading the active run failed; serving the cached pointer');
        const prev = this.pointers.get(model);
        // Keep a stale pointer without blocking requests; retry about once a second.
        const fetchedAt = prev?.pointer ? Date.now() - this.pointerTtlMs + 1000 : Date.now() - this.pointerMaxAgeMs + 1000;
        this.pointers.set(model, { pointer: prev?.pointer, fetchedAt, failing: true });
      } finally {
        this.pointerReads.delete(model);
      }
    })();
    this.pointerReads.set(model, read);
    return read;
  }

  /** The run record (popularity lists); cached per run (records of finished runs do not change). Reads wait at most `waitMs`. */
  async run(model: string, runId: string, waitMs = this.deadlineMs): Promise<RunRecord | undefined> {
    const key = `${model}:${runId}`;
    const hit = this.runs.get(key);
    if (hit) return hit;
    const run = await boundedRead((signal) => this.store.getRun(model, runId, { signal }), waitMs, 'Cosmos (run record)');
    if (run) this.runs.set(key, run);
    return run;
  }

  /**
   * The neighbour table to serve with `runId`: that run's once loaded, until then the
   * previously active run's (so an activation never blocks requests), and on first use the load
   * itself, waited for at most `waitMs` (the load goes on; it is not aborted).
   */
  async neighborTable(model: string, runId: string, waitMs?: number): Promise<NeighborTable> {
    const table = this.tables.get(model);
    if (table && table.runId === runId) return table;
    const load = this.ensureTable(model, runId);
    if (table) return table;
    return waitMs === undefined ? load : withDeadline(load, waitMs, 'Cosmos (neighbour table)');
  }

  /** The table to serve with `runId` when no load has to be waited for (see `neighborTable`), else undefined. */
  neighborTableNow(model: string, runId: string): NeighborTable | undefined {
    const table = this.tables.get(model);
    if (table && table.runId !== runId) void this.ensureTable(model, runId).catch(() => undefined);
    return table;
  }

  /** Current table of the model without I/O (may belong to the previous run). */
  cachedTable(model: string): NeighborTable | undefined {
    return this.tables.get(model);
  }

  private ensureTable(model: string, runId: string): Promise<NeighborTable> {
    const current = this.tables.get(model);
    if (current && current.runId === runId) return Promise.resolve(current);
    const key = `${model}:${runId}`;
    let load = this.tableLoads.get(key);
    if (!load) {
      const started = Date.now();
      load = this.store
        .listNeighbors(model, runId)
        .then((docs) => {
          const entries: CatalogEntry[] = [];
          // Facet strings are interned per table: equal facets are one string (cheap compares, less memory).
          const interned = new Map<string, string>();
          const intern = (x: string) => {
            const hit = interned.get(x);
            if (hit !== undefined) return hit;
            interned.set(x, x);
            return x;
          };
          for (const d of docs) {
            const v = d.vehicle;
            let vehicle: RerankVehicle | undefined;
            if (v) {
              const f = vehicleFacets(v);
              const facets = { make: intern(f.make), model: intern(f.model), bodyStyle: intern(f.bodyStyle), fuelType: f.fuelType === undefined ? undefined : intern(f.fuelType), group: intern(f.group), priceBand: f.priceBand };
              vehicle = { make: v.make, model: v.model, trim: v.trim, year: v.year, bodyStyle: v.bodyStyle, price: v.price, fuelType: v.fuelType, mileage: v.mileage, soldAt: v.soldAt, facets };
            }
            entries.push({ vehicleId: d.vehicleId, vehicle, neighbors: d.neighbors });
          }
          const t: NeighborTable = { model, runId, catalog: RerankCatalog.from(entries), loadedAt: Date.now() };
          // Swap only if the pointer still names this run (or nothing is loaded yet).
          const pointer = this.pointers.get(model)?.pointer;
          if (!this.tables.get(model) || !pointer || pointer.runId === runId) this.tables.set(model, t);
          this.logger.info({ model, runId, vehicles: t.catalog.size, ms: Date.now() - started }, 'neighbour table loaded');
          return t;
        })
        .finally(() => this.tableLoads.delete(key));
      load.catch((err: unknown) => this.logger.warn({ model, runId, err: errorMessage(err) }, 'loading the neighbour table failed'));
      this.tableLoads.set(key, load);
    }
    return load;
  }

  /** The customer's cached prediction document of `runId`, without I/O; undefined when it must be read. */
  predictionNow(model: string, runId: string, customerId: string): { doc: PredictionDoc | undefined; degraded: boolean } | undefined {
    const hit = this.predictions.get(`${model}:${customerId}`);
    return hit && hit.runId === runId ? { doc: hit.doc ?? undefined, degraded: false } : undefined;
  }

  /**
   * The customer's prediction document of `runId` (undefined when the run has none: cold start).
   * On a Cosmos failure returns the customer's last cached document of any run of the model,
   * with `degraded`; throws Unavailable when there is none. Waits at most `waitMs` (default the read deadline).
   */
  async prediction(model: string, runId: string, customerId: string, waitMs = this.deadlineMs): Promise<{ doc: PredictionDoc | undefined; degraded: boolean }> {
    const key = `${model}:${customerId}`;
    const hit = this.predictions.get(key);
    if (hit && hit.runId === runId) return { doc: hit.doc ?? undefined, degraded: false };
    try {
      const doc = await boundedRead((signal) => this.store.getPrediction(model, runId, customerId, { signal }), waitMs, 'Cosmos (prediction)');
      this.predictions.set(key, { runId, doc: doc ?? null });
      return { doc, degraded: false };
    } catch (err) {
      if (hit?.doc) return { doc: hit.doc, degraded: true };
      throw err instanceof Unavailable ? err : new Unavailable(`Cosmos: read prediction: ${errorMessage(err)}`, err);
    }
  }

  /** Cached popularity of the run, without I/O. */
  cachedRun(model: string, runId: string): RunRecord | undefined {
    return this.runs.get(`${model}:${runId}`);
  }

  stats(): { predictionsCached: number; tables: { model: string; runId: string; vehicles: number }[] } {
    return {
      predictionsCached: this.predictions.size,
      tables: [...this.tables.values()].map((t) => ({ model: t.model, runId: t.runId, vehicles: t.catalog.size })),
    };
  }
}
