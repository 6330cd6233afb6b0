import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent } from 'node:https';
import { connect } from 'node:net';
import {
  CosmosClient,
  type Container,
  type CosmosClientOptions,
  type ItemDefinition,
  type JSONObject,
  type OperationInput,
  type PluginConfig,
  type SqlQuerySpec,
} from '@azure/cosmos';
import { AppError, Conflict, InvalidArgument, NotFound, Unavailable, errorMessage } from '../errors/app-error.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { ActiveRunPointer, NeighborDoc, PredictionDoc, RunRecord } from '../domain/prediction.js';
import type { BulkWriteOptions, BulkWriteResult, ModelSummary, PredictionStore, ReadOptions } from './prediction-store.js';
import { sleep } from '../time/sleep.js';

export interface CosmosPredictionStoreOptions {
  /** Account endpoint, e.g. `https://127.0.0.1:8081` or `https://<account>.documents.azure.com`. */
  endpoint: string;
  key: string;
  /** Database name (default `showroom`). */
  database?: string;
  logger?: Logger;
  /** Accept a self-signed certificate (default: only for 127.0.0.1 / localhost / ::1). Scoped to this client. */
  allowSelfSigned?: boolean;
  /** Time allowed to open a TCP connection when probing the endpoint, ms (default 2 000). */
  connectTimeoutMs?: number;
  /** Time the endpoint has to answer the first request of `init()` / `ping()`, ms (default 5 000). */
  probeTimeoutMs?: number;
  /** Time allowed for one HTTP request, ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Attempts after the first for a bulk chunk hit by 429/408/5xx or a dropped connection (default 8). */
  maxRetries?: number;
  /** Longest single wait between attempts, ms (default 30 000; a server retry-after above it is capped). */
  maxRetryWaitMs?: number;
  /** Parallel HTTP connections to the endpoint (default 16). */
  maxSockets?: number;
}

/** Raw outcome of one HTTP attempt, seen by the request plugin while a bulk chunk runs. */
interface AttemptLog {
  errors: unknown[];
}

const CONTAINERS = {
  predictions: '/customerId',
  neighbors: '/vehicleId',
  runs: '/model',
} as const;

const CHUNK = 100;
const RETRYABLE_OP_STATUS = new Set([408, 410, 429, 449, 500, 502, 503, 504]);
const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'REQUEST_SEND_ERROR', 'TimeoutError', 'UND_ERR_SOCKET']);
const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_attachments', '_ts'] as const;
/** Attempts of one `updateRun` before it gives up with Conflict (each conflict means another writer succeeded). */
const RUN_UPDATE_ATTEMPTS = 50;

/** Status and retry-after of an SDK error (or of a connection failure, status 0). */
function describe(err: unknown): { status: number; retryAfterMs?: number; connection: boolean; message: string } {
  const e = err as { code?: unknown; retryAfterInMs?: unknown; headers?: Record<string, unknown>; message?: unknown; cause?: unknown; name?: unknown };
  const message = errorMessage(err);
  if (typeof e?.code === 'number') {
    let retryAfterMs = typeof e.retryAfterInMs === 'number' && Number.isFinite(e.retryAfterInMs) ? e.retryAfterInMs : undefined;
    const header = e.headers?.['x-ms-retry-after-ms'];
    if (retryAfterMs === undefined && header !== undefined && Number.isFinite(Number(header))) retryAfterMs = Number(header);
    return { status: e.code, retryAfterMs, connection: false, message };
  }
  const code = typeof e?.code === 'string' ? e.code : typeof (e?.cause as { code?: unknown })?.code === 'string' ? (e.cause as { code: string }).code : '';
  const connection =
    CONNECTION_CODES.has(code) || e?.name === 'TimeoutError' || /socket hang up|ECONNRESET|ECONNREFUSED|EPIPE|network|timeout|aborted|closed/i.test(message);
  return { status: code === 'TimeoutError' || e?.name === 'TimeoutError' ? 408 : 0, connection, message };
}

function isTransient(d: { status: number; connection: boolean }): boolean {
  return d.connection || RETRYABLE_OP_STATUS.has(d.status);
}

/** Why Cosmos DB would refuse this id / partition key value, or undefined. */
function invalidDocument(id: unknown, pk: unknown): string | undefined {
  if (typeof id !== 'string' || id.length === 0) return 'id must be a non-empty string';
  if (id.length > 255) return 'id is longer than 255 characters';
  if (/[/\\?#]/.test(id)) return `id "${id}" contains one of / \\ ? #`;
  if (typeof pk !== 'string' || pk.length === 0) return `partition key of "${id}" must be a non-empty string`;
  return undefined;
}

/**
 * A document id Cosmos DB cannot hold (it contains `/ \ ? #`): refused before any request, so a
 * point read never addresses another resource path. Names the id.
 */
export class InvalidDocumentId extends InvalidArgument {
  constructor(readonly id: string) {
    super(`document id "${id}" contains one of / \\ ? # (Cosmos DB cannot hold it)`, [{ field: 'id', message: 'must not contain / \\ ? #' }]);
  }
}

function isLoopback(endpoint: string): boolean {
  const host = new URL(endpoint).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}


function strip<T>(doc: ItemDefinition | undefined): T | undefined {
  if (!doc) return undefined;
  const out: Record<string, unknown> = { ...doc };
  for (const f of SYSTEM_FIELDS) delete out[f];
  return out as T;
}

/**
 * PredictionStore on Azure Cosmos DB (and the embedded `@vercel/cosmosdb-server`) through the
 * real `@azure/cosmos` v4 SDK.
 *
 * Bulk writes go through `items.bulk` (≤ 100 operations per request, documents not echoed back)
 * with `concurrency` requests in flight. A whole request answered 429 waits the server's
 * `x-ms-retry-after-ms`; 408/5xx and dropped connections back off exponentially; per-operation
 * 429/408/5xx are re-submitted; all bounded by `maxRetries`. Upserts are idempotent, so a chunk
 * that is re-sent after a partial failure is harmless. What still fails is listed per document.
 *
 * `items.bulk` is deprecated in `@azure/cosmos` 4.9 in favour of `executeBulkOperations`; it is
 * kept on purpose: against the embedded server (one partition key range) `executeBulkOperations`
 * wrote prediction documents at 0.35–0.65× the rate (scripts/measure/bulk-api-measure.ts, medians
 * of 3 alternating rounds of 20 000 and 50 000 documents on a shared machine), and it retries
 * per-operation 429s inside the SDK,
 * out of sight of `retries` / `throttled`. Re-measure on Azure (many partitions) before moving.
 */
export class CosmosPredictionStore implements PredictionStore {
  readonly endpoint: string;
  readonly databaseId: string;
  private readonly client: CosmosClient;
  private readonly agent: Agent;
  private readonly logger: Logger;
  private readonly attempts = new AsyncLocalStorage<AttemptLog>();
  private readonly connectTimeoutMs: number;
  private readonly probeTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryWaitMs: number;

  constructor(options: CosmosPredictionStoreOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.databaseId = options.database ?? 'showroom';
    this.logger = options.logger ?? silentLogger();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 5_000;
    this.maxRetries = options.maxRetries ?? 8;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 30_000;
    const selfSigned = options.allowSelfSigned ?? isLoopback(this.endpoint);
    // Scoped to this client: never process-wide NODE_TLS_REJECT_UNAUTHORIZED.
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16, rejectUnauthorized: !selfSigned, timeout: options.requestTimeoutMs ?? 30_000 });
    // The SDK wraps a failed bulk request in a plain Error without its status; this request
    // plugin records the raw answer (status, retry-after) for the bulk loop to act on.
    const plugins: PluginConfig[] = [
      {
        on: 'request',
        plugin: async (context, diagnosticNode, next) => {
          try {
            return await next(context);
          } catch (err) {
            this.attempts.getStore()?.errors.push(err);
            throw err;
          }
        },
      },
    ];
    const clientOptions: CosmosClientOptions & { plugins: PluginConfig[] } = {
      endpoint: this.endpoint,
      key: options.key,
      agent: this.agent,
      userAgentSuffix: 'showroom',
      connectionPolicy: {
        enableEndpointDiscovery: false,
        enableBackgroundEndpointRefreshing: false,
        requestTimeout: options.requestTimeoutMs ?? 30_000,
        retryOptions: { maxRetryAttemptCount: options.maxRetries ?? 8, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 60 },
      },
      plugins,
    };
    this.client = new CosmosClient(clientOptions);
  }

  private container(name: keyof typeof CONTAINERS): Container {
    return this.client.database(this.databaseId).container(name);
  }

  /** Fails fast with Unavailable when nothing accepts TCP connections at the endpoint or nothing answers. */
  private async probe(): Promise<void> {
    const url = new URL(this.endpoint);
    const port = Number(url.port || (url.protocol === 'http:' ? 80 : 443));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port });
      const fail = (err: Error) => {
        socket.destroy();
        reject(new Unavailable(`Cosmos DB at ${this.endpoint} is unreachable: ${err.message}`, err));
      };
      socket.setTimeout(this.connectTimeoutMs, () => fail(new Error(`no connection within ${this.connectTimeoutMs} ms`)));
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
    });
    // Accepting connections is not enough (a hung server, a proxy): it must answer, soon.
    try {
      await this.client.getDatabaseAccount({ abortSignal: AbortSignal.timeout(this.probeTimeoutMs) });
    } catch (err) {
      const d = describe(err);
      if ((err as { name?: string }).name === 'AbortError' || d.connection || d.status === 0 || d.status >= 500 || d.status === 408) {
        throw new Unavailable(`Cosmos DB at ${this.endpoint} did not answer within ${this.probeTimeoutMs} ms: ${d.message}`, err);
      }
      throw this.wrap(err, 'reading the account');
    }
  }

  private wrap(err: unknown, what: string): AppError {
    if (err instanceof AppError) return err;
    const d = describe(err);
    if (d.status === 409 || d.status === 412) return new Conflict(`${what}: ${d.message}`, {}, err);
    if (d.status === 404) return new NotFound(`${what}: ${d.message}`, err);
    if (isTransient(d)) return new Unavailable(`Cosmos DB at ${this.endpoint}: ${what} failed: ${d.message}`, err, Math.max(1, Math.ceil((d.retryAfterMs ?? 1000) / 1000)));
    return new AppError('cosmos', 502, `Cosmos DB: ${what} failed (${d.status || 'error'}): ${d.message}`, { cause: err });
  }

  async init(): Promise<void> {
    await this.probe();
    try {
      const { database } = await this.client.databases.createIfNotExists({ id: this.databaseId });
      for (const [id, pk] of Object.entries(CONTAINERS)) {
        // defaultTtl -1: TTL on, documents without `ttl` live forever, documents with one expire.
        await database.containers.createIfNotExists({ id, partitionKey: { paths: [pk] }, defaultTtl: -1 });
      }
    } catch (err) {
      throw this.wrap(err, `creating database ${this.databaseId}`);
    }
    this.logger.debug({ endpoint: this.endpoint, database: this.databaseId }, 'Cosmos prediction store ready');
  }

  async ping(): Promise<void> {
    try {
      await this.probe();
    } catch (err) {
      throw err instanceof Unavailable ? err : new Unavailable(errorMessage(err), err);
    }
  }

  upsertPredictions(docs: PredictionDoc[], options?: BulkWriteOptions): Promise<BulkWriteResult> {
    return this.upsertAll(this.container('predictions'), docs, (d) => d.customerId, options);
  }

  upsertNeighbors(docs: NeighborDoc[], options?: BulkWriteOptions): Promise<BulkWriteResult> {
    return this.upsertAll(this.container('neighbors'), docs, (d) => d.vehicleId, options);
  }

  /** Documents Cosmos DB would refuse (or the SDK would give a random id) are reported, not sent. */
  private async upsertAll<T extends { id: string }>(container: Container, docs: T[], pkOf: (d: T) => string, options?: BulkWriteOptions): Promise<BulkWriteResult> {
    const ops: OperationInput[] = [];
    const ids: string[] = [];
    const invalid: BulkWriteResult['failed'] = [];
    for (const d of docs) {
      const problem = invalidDocument(d.id, pkOf(d));
      if (problem) invalid.push({ id: String(d.id ?? ''), status: 400, message: problem });
      else {
        ops.push({ operationType: 'Upsert', partitionKey: pkOf(d), resourceBody: d as unknown as JSONObject });
        ids.push(d.id);
      }
    }
    const res = await this.bulk(container, ops, ids, options);
    res.failed.push(...invalid);
    return res;
  }

  /**
   * Runs operations ≤ 100 per request with `concurrency` requests in flight. Every operation ends
   * written (2xx, or 404 for a delete) or in `failed`.
   */
  private async bulk(container: Container, ops: OperationInput[], ids: string[], options: BulkWriteOptions = {}): Promise<BulkWriteResult> {
    const result: BulkWriteResult = { written: 0, failed: [], retries: 0, throttled: 0 };
    const concurrency = Math.max(1, options.concurrency ?? 4);
    const chunks = Math.ceil(ops.length / CHUNK);
    let next = 0;
    const worker = async () => {
      while (next < chunks) {
        const c = next++;
        const idx: number[] = [];
        for (let i = c * CHUNK; i < Math.min(ops.length, (c + 1) * CHUNK); i += 1) idx.push(i);
        await this.runChunk(container, ops, ids, idx, result, options.signal);
        options.onProgress?.(result.written);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks) }, worker));
    if (result.failed.length > 0) {
      this.logger.warn({ container: container.id, failed: result.failed.length, first: result.failed[0] }, 'Cosmos bulk write: documents failed');
    }
    return result;
  }

  private async runChunk(container: Container, ops: OperationInput[], ids: string[], idx: number[], result: BulkWriteResult, signal?: AbortSignal): Promise<void> {
    let pending = idx;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (signal?.aborted) {
        for (const i of pending) result.failed.push({ id: ids[i] ?? '', status: 0, message: `aborted: ${errorMessage(signal.reason)}` });
        return;
      }
      const log: AttemptLog = { errors: [] };
      let waitMs = 0;
      let retry: number[] = [];
      let lastReason = '';
      let lastStatus = 0;
      try {
        const responses = await this.attempts.run(log, () =>
          container.items.bulk(
            pending.map((i) => ops[i] as OperationInput),
            { continueOnError: true },
            { contentResponseOnWriteEnabled: false, ...(signal ? { abortSignal: signal } : {}) },
          ),
        );
        let throttledHere = false;
        responses.forEach((r, k) => {
          const i = pending[k] as number;
          const isDelete = (ops[i] as OperationInput).operationType === 'Delete';
          if ((r.statusCode >= 200 && r.statusCode < 300) || (isDelete && r.statusCode === 404)) {
            if (!(isDelete && r.statusCode === 404)) result.written += 1;
          } else if (RETRYABLE_OP_STATUS.has(r.statusCode) && attempt < this.maxRetries) {
            if (r.statusCode === 429) {
              throttledHere = true;
              const ra = (r as { retryAfterMilliseconds?: number }).retryAfterMilliseconds;
              waitMs = Math.max(waitMs, typeof ra === 'number' ? ra : this.backoff(attempt));
            } else waitMs = Math.max(waitMs, this.backoff(attempt));
            retry.push(i);
          } else {
            result.failed.push({ id: ids[i] ?? '', status: r.statusCode, message: `operation answered ${r.statusCode}` });
          }
        });
        if (throttledHere) result.throttled += 1;
      } catch (err) {
        // The whole request failed: find the raw answer the plugin saw (the SDK drops it).
        const raw = log.errors.map(describe);
        const d = raw.find((x) => x.status === 429) ?? raw[raw.length - 1] ?? describe(err);
        result.throttled += raw.filter((x) => x.status === 429).length;
        lastReason = d.message;
        lastStatus = d.status;
        if (isTransient(d) && attempt < this.maxRetries) {
          retry = pending;
          waitMs = d.status === 429 ? (d.retryAfterMs ?? this.backoff(attempt)) : this.backoff(attempt);
        } else {
          for (const i of pending) result.failed.push({ id: ids[i] ?? '', status: d.status, message: d.message });
          this.logger.debug({ err, attempt, status: d.status }, 'Cosmos bulk chunk failed');
          return;
        }
      }
      if (retry.length > 0) {
        result.retries += retry.length;
        this.logger.debug({ attempt, retry: retry.length, waitMs, status: lastStatus, reason: lastReason }, 'Cosmos bulk chunk retry');
        await sleep(Math.min(waitMs, this.maxRetryWaitMs), signal);
      }
      pending = retry;
    }
  }

  /** Exponential backoff with jitter for attempt n (0-based), ms. */
  private backoff(attempt: number): number {
    const base = Math.min(this.maxRetryWaitMs, 50 * 2 ** attempt);
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  /** Point read; with `options.signal` the SDK request (and any retry of it) is aborted at the signal, rejecting with Unavailable. */
  private async read<T>(container: Container, id: string, pk: string, what: string, options?: ReadOptions): Promise<T | undefined> {
    const signal = options?.signal;
    if (/[/\\?#]/.test(id)) throw new InvalidDocumentId(id);
    try {
      const { resource } = await container.item(id, pk).read<ItemDefinition>(signal ? { abortSignal: signal } : undefined);
      return strip<T>(resource);
    } catch (err) {
      if (signal?.aborted) throw new Unavailable(`Cosmos DB at ${this.endpoint}: ${what} aborted: ${errorMessage(signal.reason ?? err)}`, err);
      if (describe(err).status === 404) return undefined;
      throw this.wrap(err, what);
    }
  }

  private async query<T>(container: Container, spec: SqlQuerySpec, what: string, partitionKey?: string): Promise<T[]> {
    try {
      const { resources } = await container.items
        .query<T>(spec, { maxItemCount: 5000, ...(partitionKey === undefined ? {} : { partitionKey }) })
        .fetchAll();
      return resources;
    } catch (err) {
      throw this.wrap(err, what);
    }
  }

  getPrediction(model: string, runId: string, customerId: string, options?: ReadOptions): Promise<PredictionDoc | undefined> {
    return this.read<PredictionDoc>(this.container('predictions'), `${model}:${runId}:${customerId}`, customerId, 'reading a prediction', options);
  }

  getNeighbors(model: string, runId: string, vehicleId: string): Promise<NeighborDoc | undefined> {
    return this.read<NeighborDoc>(this.container('neighbors'), `${model}:${runId}:${vehicleId}`, vehicleId, 'reading neighbours');
  }

  async listNeighbors(model: string, runId: string): Promise<NeighborDoc[]> {
    const docs = await this.query<ItemDefinition>(
      this.container('neighbors'),
      { query: 'SELECT * FROM c WHERE c.model = @model AND c.runId = @runId', parameters: [{ name: '@model', value: model }, { name: '@runId', value: runId }] },
      'listing neighbours',
    );
    return docs.map((d) => strip<NeighborDoc>(d) as NeighborDoc);
  }

  async countPredictions(model: string, runId: string): Promise<number> {
    const [n] = await this.query<number>(
      this.container('predictions'),
      { query: 'SELECT VALUE COUNT(1) FROM c WHERE c.model = @model AND c.runId = @runId', parameters: [{ name: '@model', value: model }, { name: '@runId', value: runId }] },
      'counting predictions',
    );
    return n ?? 0;
  }

  async deleteRunDocuments(model: string, runId: string): Promise<number> {
    let deleted = 0;
    const parameters = [{ name: '@model', value: model }, { name: '@runId', value: runId }];
    for (const [name, pk] of [['predictions', 'customerId'], ['neighbors', 'vehicleId']] as const) {
      const container = this.container(name);
      const keys = await this.query<{ id: string; pk: string }>(
        container,
        { query: `SELECT c.id, c.${pk} AS pk FROM c WHERE c.model = @model AND c.runId = @runId`, parameters },
        `listing ${name} of run ${runId}`,
      );
      const res = await this.bulk(
        container,
        keys.map((k) => ({ operationType: 'Delete', id: k.id, partitionKey: k.pk }) as OperationInput),
        keys.map((k) => k.id),
      );
      if (res.failed.length > 0) throw new Unavailable(`deleting run ${runId}: ${res.failed.length} ${name} documents could not be deleted (${res.failed[0]?.message})`);
      deleted += res.written;
    }
    return deleted;
  }

  async putRun(run: RunRecord): Promise<void> {
    try {
      await this.container('runs').items.upsert({ ...run, id: run.runId, kind: 'run' });
    } catch (err) {
      throw this.wrap(err, `writing run ${run.runId}`);
    }
  }

  async updateRun(model: string, runId: string, mutate: (current: RunRecord | undefined) => RunRecord | Promise<RunRecord>): Promise<RunRecord> {
    const runs = this.container('runs');
    const item = runs.item(runId, model);
    for (let attempt = 0; ; attempt += 1) {
      let stored: ItemDefinition | undefined;
      try {
        stored = (await item.read<ItemDefinition>()).resource;
      } catch (err) {
        if (describe(err).status !== 404) throw this.wrap(err, `reading run ${runId}`);
      }
      const current = strip<RunRecord>(stored);
      const next = await mutate(current === undefined ? undefined : structuredClone(current));
      if (next.model !== model || next.runId !== runId) {
        throw new InvalidArgument(`updateRun(${model}, ${runId}): the new record is run ${next.runId} of model ${next.model}`);
      }
      const doc: RunRecord = { ...next, id: runId, kind: 'run', updatedAt: new Date().toISOString() };
      try {
        // If-Match: only over the version read. Create: only if still missing (409 otherwise).
        if (stored?._etag) await item.replace(doc, { accessCondition: { type: 'IfMatch', condition: stored._etag } });
        else await runs.items.create(doc);
        return doc;
      } catch (err) {
        const status = describe(err).status;
        // 412: written since our read; 409: created since; 404: deleted since.
        if (status !== 412 && status !== 409 && status !== 404) throw this.wrap(err, `writing run ${runId}`);
        if (attempt + 1 >= RUN_UPDATE_ATTEMPTS) {
          throw new Conflict(`run ${runId} of ${model} kept changing: ${RUN_UPDATE_ATTEMPTS} attempts to update it conflicted`, { runId, model }, err);
        }
        this.logger.debug({ runId, attempt, status }, 'run record changed under an update; retrying');
        await sleep(Math.round(Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6))));
      }
    }
  }

  getRun(model: string, runId: string, options?: ReadOptions): Promise<RunRecord | undefined> {
    return this.read<RunRecord>(this.container('runs'), runId, model, `reading run ${runId}`, options);
  }

  async listRuns(model: string, options: { limit?: number } = {}): Promise<RunRecord[]> {
    // Sorted here: the embedded server cannot plan ORDER BY queries, and a model has few runs.
    const runs = await this.query<ItemDefinition>(
      this.container('runs'),
      { query: "SELECT * FROM c WHERE c.model = @model AND c.kind = 'run'", parameters: [{ name: '@model', value: model }] },
      `listing runs of ${model}`,
      model,
    );
    const out = runs.map((r) => strip<RunRecord>(r) as RunRecord).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.runId < b.runId ? 1 : -1));
    return options.limit === undefined ? out : out.slice(0, options.limit);
  }

  async listModels(): Promise<ModelSummary[]> {
    const rows = await this.query<ItemDefinition>(
      this.container('runs'),
      { query: 'SELECT c.model, c.kind, c.runId, c.status, c.asOf, c.createdAt, c.finishedAt, c.activatedAt FROM c' },
      'listing models',
    );
    const byModel = new Map<string, ModelSummary>();
    for (const r of rows) {
      const model = String(r.model);
      const s = byModel.get(model) ?? { model };
      byModel.set(model, s);
      if (r.kind === 'active') {
        s.activeRunId = r.runId as string;
        s.activatedAt = r.activatedAt as string;
      } else if (r.kind === 'run' && (!s.lastRun || String(r.createdAt) > s.lastRun.createdAt)) {
        s.lastRun = { runId: r.runId as string, status: r.status as RunRecord['status'], asOf: r.asOf as string, createdAt: r.createdAt as string, ...(r.finishedAt ? { finishedAt: r.finishedAt as string } : {}) };
      }
    }
    return [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model));
  }

  getActiveRun(model: string, options?: ReadOptions): Promise<ActiveRunPointer | undefined> {
    return this.read<ActiveRunPointer>(this.container('runs'), 'active', model, `reading the active run of ${model}`, options);
  }

  async activateRun(model: string, runId: string, options: { expectedRunId?: string | null } = {}): Promise<ActiveRunPointer> {
    const runs = this.container('runs');
    if (!(await this.getRun(model, runId))) throw new NotFound(`run ${runId} of model ${model} does not exist`);
    for (let attempt = 0; ; attempt += 1) {
      let current: (ActiveRunPointer & { _etag?: string }) | undefined;
      try {
        current = (await runs.item('active', model).read<ActiveRunPointer & { _etag?: string }>()).resource;
      } catch (err) {
        if (describe(err).status !== 404) throw this.wrap(err, `reading the active run of ${model}`);
      }
      if (options.expectedRunId !== undefined && (current?.runId ?? null) !== options.expectedRunId) {
        throw new Conflict(`the active run of ${model} is ${current?.runId ?? 'none'}, not ${options.expectedRunId ?? 'none'}`, { activeRunId: current?.runId ?? null });
      }
      const pointer: ActiveRunPointer = {
        id: 'active',
        kind: 'active',
        model,
        runId,
        ...(current && current.runId !== runId ? { previousRunId: current.runId } : current?.previousRunId ? { previousRunId: current.previousRunId } : {}),
        activatedAt: new Date().toISOString(),
      };
      try {
        if (current?._etag) await runs.item('active', model).replace(pointer, { accessCondition: { type: 'IfMatch', condition: current._etag } });
        else await runs.items.create(pointer);
        return pointer;
      } catch (err) {
        const status = describe(err).status;
        if (status !== 412 && status !== 409) throw this.wrap(err, `activating run ${runId} of ${model}`);
        if (options.expectedRunId !== undefined || attempt >= 3) {
          throw new Conflict(`the active run of ${model} changed while activating ${runId}`, { activeRunId: current?.runId ?? null }, err);
        }
      }
    }
  }

  async close(): Promise<void> {
    this.client.dispose();
    this.agent.destroy();
  }
}
