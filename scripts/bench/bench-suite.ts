import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { deleteKeysWithPrefix, createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import type { GenerateProgress } from '../generate/generate-dataset.js';
import { ensureDemoRedis } from '../demo/local-redis.js';
import { benchEventLogAppend, type AppendBenchResult } from './event-log-append-bench.js';
import { benchOfflineSink, type SinkBenchResult } from './offline-sink-bench.js';
import { benchOffline, ensureBenchLake, type BenchDatasetSpec, type OfflineBenchResult } from './offline-bench.js';
import { benchServing, type ServingBenchResult } from './serving-bench.js';
import { benchDiscovery, type DiscoveryBenchResult } from './discovery-bench.js';
import { ownPeakRss, startBenchChild, type BenchChild } from './bench-processes.js';

export type BenchSize = 'small' | 'full';

/** What one size runs. */
export interface BenchSizeSpec {
  dataset: BenchDatasetSpec;
  /** Distinct customers of the serving runs (≤ dataset customers). */
  servingCustomers: number;
  /** Seconds per autocannon run. */
  duration: number;
  /** Alternating flat-out rounds (recommendations vs bare Express). */
  rounds: number;
  freshnessTrials: number;
  appendEvents: number;
  appendRounds: number;
  sinkEvents: number;
  sinkRounds: number;
  /**
   * The discovery rows' lake (`evaluate --online` on its last day: a batch run and an in-process
   * embedded Cosmos of its own) and how many customers are replayed.
   */
  discovery: { dataset: BenchDatasetSpec; name: string; maxCustomers: number };
  /** Documents of the bare bulk upsert (the ceiling of the write stage, half before and half after the run); default: one per customer, as many as the run writes. */
  bareDocuments?: number;
}

export const BENCH_SIZES: Record<BenchSize, BenchSizeSpec> = {
  small: {
    dataset: { customers: 1200, vehicles: 250, days: 3, seed: 42, end: '2026-03-03' },
    servingCustomers: 300,
    duration: 2,
    rounds: 1,
    freshnessTrials: 10,
    appendEvents: 10_000,
    appendRounds: 1,
    sinkEvents: 10_000,
    sinkRounds: 1,
    discovery: { dataset: { customers: 1200, vehicles: 250, days: 3, seed: 42, end: '2026-03-03' }, name: 'small', maxCustomers: 200 },
  },
  full: {
    dataset: { customers: 200_000, vehicles: 20_000, days: 30, seed: 42, end: '2026-03-30' },
    servingCustomers: 10_000,
    duration: 10,
    rounds: 2,
    freshnessTrials: 200,
    appendEvents: 200_000,
    appendRounds: 3,
    sinkEvents: 200_000,
    sinkRounds: 1,
    // The full lake's replay would hold 200,000 customers' documents in a second in-process
    // Cosmos: a 20,000-customer lake of the same generator keeps the rows to a minute.
    discovery: { dataset: { customers: 20_000, vehicles: 3000, days: 14, seed: 42, end: '2026-03-14' }, name: 'discovery', maxCustomers: 1000 },
  },
};

/** A figure to reach: `value` (or `ratio`) compared with `limit`. */
export interface BenchTarget {
  on: 'value' | 'ratio';
  op: '>=' | '<=';
  limit: number;
  /** A stricter figure aimed at (shown beside the limit; `pass` judges the limit only). */
  goal?: number;
  /** Where the figure comes from (issue 3, 4 or 5). */
  source: string;
}

/** A row's figures in an earlier run (the results file before this one, same size), matched by measure. */
export interface PreviousFigures {
  value: number;
  unit: string;
  ceiling?: number;
  ceilingName?: string;
  baseline?: number;
  baselineName?: string;
  ratio?: number;
}

/** One line of the results table. */
export interface BenchRow {
  group: 'serving' | 'ingest' | 'event log' | 'sink' | 'offline' | 'freshness' | 'memory';
  measure: string;
  value: number;
  unit: string;
  /** The same work done by the bare component, measured in the same run: the most this figure could be. */
  ceiling?: number;
  ceilingName?: string;
  /**
   * A reference measured in the same run that is not a bound (e.g. the popularity model's
   * nDCG, stock Express, a bare XADD pipeline). A row has a ceiling or a baseline, not both.
   */
  baseline?: number;
  baselineName?: string;
  /** value / ceiling, or value / baseline. */
  ratio?: number;
  /** The same measure in the previous results file (set by writeResults). */
  previous?: PreviousFigures;
  target?: BenchTarget;
  /** Whether the target is met (undefined without a target). */
  pass?: boolean;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  /** 1/5/15-minute load averages at the start and the end of the run. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
  slug: string;
}

export interface BenchResults {
  size: BenchSize;
  startedAt: string;
  seconds: number;
  machine: MachineInfo;
  dataset: { customers: number; vehicles: number; events: number; start: string; end: string; generated: boolean; generateSeconds?: number };
  /** The ceilings measured in this run (what this host can do bare): compare runs across hosts by the ratios to these. */
  ceilings: { measure: string; name: string; value: number; unit: string }[];
  rows: BenchRow[];
  /** The results file the rows' `previous` figures come from (set by writeResults; absent when none). */
  previousRun?: { file: string; startedAt: string; machine: string };
  /** Measures that produced no number (a broken benchmark). */
  missing: string[];
  /** Parts that failed (their rows show n/a). */
  errors: string[];
  raw: { offline: OfflineBenchResult; append: AppendBenchResult; sink: SinkBenchResult; serving: ServingBenchResult; discovery?: Omit<DiscoveryBenchResult, 'report'> };
}

export interface BenchSuiteOptions {
  config: Config;
  size: BenchSize;
  logger?: Logger;
  signal?: AbortSignal;
  /** Stage names as the suite goes (stderr progress). */
  onStage?: (stage: string) => void;
  onGenerate?: (p: GenerateProgress) => void;
  /** Write a V8 CPU profile of the API process here (`node --cpu-prof`). */
  cpuProfileDir?: string;
}

const MIB = 1024 * 1024;

/** Machine description of the results file: CPU model, cores, memory, Node version, load. */
export function machineInfo(loadAverageStart: number[]): MachineInfo {
  const cpuModel = os.cpus()[0]?.model.trim() ?? 'unknown cpu';
  const cores = os.availableParallelism();
  const memoryBytes = os.totalmem();
  const slug = `${cpuModel
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')}-${cores}c-${Math.round(memoryBytes / 1024 ** 3)}g`;
  return { cpuModel, cores, memoryBytes, node: process.version, platform: `${os.platform()} ${os.release()}`, loadAverageStart, loadAverageEnd: os.loadavg().map(round2), slug };
}

/**
 * Runs the whole benchmark on the real embedded stack: Redis (REDIS_URL, else a private
 * redis-server), the embedded Cosmos server in its own process (memory only, discarded
 * after), the generated lake cached under `<dataDir>/bench/lake-<size>`, the batch run, the
 * event log and sink benches, then the API in its own process under autocannon in another.
 * Every figure sits next to its ceiling measured in the same run. Writes nothing outside
 * `<dataDir>/bench` and scratch Redis prefixes (removed after).
 */
export async function runBenchSuite(options: BenchSuiteOptions): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const loadStart = os.loadavg().map(round2);
  const spec = BENCH_SIZES[options.size];
  const logger = options.logger ?? silentLogger();
  const stage = options.onStage ?? (() => undefined);
  const tag = randomUUID().slice(0, 8);
  const prefix = `bench:${tag}:`;
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    stage(`host: ${describeHost(machineInfo(loadStart))}`);
    stage('redis');
    const redisHandle = await ensureDemoRedis(options.config.redisUrl);
    cleanups.push(() => redisHandle.stop());

    stage('embedded Cosmos (own process)');
    const childEnv = { ...process.env, SHOWROOM_LOG_LEVEL: 'warn' };
    // The in-memory server holds every run's documents as objects (~3 GiB at full size): a heap
    // limit above V8's default (~4 GiB on this machine) keeps it out of back-to-back full GCs.
    const cosmos: BenchChild = await startBenchChild('bench-server', ['cosmos'], childEnv, { nodeFlags: [`--max-old-space-size=${options.size === 'full' ? 12_288 : 2048}`] });
    cleanups.push(() => cosmos.stop());
    const endpoint = String(cosmos.info.url);
    const config: Config = { ...options.config, redisUrl: redisHandle.url, cosmosEndpoint: endpoint, redisPrefix: prefix, defaultModel: 'item-knn', cosmosDatabase: 'showroom-bench' };
    const store = await createPredictionStore(config, logger);
    cleanups.push(() => store.close());

    stage(`lake (${options.size}: ${spec.dataset.customers} customers, ${spec.dataset.vehicles} vehicles, ${spec.dataset.days} days)`);
    const bl = await ensureBenchLake(config.dataDir, options.size, spec.dataset, { signal: options.signal, onProgress: options.onGenerate });
    const ds = spec.dataset;
    const digits = (n: number) => Math.max(6, String(Math.max(0, n - 1)).length);
    const customerIds = Array.from({ length: bl.dataset.customers }, (_, i) => `c-${String(i).padStart(digits(ds.customers), '0')}`);
    const guessVehicles = Array.from({ length: bl.dataset.vehicles }, (_, i) => `v-${String(i).padStart(digits(bl.dataset.vehicles), '0')}`);
    const asOf = new Date(Date.parse(`${ds.end}T00:00:00Z`) + 86_400_000).toISOString();

    const offline = await benchOffline({ lake: bl.lake, store, asOf, runId: `bench-${tag}`, customerIds, bareDocuments: spec.bareDocuments, vehicleIds: guessVehicles, logger, signal: options.signal, onStage: (s) => stage(`offline: ${s}`) });
    options.signal?.throwIfAborted();

    stage(`event log: append vs bare XADD (${spec.appendEvents} events)`);
    const append = await benchEventLogAppend({ redisUrl: config.redisUrl, events: spec.appendEvents, rounds: spec.appendRounds, batchSize: 100 });
    options.signal?.throwIfAborted();
    stage(`sink: log → Parquet vs parquetjs alone (${spec.sinkEvents} events)`);
    const sink = await benchOfflineSink({ redisUrl: config.redisUrl, events: spec.sinkEvents, rounds: spec.sinkRounds });
    options.signal?.throwIfAborted();

    // Live events name catalog vehicles (generated ids; listing the run's neighbour documents
    // times out on the embedded server at full size).
    const vehicleIds = guessVehicles;
    const redis: Redis = createRedis(config.redisUrl, 'bench');
    cleanups.push(async () => {
      await deleteKeysWithPrefix(redis, prefix);
      redis.disconnect();
    });
    await waitForRedis(redis, 5000);
    const eventLog = createEventLog(config, { logger });
    cleanups.push(() => eventLog.close());
    const errors: string[] = [];
    const serving = await benchServing({
      env: { ...childEnv, REDIS_URL: config.redisUrl, COSMOS_ENDPOINT: endpoint, SHOWROOM_REDIS_PREFIX: prefix, SHOWROOM_DEFAULT_MODEL: 'item-knn', SHOWROOM_COSMOS_DATABASE: config.cosmosDatabase, SHOWROOM_EVENT_LOG_PARTITIONS: String(config.eventLogPartitions) },
      redis,
      redisPrefix: prefix,
      eventLog,
      customerPrefix: 'c-',
      customerDigits: digits(ds.customers),
      customers: Math.min(spec.servingCustomers, bl.dataset.customers),
      vehicleIds,
      duration: spec.duration,
      rounds: spec.rounds,
      freshnessTrials: spec.freshnessTrials,
      tag,
      cpuProfileDir: options.cpuProfileDir,
      signal: options.signal,
      onStage: (s) => stage(`online: ${s}`),
    }).catch((err: unknown) => {
      // The other parts' figures still count: the serving rows show n/a and the error is kept.
      if (options.signal?.aborted) throw err;
      errors.push(`serving: ${err instanceof Error ? err.message : String(err)}`);
      stage(`online: FAILED (${errors.at(-1)})`);
      return failedServing();
    });
    const cosmosPeak = await cosmos.stop();
    const driverPeak = ownPeakRss();

    stage(`discovery: evaluate --online on a ${spec.discovery.dataset.customers}-customer lake (${spec.discovery.maxCustomers} customers replayed)`);
    const dl = await ensureBenchLake(config.dataDir, spec.discovery.name, spec.discovery.dataset, { signal: options.signal, onProgress: options.onGenerate });
    const discovery = await benchDiscovery({ config: { ...config, cosmosEndpoint: undefined }, lake: dl.lake, maxCustomers: spec.discovery.maxCustomers, logger: logger.child({ stage: 'discovery' }, { level: 'warn' }), signal: options.signal }).catch((err: unknown) => {
      if (options.signal?.aborted) throw err;
      errors.push(`discovery: ${err instanceof Error ? err.message : String(err)}`);
      stage(`discovery: FAILED (${errors.at(-1)})`);
      return undefined;
    });

    const rows = [...buildRows({ offline, append, sink, serving, cosmosPeak, driverPeak, size: options.size }), ...(discovery?.rows ?? []).map(row)];
    const missing = rows.filter((r) => !Number.isFinite(r.value) || (r.ceiling !== undefined && !Number.isFinite(r.ceiling)) || (r.baseline !== undefined && !Number.isFinite(r.baseline))).map((r) => r.measure);
    const ceilings = rows.filter((r) => r.ceiling !== undefined).map((r) => ({ measure: r.measure, name: r.ceilingName ?? '', value: r.ceiling!, unit: r.unit }));
    return {
      size: options.size,
      startedAt,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      machine: machineInfo(loadStart),
      ceilings,
      dataset: { ...bl.dataset, generated: bl.generated, generateSeconds: bl.generateSeconds },
      rows,
      missing,
      errors,
      raw: { offline, append, sink, serving, discovery: discovery && { discovery: discovery.discovery, reengagement: discovery.reengagement, cap: discovery.cap, rows: discovery.rows } },
    };
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => logger.warn({ err }, 'bench clean-up step failed'));
  }
}

function failedServing(): ServingBenchResult {
  const noStats = { eventLoopDelayP99: NaN, eventLoopDelayMax: NaN, gcCount: 0, gcMaxMs: NaN, gcTotalMs: NaN, majorGcMaxMs: NaN };
  const load = { rps: NaN, p50: NaN, p99: NaN, total: 0, non2xx: 0, errors: 0, peakRssBytes: NaN };
  const fresh = { trials: 0, p50: NaN, p99: NaN, max: NaN, firstRequest: 0, timeouts: 0 };
  return {
    customers: 0,
    bodyBytes: 0,
    recommendationsAtRate: { ...load, rate: 500, api: noStats },
    recommendationsMax: load,
    tunedExpressMax: load,
    bareExpressMax: load,
    ingest: { ...load, batchSize: 100, eventsPerSec: NaN, connections: 16 },
    ingestCeiling: { ...load, eventsPerSec: NaN },
    ingestAtRate: { ...load, batchSize: 100, eventsPerSec: NaN, rate: 10_000, api: noStats },
    freshnessReadYourWrites: fresh,
    freshnessLog: fresh,
    peakRss: { loadGenerator: NaN },
  };
}

function row(r: Omit<BenchRow, 'ratio' | 'pass' | 'previous'>): BenchRow {
  if (r.ceiling !== undefined && r.baseline !== undefined) throw new Error(`${r.measure}: a ceiling or a baseline, not both`);
  const ref = r.ceiling ?? r.baseline;
  const ratio = ref !== undefined && ref > 0 ? round2(r.value / ref) : undefined;
  let pass: boolean | undefined;
  if (r.target) {
    const x = r.target.on === 'ratio' ? ratio : r.value;
    pass = x !== undefined && Number.isFinite(x) && (r.target.op === '>=' ? x >= r.target.limit : x <= r.target.limit);
  }
  return { ...r, value: roundFigure(r.value), ceiling: r.ceiling === undefined ? undefined : roundFigure(r.ceiling), baseline: r.baseline === undefined ? undefined : roundFigure(r.baseline), ratio, pass };
}

function buildRows(m: { offline: OfflineBenchResult; append: AppendBenchResult; sink: SinkBenchResult; serving: ServingBenchResult; cosmosPeak?: number; driverPeak: number; size: BenchSize }): BenchRow[] {
  const { offline: o, append: a, sink: s, serving: v } = m;
  const t = (on: BenchTarget['on'], op: BenchTarget['op'], limit: number, source: string, goal?: number): BenchTarget => ({ on, op, limit, source, ...(goal === undefined ? {} : { goal }) });
  const rows: BenchRow[] = [
    row({ group: 'serving', measure: `GET recommendations p50 at ${v.recommendationsAtRate.rate} req/s`, value: v.recommendationsAtRate.p50, unit: 'ms' }),
    row({ group: 'serving', measure: `GET recommendations p99 at ${v.recommendationsAtRate.rate} req/s`, value: v.recommendationsAtRate.p99, unit: 'ms', target: t('value', '<=', 5, 'issue 14') }),
    row({ group: 'serving', measure: `GET recommendations p99 at ${v.recommendationsAtRate.rate} req/s, from the actual send`, value: v.recommendationsAtRate.p99FromSend ?? NaN, unit: 'ms' }),
    row({ group: 'serving', measure: `API event-loop delay p99 / max during the ${v.recommendationsAtRate.rate} req/s run`, value: v.recommendationsAtRate.api.eventLoopDelayP99, unit: `ms / ${fmt(v.recommendationsAtRate.api.eventLoopDelayMax)} ms` }),
    row({ group: 'serving', measure: `API GC pauses during the ${v.recommendationsAtRate.rate} req/s run: longest (longest major)`, value: v.recommendationsAtRate.api.gcMaxMs, unit: `ms (${fmt(v.recommendationsAtRate.api.majorGcMaxMs)} ms), ${v.recommendationsAtRate.api.gcCount} pauses` }),
    row({ group: 'serving', measure: 'GET recommendations, max throughput', value: v.recommendationsMax.rps, unit: 'req/s', ceiling: v.tunedExpressMax.rps, ceilingName: `tuned Express: the API's createExpressServer and settings (ETag off), same ${v.bodyBytes} B JSON`, target: t('ratio', '>=', 0.5, 'issue 14', 0.7) }),
    row({ group: 'serving', measure: 'GET recommendations, max throughput vs stock Express', value: v.recommendationsMax.rps, unit: 'req/s', baseline: v.bareExpressMax.rps, baselineName: `stock Express (default ETag), same ${v.bodyBytes} B JSON` }),
    row({ group: 'ingest', measure: `POST /v1/events, batches of ${v.ingest.batchSize}, max throughput`, value: v.ingest.eventsPerSec, unit: 'events/s', ceiling: v.ingestCeiling.eventsPerSec, ceilingName: 'same server and bodies, one bare EventLog.append per request (no validation, dedupe, profiles)', target: t('value', '>=', 10_000, 'issue 5') }),
    row({ group: 'ingest', measure: `POST /v1/events p50 at ${fmtInt(v.ingestAtRate.rate)} events/s (batches of ${v.ingestAtRate.batchSize})`, value: v.ingestAtRate.p50, unit: 'ms' }),
    row({ group: 'ingest', measure: `POST /v1/events p99 at ${fmtInt(v.ingestAtRate.rate)} events/s (batches of ${v.ingestAtRate.batchSize})`, value: v.ingestAtRate.p99, unit: 'ms', target: t('value', '<=', 50, 'issue 5') }),
    row({ group: 'ingest', measure: `API event-loop delay p99 / max during the ${fmtInt(v.ingestAtRate.rate)} events/s run`, value: v.ingestAtRate.api.eventLoopDelayP99, unit: `ms / ${fmt(v.ingestAtRate.api.eventLoopDelayMax)} ms` }),
    row({ group: 'ingest', measure: `POST /v1/events p99 flat out (${v.ingest.connections} connections: queueing)`, value: v.ingest.p99, unit: 'ms' }),
    row({ group: 'event log', measure: `EventLog.append (Redis Streams), batches of ${a.batchSize}`, value: a.appendPerSec, unit: 'events/s', ceiling: a.bareScriptPerSec, ceilingName: `its Lua script called bare (EVALSHA, ${a.concurrency} in flight)`, target: t('value', '>=', 50_000, 'issue 4') }),
    row({ group: 'event log', measure: `EventLog.append vs one XADD per event, batches of ${a.batchSize}`, value: a.appendPerSec, unit: 'events/s', baseline: a.bareXaddPerSec, baselineName: 'bare XADD pipeline' }),
    row({ group: 'sink', measure: 'offline sink, log → Parquet lake', value: s.sinkPerSec, unit: 'events/s', ceiling: s.parquetAlonePerSec, ceilingName: '@dsnp/parquetjs alone', target: t('value', '>=', 20_000, 'issue 4') }),
    row({ group: 'offline', measure: `batch run total (${o.customers} customers, ${o.events} events)`, value: o.totalMs / 1000, unit: 's', target: m.size === 'full' ? t('value', '<=', 180, 'issue 3') : undefined }),
  ];
  for (const st of ['read', 'train', 'evaluate', 'score', 'write', 'gate', 'activate'] as const) {
    rows.push(row({ group: 'offline', measure: `stage ${st}${st === 'score' ? ' (waiting for scores)' : st === 'write' ? ' (sum of overlapping bulk writes)' : ''}`, value: (o.timings[st] ?? NaN) / 1000, unit: 's' }));
  }
  rows.push(
    row({ group: 'offline', measure: `scoring, customers/s (${o.scoringThreads} threads, wall time while the writes run)`, value: o.scoringElapsedPerSec, unit: 'customers/s', target: t('value', '>=', 5000, 'issue 3') }),
    row({ group: 'offline', measure: `scoring, customers/s (${o.scoringThreads} threads, ${o.scoringBasis === 'thread-cpu' ? 'thread CPU time' : 'task time'}: alone)`, value: o.scoringPerSec, unit: 'customers/s' }),
    row({ group: 'offline', measure: 'score + write (pipelined), customers/s', value: o.customersPerSec, unit: 'customers/s' }),
    row({ group: 'offline', measure: 'write stage, documents/s', value: o.documentsPerSec, unit: 'docs/s', ceiling: o.bareUpsertPerSec, ceilingName: `bare bulk upsert of ${fmtInt(o.bareDocuments)} docs, half before / half after the run, same server`, target: t('ratio', '>=', 0.8, 'issue 3') }),
    row({ group: 'offline', measure: 'nDCG@10 item-knn (held-out day)', value: o.ndcg ?? NaN, unit: '', baseline: o.popularityNdcg ?? NaN, baselineName: 'popularity nDCG@10 (baseline)' }),
    row({ group: 'offline', measure: 'batch run peak RSS (driver process)', value: (o.peakRssBytes ?? NaN) / MIB, unit: 'MiB', target: t('value', '<=', 4096, 'issue 3') }),
    row({ group: 'freshness', measure: 'POST /v1/events → changed ranking p50', value: v.freshnessReadYourWrites.p50, unit: 'ms' }),
    row({ group: 'freshness', measure: 'POST /v1/events → changed ranking p99', value: v.freshnessReadYourWrites.p99, unit: 'ms' }),
    row({ group: 'freshness', measure: 'read-your-writes: changed on the next GET', value: (100 * v.freshnessReadYourWrites.firstRequest) / Math.max(1, v.freshnessReadYourWrites.trials), unit: '%', target: t('value', '>=', 100, 'issue 5') }),
    row({ group: 'freshness', measure: 'log append → profile consumer → changed ranking p50', value: v.freshnessLog.p50, unit: 'ms' }),
    row({ group: 'freshness', measure: 'log append → profile consumer → changed ranking p99', value: v.freshnessLog.p99, unit: 'ms', target: t('value', '<=', 1000, 'issue 5') }),
    row({ group: 'memory', measure: 'peak RSS, API server process', value: (v.peakRss.server ?? NaN) / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, bare Express process', value: (v.peakRss.bareServer ?? NaN) / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, GET ceiling process (tuned Express)', value: (v.peakRss.tunedServer ?? NaN) / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, ingest ceiling process', value: (v.peakRss.ingestCeilingServer ?? NaN) / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, load generator process', value: v.peakRss.loadGenerator / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, embedded Cosmos process', value: (m.cosmosPeak ?? NaN) / MIB, unit: 'MiB' }),
    row({ group: 'memory', measure: 'peak RSS, bench driver (batch, append, sink)', value: m.driverPeak / MIB, unit: 'MiB' }),
  );
  return rows;
}

/**
 * A figure for the table: n/a when not finite; thousands separators from 100; two decimals from
 * 1; below 1, four significant digits (a popularity nDCG of 0.001734 must not print as 0).
 */
export function fmt(x: number | undefined): string {
  if (x === undefined) return '';
  if (!Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 1 || x === 0) return String(round2(x));
  return String(Number(x.toPrecision(4)));
}
const fmtTarget = (t?: BenchTarget) => (t ? `${t.on === 'ratio' ? 'ratio ' : ''}${t.op === '>=' ? '≥' : '≤'} ${t.limit.toLocaleString('en-US')}${t.goal === undefined ? '' : ` (goal ${t.goal.toLocaleString('en-US')})`}` : '');
const verdict = (r: BenchRow) => (r.pass === undefined ? '' : r.pass ? 'pass' : 'MISS');
const reference = (value: number | undefined, name: string | undefined) => (value === undefined ? '' : `${fmt(value)} (${name})`);

function fmtPrevious(p?: PreviousFigures): string {
  if (!p) return '';
  const against = p.ceiling !== undefined ? `; ceiling ${reference(p.ceiling, p.ceilingName)}` : p.baseline !== undefined ? `; baseline ${reference(p.baseline, p.baselineName)}` : '';
  return `${`${fmt(p.value)} ${p.unit}`.trim()}${against}${p.ratio === undefined ? '' : `; ratio ${p.ratio}`}`;
}

function cells(r: BenchRow): string[] {
  return [r.group, r.measure, `${fmt(r.value)} ${r.unit}`.trim(), reference(r.ceiling, r.ceilingName), reference(r.baseline, r.baselineName), r.ratio === undefined ? '' : String(r.ratio), fmtTarget(r.target), verdict(r)];
}

const HEADER = ['group', 'measure', 'value', 'ceiling (same run)', 'baseline (same run, not a bound)', 'ratio', 'target', ''];

/** Plain-text table of the rows (stdout). */
export function formatTable(results: BenchResults): string {
  const lines = [HEADER, ...results.rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const text = lines.map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  text.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return [`showroom bench --size ${results.size}: ${describeMachine(results.machine)}`, `ceilings on this host: ${describeCeilings(results)}`, '', ...text, '', ...summaryLines(results)].join('\n');
}

/** Markdown table (README, results .md); with a previous run, its figures in a last column. */
export function formatMarkdown(results: BenchResults): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const prev = results.previousRun;
  const header = [...HEADER.slice(0, 7), 'met', ...(prev ? [`previous run (${prev.startedAt.slice(0, 10)}, ${prev.machine})`] : [])];
  const lines = [
    `### showroom bench --size ${results.size} (${results.startedAt.slice(0, 10)})`,
    '',
    `Host: ${describeMachine(results.machine)}.`,
    'Ceilings measured on this host in this run (compare runs across hosts by the ratios to these):',
    '',
    ...results.ceilings.map((c) => `- ${c.measure}: ${fmt(c.value)} ${c.unit} (${c.name})`),
    '',
    `Dataset: ${results.dataset.customers.toLocaleString('en-US')} customers, ${results.dataset.vehicles.toLocaleString('en-US')} vehicles, ${results.dataset.events.toLocaleString('en-US')} events (${results.dataset.start} … ${results.dataset.end}). Run took ${results.seconds} s.`,
    ...(prev ? [`Previous run: \`${prev.file}\` (same size; its figures in the last column, matched by measure).`] : []),
    '',
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...results.rows.map((r) => `| ${[...cells(r), ...(prev ? [fmtPrevious(r.previous)] : [])].map(esc).join(' | ')} |`),
    '',
    ...summaryLines(results),
  ];
  return lines.join('\n');
}

function describeCeilings(r: BenchResults): string {
  return r.ceilings.length ? r.ceilings.map((c) => `${c.measure}: ${fmt(c.value)} ${c.unit}`).join('; ') : 'none';
}

/** The host as the bench prints it first: CPU model, cores, memory, Node version, load average at start. */
export function describeHost(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${Math.round(m.memoryBytes / 1024 ** 3)} GiB, Node ${m.node}, ${m.platform}, load average ${m.loadAverageStart.join('/')} at start`;
}

function describeMachine(m: MachineInfo): string {
  return `${describeHost(m)}, ${m.loadAverageEnd.join('/')} at end${m.loadAverageStart[0]! > m.cores * 1.5 ? ' (machine busy with other jobs: absolute figures are pessimistic; ratios hold better)' : ''}`;
}

function summaryLines(r: BenchResults): string[] {
  const targets = r.rows.filter((x) => x.pass !== undefined);
  const missed = targets.filter((x) => !x.pass);
  const out = [`targets met: ${targets.length - missed.length}/${targets.length}${missed.length ? `; missed: ${missed.map((x) => x.measure).join('; ')}` : ''}`];
  if (r.missing.length) out.push(`BROKEN (no number): ${r.missing.join('; ')}`);
  for (const e of r.errors) out.push(`error: ${e}`);
  return out;
}

/**
 * The results file in `dir` of the newest run of the same size that started before `before`
 * (ISO time), or undefined; files that do not parse are skipped. Read before a run's files are
 * written, it also finds a run of the same day and host whose files are about to be replaced.
 */
export async function findPreviousResults(dir: string, size: BenchSize, before: string): Promise<{ file: string; results: BenchResults } | undefined> {
  let best: { file: string; results: BenchResults } | undefined;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const file = path.join(dir, name);
    if (!name.endsWith('.json')) continue;
    try {
      const r = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
      if (r.size !== size || !Array.isArray(r.rows) || typeof r.startedAt !== 'string' || r.startedAt >= before) continue;
      if (!best || r.startedAt > best.results.startedAt) best = { file, results: r };
    } catch {
      // not a results file
    }
  }
  return best;
}

/** Sets each row's `previous` from `previous`'s row of the same measure, and `previousRun`. */
export function withPrevious(results: BenchResults, previous: { file: string; results: BenchResults }): BenchResults {
  const byMeasure = new Map(previous.results.rows.map((r) => [r.measure, r]));
  const rows = results.rows.map((r) => {
    const p = byMeasure.get(r.measure);
    if (!p) return r;
    const figures: PreviousFigures = { value: p.value, unit: p.unit };
    for (const k of ['ceiling', 'ceilingName', 'baseline', 'baselineName', 'ratio'] as const) if (p[k] !== undefined) Object.assign(figures, { [k]: p[k] });
    return { ...r, previous: figures };
  });
  return { ...results, rows, previousRun: { file: path.basename(previous.file), startedAt: previous.results.startedAt, machine: previous.results.machine.slug } };
}

/**
 * Writes `<dir>/<YYYY-MM-DD>-<machine-slug>[-<size>].json` and `.md`; returns the JSON path.
 * The newest earlier results file of the same size in `dir` gives each row its previous figures
 * (a last column of the markdown), so a reader sees what changed.
 */
export async function writeResults(dir: string, results: BenchResults): Promise<string> {
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `${results.startedAt.slice(0, 10)}-${results.machine.slug}${results.size === 'full' ? '' : `-${results.size}`}`);
  const previous = await findPreviousResults(dir, results.size, results.startedAt);
  const out = previous ? withPrevious(results, previous) : results;
  await writeFile(`${base}.json`, `${JSON.stringify(out, null, 2)}\n`);
  await writeFile(`${base}.md`, `${formatMarkdown(out)}\n`);
  return `${base}.json`;
}

function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a';
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Two decimals from 1 up, four significant digits below (NaN and ±Infinity unchanged). */
function roundFigure(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Math.abs(x) >= 1 ? round2(x) : Number(x.toPrecision(4));
}
