import { ConfigError } from '../errors/app-error.js';

/**
 * Every setting of showroom, read once from the environment and validated.
 * Each entry documents itself (env name, default, meaning); the README's configuration
 * table is generated from `settingDocs()` (`showroom config --markdown`).
 */
type Parser<T> = (raw: string, env: string) => T;

interface Setting<T> {
  env: string;
  doc: string;
  default: string | undefined;
  parse: Parser<T>;
  secret?: boolean;
}

function fail(env: string, message: string): never {
  throw new ConfigError(`invalid configuration: ${env} ${message}`, [{ field: env, message }]);
}

const str: Parser<string> = (raw) => raw;
const int = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> => (raw, env) => {
  if (!/^-?\d+$/.test(raw.trim())) fail(env, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) fail(env, `must be between ${min} and ${max}, got ${n}`);
  return n;
};
const num = (min: number, max: number): Parser<number> => (raw, env) => {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) fail(env, `must be a number, got "${raw}"`);
  if (n < min || n > max) fail(env, `must be between ${min} and ${max}, got ${n}`);
  return n;
};
const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean);
const oneOf = <T extends string>(...values: T[]): Parser<T> => (raw, env) => {
  if (!(values as string[]).includes(raw)) fail(env, `must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
};
const url = (protocols: string[]): Parser<string> => (raw, env) => {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    fail(env, `must be a URL (${protocols.join(' or ')}), got "${raw}"`);
  }
  if (!protocols.includes(u.protocol)) fail(env, `must use ${protocols.join(' or ')}, got "${u.protocol}"`);
  return raw;
};
const optional = <T>(p: Parser<T>): Parser<T | undefined> => (raw, env) => (raw === '' ? undefined : p(raw, env));
const lakeUrl: Parser<string> = (raw, env) => {
  if (raw.startsWith('file://') || raw.startsWith('https://') || raw.startsWith('http://')) return raw;
  if (/AccountName=|UseDevelopmentStorage=true/i.test(raw)) return raw;
  return fail(env, `must be file://<path>, an Azure Blob container URL or a storage connection string, got "${raw}"`);
};

const settings = {
  port: { env: 'PORT', doc: 'HTTP port of the API', default: '8080', parse: int(0, 65535) },
  host: {
    env: 'SHOWROOM_HOST',
    doc: 'Bind address of the API. Defaults to 127.0.0.1 without API keys, 0.0.0.0 with keys; a non-loopback bind without keys is refused',
    default: '',
    parse: optional(str),
  },
  redisUrl: { env: 'REDIS_URL', doc: 'Redis for profiles, dedupe, caches, BullMQ and the embedded event log', default: 'redis://127.0.0.1:6379', parse: url(['redis:', 'rediss:']), secret: true },
  redisPrefix: { env: 'SHOWROOM_REDIS_PREFIX', doc: 'Prefix of every Redis key showroom writes', default: 'showroom:', parse: str },
  profileCache: { env: 'SHOWROOM_PROFILE_CACHE', doc: 'Live profiles the API keeps in memory (customers), kept right by Redis client-side caching (`CLIENT TRACKING`: Redis names the keys that change); 0 = read every profile from Redis', default: '20000', parse: int(0, 10_000_000) },
  cosmosEndpoint: { env: 'COSMOS_ENDPOINT', doc: 'Azure Cosmos DB endpoint; unset → the embedded server at https://127.0.0.1:8081 (`showroom cosmos`)', default: '', parse: optional(url(['https:', 'http:'])) },
  cosmosKey: { env: 'COSMOS_KEY', doc: 'Cosmos DB account key (unset with the embedded server)', default: '', parse: optional(str), secret: true },
  cosmosDatabase: { env: 'SHOWROOM_COSMOS_DATABASE', doc: 'Cosmos database name', default: 'showroom', parse: str },
  predictionTtlDays: { env: 'SHOWROOM_PREDICTION_TTL_DAYS', doc: 'Days a run\'s prediction documents live before Cosmos expires them', default: '14', parse: int(1, 3650) },
  eventHubsConnectionString: { env: 'EVENTHUBS_CONNECTION_STRING', doc: 'Azure Event Hubs connection string; unset → Redis Streams', default: '', parse: optional(str), secret: true },
  eventHubName: { env: 'EVENTHUB_NAME', doc: 'Event hub name (with EVENTHUBS_CONNECTION_STRING)', default: 'showroom-events', parse: str },
  eventHubsCheckpointStore: { env: 'SHOWROOM_EVENTHUBS_CHECKPOINT_STORE', doc: 'Blob storage connection string for Event Hubs checkpoints', default: '', parse: optional(str), secret: true },
  eventHubsCheckpointContainer: { env: 'SHOWROOM_EVENTHUBS_CHECKPOINT_CONTAINER', doc: 'Blob container for Event Hubs checkpoints', default: 'showroom-checkpoints', parse: str },
  eventLogPartitions: { env: 'SHOWROOM_EVENT_LOG_PARTITIONS', doc: 'Partitions (streams) of the Redis Streams event log', default: '4', parse: int(1, 1024) },
  eventLogRetentionHours: { env: 'SHOWROOM_EVENT_LOG_RETENTION_HOURS', doc: 'Hours the Redis Streams log keeps acknowledged entries', default: '168', parse: int(1, 24 * 365) },
  lakeUrl: { env: 'LAKE_URL', doc: 'Parquet lake: file://<path>, an Azure Blob container URL, or a storage connection string', default: 'file://./data/lake', parse: lakeUrl, secret: true },
  lakeContainer: { env: 'SHOWROOM_LAKE_CONTAINER', doc: 'Blob container of the lake (with a connection string LAKE_URL)', default: 'lake', parse: str },
  dataDir: { env: 'SHOWROOM_DATA_DIR', doc: 'Local working folder (lake cache, embedded Cosmos snapshots)', default: './data', parse: str },
  apiKeys: { env: 'SHOWROOM_API_KEYS', doc: 'Comma-separated keys for ingest and read endpoints', default: '', parse: list, secret: true },
  adminKeys: { env: 'SHOWROOM_ADMIN_KEYS', doc: 'Comma-separated keys for admin endpoints (models, runs, queues)', default: '', parse: list, secret: true },
  rateLimitPerMinute: { env: 'SHOWROOM_RATE_LIMIT_PER_MINUTE', doc: 'Requests per key (or client address without keys) per minute, shared across instances', default: '600000', parse: int(1) },
  authFailuresPerMinute: {
    env: 'SHOWROOM_AUTH_FAILURES_PER_MINUTE',
    doc: 'Failed authentications (unknown key or malformed Authorization header) per client address per minute; past it the address is refused (429) until the minute ends, even with a correct key. 0 = no limit',
    default: '20',
    parse: int(0),
  },
  metricsPort: {
    env: 'SHOWROOM_METRICS_PORT',
    doc: 'Serve /metrics on this port of the bind address, without a key, and not on the API port. Unset: /metrics on the API port, behind the admin key when keys are configured',
    default: '',
    parse: optional(int(0, 65535)),
  },
  httpRequestTimeoutMs: { env: 'SHOWROOM_HTTP_REQUEST_TIMEOUT_MS', doc: 'Longest a client may take to send a whole request (headers and body), ms; slower ones get 408 and are closed', default: '30000', parse: int(100, 3_600_000) },
  httpHeadersTimeoutMs: { env: 'SHOWROOM_HTTP_HEADERS_TIMEOUT_MS', doc: 'Longest a client may take to send the request headers, ms; at most SHOWROOM_HTTP_REQUEST_TIMEOUT_MS', default: '10000', parse: int(100, 3_600_000) },
  httpKeepAliveTimeoutMs: { env: 'SHOWROOM_HTTP_KEEPALIVE_TIMEOUT_MS', doc: 'Idle keep-alive connections are closed after this long, ms; longer than the idle timeout of the proxy in front (60 s for nginx, AWS ALB) so the proxy closes first', default: '65000', parse: int(100, 3_600_000) },
  httpMaxConnections: { env: 'SHOWROOM_HTTP_MAX_CONNECTIONS', doc: 'Open connections the API accepts at once; further ones are closed at once', default: '10000', parse: int(1, 1_000_000) },
  // Request-path deadlines (issue 13 #4): a frozen dependency answers like a disconnected one.
  redisDeadlineMs: {
    env: 'SHOWROOM_REDIS_DEADLINE_MS',
    doc: 'Longest a request waits for Redis (dedupe claims and log append of POST /v1/events together; a GET\'s profile read), ms; then POST answers 503 with Retry-After and GET serves without live signals (`degraded`). Background loops (profile consumer, sink, worker) keep their own retries',
    default: '500',
    parse: int(10, 60_000),
  },
  cosmosDeadlineMs: {
    env: 'SHOWROOM_COSMOS_DEADLINE_MS',
    doc: 'Longest a GET waits for Cosmos DB in total (active-run pointer, prediction document, run record, first neighbour-table load), ms; the SDK request is aborted and the answer falls back to cached or popularity results (`degraded`)',
    default: '1000',
    parse: int(10, 60_000),
  },
  logLevel: { env: 'SHOWROOM_LOG_LEVEL', doc: 'pino log level', default: 'info', parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent') },
  defaultModel: { env: 'SHOWROOM_DEFAULT_MODEL', doc: 'Model served when a request names none (or `default`)', default: 'item-knn', parse: str },
  lookbackDays: { env: 'SHOWROOM_LOOKBACK_DAYS', doc: 'Days of history a batch run reads', default: '90', parse: int(1, 3650) },
  topN: { env: 'SHOWROOM_TOP_N', doc: 'Vehicles precomputed per customer', default: '100', parse: int(1, 1000) },
  nightlyCron: { env: 'SHOWROOM_NIGHTLY_CRON', doc: 'Cron of the nightly batch run', default: '0 2 * * *', parse: str },
  nightlyTimeZone: { env: 'SHOWROOM_NIGHTLY_TZ', doc: 'Time zone of the nightly cron', default: 'UTC', parse: str },
  workerConcurrency: { env: 'SHOWROOM_WORKER_CONCURRENCY', doc: 'Jobs a worker runs at once', default: '1', parse: int(1, 64) },
  sinkMaxRows: { env: 'SHOWROOM_SINK_MAX_ROWS', doc: 'Rows buffered per hour partition before the sink writes a file', default: '200000', parse: int(1) },
  sinkMaxAgeMs: { env: 'SHOWROOM_SINK_MAX_AGE_MS', doc: 'Longest an event waits in the sink buffer (ms)', default: '60000', parse: int(10) },
  gateNdcgTolerance: { env: 'SHOWROOM_GATE_NDCG_TOLERANCE', doc: 'Quality gate: relative nDCG drop allowed against the active run', default: '0.1', parse: num(0, 1) },
  gateCoverageTolerance: { env: 'SHOWROOM_GATE_COVERAGE_TOLERANCE', doc: 'Quality gate: relative coverage drop allowed against the active run', default: '0.2', parse: num(0, 1) },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof settings;
/** The validated configuration. */
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Default endpoint of the embedded Cosmos server (`showroom cosmos`), like the official emulator. */
export const EMBEDDED_COSMOS_ENDPOINT = 'https://127.0.0.1:8081';

/**
 * Reads and validates every setting. Throws a ConfigError naming every bad variable.
 * Call it once, in the composition root.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: { field: string; message: string }[] = [];
  for (const [key, s] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const raw = env[s.env] ?? s.default ?? '';
    try {
      out[key] = s.parse(raw, s.env);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.fields);
      else throw err;
    }
  }
  if (problems.length === 0) problems.push(...crossCheck(out as Config));
  if (problems.length > 0) {
    throw new ConfigError(
      `invalid configuration: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
      problems,
    );
  }
  return out as Config;
}

/** Rules between settings (each setting is valid on its own). */
function crossCheck(c: Config): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (c.httpHeadersTimeoutMs > c.httpRequestTimeoutMs) {
    problems.push({ field: 'SHOWROOM_HTTP_HEADERS_TIMEOUT_MS', message: `must be at most SHOWROOM_HTTP_REQUEST_TIMEOUT_MS (${c.httpRequestTimeoutMs}), got ${c.httpHeadersTimeoutMs}` });
  }
  return problems;
}

/** The effective configuration with secrets redacted, for printing at start-up. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings) as [keyof Config, Setting<unknown>][]) {
    const v = config[key];
    const empty = v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
    out[s.env] = s.secret && !empty ? redact(v) : v;
  }
  return out;
}

function redact(v: unknown): string {
  if (Array.isArray(v)) return `[${v.length} redacted]`;
  const s = String(v);
  if (/^rediss?:\/\//.test(s)) {
    const u = new URL(s);
    if (u.password) u.password = 'redacted';
    return u.toString();
  }
  if (s.startsWith('file://')) return s;
  return '[redacted]';
}

/** Documentation of every setting (env, default, meaning), for `--help` and the README. */
export function settingDocs(): { env: string; default: string; doc: string }[] {
  return Object.values(settings).map((s: Setting<unknown>) => ({ env: s.env, default: s.default ?? '', doc: s.doc }));
}

/** Resolved Cosmos endpoint: COSMOS_ENDPOINT or the embedded server's address. */
export function cosmosEndpoint(config: Config): string {
  return config.cosmosEndpoint ?? EMBEDDED_COSMOS_ENDPOINT;
}
