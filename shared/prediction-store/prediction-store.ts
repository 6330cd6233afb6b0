import type { ActiveRunPointer, NeighborDoc, PredictionDoc, RunRecord } from '../domain/prediction.js';

/** Outcome of a bulk write. Every document is either written or listed in `failed`. */
export interface BulkWriteResult {
  written: number;
  failed: { id: string; status: number; message: string }[];
  /** Operations retried after 429/408/5xx or a dropped connection. */
  retries: number;
  /** 429 answers received (each honoured with the server's retry-after). */
  throttled: number;
}

export interface BulkWriteOptions {
  /** Called after each chunk with the number of documents written so far. */
  onProgress?: (written: number) => void;
  /** Concurrent bulk requests in flight (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Options of a point read on the request path. */
export interface ReadOptions {
  /** Aborts the read (the SDK request and its retries): the request's deadline. */
  signal?: AbortSignal;
}

/** Summary of a model for `GET /v1/models`. */
export interface ModelSummary {
  model: string;
  activeRunId?: string;
  activatedAt?: string;
  lastRun?: Pick<RunRecord, 'runId' | 'status' | 'asOf' | 'createdAt' | 'finishedAt'>;
}

/**
 * Where batch runs put their results and the online service reads them (Cosmos DB in
 * every deployment). Containers: `predictions` (pk /customerId), `neighbors` (pk /vehicleId),
 * `runs` (pk /model; run records and the active-run pointer).
 *
 * Writes are upserts, so re-writing a run is idempotent. Bulk writes honour 429 retry-after
 * with bounded retries and report per-document failures instead of throwing.
 */
export interface PredictionStore {
  /** Creates the database and containers if missing. Idempotent. */
  init(): Promise<void>;
  /** Throws Unavailable when the store cannot be reached. */
  ping(): Promise<void>;

  upsertPredictions(docs: PredictionDoc[], options?: BulkWriteOptions): Promise<BulkWriteResult>;
  upsertNeighbors(docs: NeighborDoc[], options?: BulkWriteOptions): Promise<BulkWriteResult>;
  /** Point read; undefined when absent. */
  getPrediction(model: string, runId: string, customerId: string, options?: ReadOptions): Promise<PredictionDoc | undefined>;
  getNeighbors(model: string, runId: string, vehicleId: string): Promise<NeighborDoc | undefined>;
  /** Every neighbour document of a run (the online neighbour table). */
  listNeighbors(model: string, runId: string): Promise<NeighborDoc[]>;
  countPredictions(model: string, runId: string): Promise<number>;
  /** Deletes a run's predictions and neighbours (discarding a failed run). Returns documents deleted. */
  deleteRunDocuments(model: string, runId: string): Promise<number>;

  /**
   * Creates or replaces a run record unconditionally (last writer wins). For a change that
   * depends on the stored record (anything several processes may write at once) use `updateRun`.
   */
  putRun(run: RunRecord): Promise<void>;
  /**
   * Read-modify-write of one run record that loses no concurrent update (optimistic concurrency,
   * no lock): reads the record with its version, calls `mutate` with a private copy (undefined
   * when the record does not exist) and stores what it returns only if nobody wrote the record
   * in between (Cosmos `_etag` + If-Match; a missing record is created only if still missing).
   * On a conflict it re-reads and calls `mutate` again, a bounded number of times with jittered
   * backoff, so `mutate` must derive the new record from its argument alone and may run more
   * than once. The stored record gets `updatedAt` = now; it is returned.
   *
   * @throws Conflict when the record kept changing under every attempt; InvalidArgument when
   *   `mutate` returns a record of another model or run id.
   */
  updateRun(model: string, runId: string, mutate: (current: RunRecord | undefined) => RunRecord | Promise<RunRecord>): Promise<RunRecord>;
  getRun(model: string, runId: string, options?: ReadOptions): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(model: string, options?: { limit?: number }): Promise<RunRecord[]>;
  listModels(): Promise<ModelSummary[]>;
  getActiveRun(model: string, options?: ReadOptions): Promise<ActiveRunPointer | undefined>;
  /**
   * Points the model at `runId` atomically. With `expectedRunId`, fails with Conflict when the
   * pointer has moved since (optimistic concurrency on the pointer's etag).
   */
  activateRun(model: string, runId: string, options?: { expectedRunId?: string | null }): Promise<ActiveRunPointer>;

  close(): Promise<void>;
}
