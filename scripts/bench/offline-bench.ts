import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { predictionId, type PredictionDoc, type RunRecord, type RunStage } from '../../shared/domain/prediction.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { runBatch } from '../../offline/batch/batch-pipeline.js';
import { ownPeakRss, resetOwnPeakRss } from './bench-processes.js';
import { generateDataset, type GenerateProgress, type GenerateResult } from '../generate/generate-dataset.js';

/** Generated dataset of a benchmark size. */
export interface BenchDatasetSpec {
  customers: number;
  vehicles: number;
  days: number;
  seed: number;
  /** Last day of events (UTC, YYYY-MM-DD); fixed so the cached lake stays valid. */
  end: string;
}

export interface BenchLake {
  lake: LocalLake;
  dir: string;
  /** False when the cached lake was reused. */
  generated: boolean;
  generateSeconds?: number;
  dataset: Pick<GenerateResult, 'customers' | 'vehicles' | 'events' | 'start' | 'end'>;
}

const MARKER = 'bench-lake.json';

/**
 * The benchmark's lake for `spec`: `<dataDir>/bench/lake-<name>`, generated once and reused while
 * its marker file names the same spec (size + seed + end); regenerated from scratch otherwise.
 */
export async function ensureBenchLake(dataDir: string, name: string, spec: BenchDatasetSpec, options: { signal?: AbortSignal; onProgress?: (p: GenerateProgress) => void } = {}): Promise<BenchLake> {
  const dir = path.resolve(dataDir, 'bench', `lake-${name}`);
  const key = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
  const marker = path.join(dir, MARKER);
  try {
    const m = JSON.parse(await readFile(marker, 'utf8')) as { key: string; dataset: BenchLake['dataset'] };
    if (m.key === key) return { lake: new LocalLake(dir), dir, generated: false, dataset: m.dataset };
  } catch {
    // absent or unreadable: generate
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const lake = new LocalLake(dir);
  const r = await generateDataset({ ...spec, lake, signal: options.signal }, options.onProgress);
  const dataset = { customers: r.customers, vehicles: r.vehicles, events: r.events, start: r.start, end: r.end };
  await writeFile(marker, JSON.stringify({ key, spec, dataset }, null, 2));
  return { lake, dir, generated: true, generateSeconds: r.seconds, dataset };
}

export interface OfflineBenchResult {
  runId: string;
  model: string;
  asOf: string;
  /** Wall time of runBatch (read → activate), ms. */
  totalMs: number;
  /** The run record's stage timings (ms; `write` sums overlapping bulk writes). */
  timings: Partial<Record<RunStage, number>>;
  /** Wall time of the pipelined score + write stage, ms. */
  scoreWriteMs: number;
  customers: number;
  predictionsWritten: number;
  neighboursWritten: number;
  events: number;
  /** predictionsWritten / scoreWriteMs: customers scored and written per second (pipelined). */
  customersPerSec: number;
  /**
   * Customers scored per second of scoring work (the run's `counts.scoringPerSec`): customers /
   * (scorer set-up + the busiest compute thread's time in score tasks), i.e. the scoring stage's
   * rate were it run alone on `scoringThreads` threads. `scoringBasis` says which time: the threads'
   * CPU time (`thread-cpu`, Linux) or, elsewhere, their elapsed time during the pipelined run
   * (`task-elapsed`, inflated by the writes competing for the cores).
   */
  scoringPerSec: number;
  scoringBasis: 'thread-cpu' | 'task-elapsed';
  /** The time `scoringPerSec` is based on, ms. */
  scoringMs: number;
  scoringThreads: number;
  /** Customers / (set-up + elapsed task time) in the pipelined run: a lower bound under contention. */
  scoringElapsedPerSec: number;
  /**
   * Write stage throughput, documents/s: predictionsWritten / the write window (first bulk write's
   * start → last one's end; the score+write stage minus the scorer set-up and the first chunk's scoring).
   */
  documentsPerSec: number;
  writeWindowMs: number;
  /** Ranked vehicles per written document (the bare upsert writes `topN`). */
  itemsPerDocument: number;
  /**
   * Bare `store.upsertPredictions` of `bareDocuments` documents of the same shape (chunks of 2000,
   * two in flight, concurrency 8), in two halves bracketing the run in the same server: the first
   * half before it, the second after it, so on average the bare writes see as many stored documents
   * as the run's writes did, and a load trend during the run hits both alike. documents / (sum of both halves' time).
   */
  bareUpsertPerSec: number;
  bareDocuments: number;
  /** The halves' own rates (before / after the run), documents/s: their spread shows drift. */
  bareBeforePerSec: number;
  bareAfterPerSec: number;
  /** documentsPerSec / bareUpsertPerSec. */
  writeRatio: number;
  /** Serialized size of one stored document of the run and of the bare upsert, bytes. */
  documentBytes: { run?: number; bare: number };
  ndcg?: number;
  popularityNdcg?: number;
  activated: boolean;
  /** Peak RSS of this process during the run (Linux; undefined elsewhere). */
  peakRssBytes?: number;
}

/**
 * Measures the batch run on `lake` against a bare bulk upsert into the same store: half of the
 * bare upsert of `predictions`-shaped documents (one per customer, `topN` items, run id
 * `<runId>-bare`, left in place: use a scratch Cosmos server), then `runBatch` (item-knn, 2
 * threads, activated), then the other half.
 */
export async function benchOffline(options: {
  lake: LocalLake;
  store: PredictionStore;
  asOf: string;
  runId: string;
  customerIds: string[];
  /** Documents of the bare upsert (default one per customer, i.e. as many as the run writes). */
  bareDocuments?: number;
  vehicleIds: string[];
  topN?: number;
  logger?: Logger;
  signal?: AbortSignal;
  onStage?: (stage: string) => void;
}): Promise<OfflineBenchResult> {
  const { store } = options;
  const model = 'item-knn';
  const topN = options.topN ?? 100;
  const stage = options.onStage ?? (() => undefined);

  const bareIds = options.customerIds.slice(0, options.bareDocuments ?? options.customerIds.length);
  const half = Math.ceil(bareIds.length / 2);
  const bareRunId = `${options.runId}-bare`;
  const bare = makeBareDocs(model, bareRunId, options.vehicleIds, topN);
  // The bare documents stay: the benchmark's Cosmos server is memory-only and discarded afterwards
  // (listing 200k documents to delete them times out on the embedded server).
  stage(`bare bulk upsert, first half: ${half} documents`);
  const before = await bareUpsert(store, bare, bareIds, 0, half, options.signal);
  stage(`bare bulk upsert, first half: ${Math.round(half / before.seconds)} documents/s`);

  stage('batch run');
  resetOwnPeakRss();
  const t0 = performance.now();
  const shown = new Set<RunStage>();
  const result = await runBatch({
    lake: options.lake,
    store,
    model,
    asOf: options.asOf,
    runId: options.runId,
    topN,
    threads: 2,
    logger: options.logger,
    signal: options.signal,
    onProgress: (s) => {
      if (!shown.has(s)) stage(`batch: ${s}`);
      shown.add(s);
    },
  });
  const totalMs = performance.now() - t0;
  const peakRssBytes = ownPeakRss();

  stage(`bare bulk upsert, second half: ${bareIds.length - half} documents`);
  const after = await bareUpsert(store, bare, bareIds, half, bareIds.length, options.signal);
  stage(`bare bulk upsert, second half: ${Math.round((bareIds.length - half) / Math.max(0.001, after.seconds))} documents/s`);
  const bareUpsertPerSec = bareIds.length / Math.max(0.001, before.seconds + after.seconds);

  const run: RunRecord = result.run;
  const c = run.counts;
  const scoreWriteMs = c.scoreWriteMs ?? (run.timings.score ?? 0) + (run.timings.write ?? 0);
  const written = c.predictionsWritten ?? 0;
  const perSec = written / Math.max(0.001, scoreWriteMs / 1000);
  const writeWindowMs = c.writeWindowMs ?? scoreWriteMs;
  const documentsPerSec = written / Math.max(0.001, writeWindowMs / 1000);
  const scoringBasis = c.scoreCpuMs !== undefined ? 'thread-cpu' : 'task-elapsed';
  const scoringMs = (c.scoreInitMs ?? 0) + (c.scoreCpuMs ?? c.scoreTaskMs ?? 0);
  const scoredCustomers = c.customers ?? 0;
  return {
    runId: options.runId,
    model,
    asOf: run.asOf,
    totalMs: Math.round(totalMs),
    timings: run.timings,
    scoreWriteMs,
    customers: c.customers ?? 0,
    predictionsWritten: written,
    neighboursWritten: c.neighboursWritten ?? 0,
    events: c.events ?? 0,
    customersPerSec: Math.round(perSec),
    scoringPerSec: c.scoringPerSec ?? Math.round(scoredCustomers / Math.max(0.001, scoringMs / 1000)),
    scoringBasis,
    scoringMs,
    scoringThreads: c.scoreThreads ?? 0,
    scoringElapsedPerSec: Math.round(scoredCustomers / Math.max(0.001, ((c.scoreInitMs ?? 0) + (c.scoreTaskMs ?? 0)) / 1000)),
    documentsPerSec: Math.round(documentsPerSec),
    writeWindowMs,
    itemsPerDocument: written > 0 ? Math.round(((c.predictionItems ?? 0) / written) * 10) / 10 : 0,
    bareUpsertPerSec: Math.round(bareUpsertPerSec),
    bareDocuments: bareIds.length,
    bareBeforePerSec: Math.round(half / Math.max(0.001, before.seconds)),
    bareAfterPerSec: Math.round((bareIds.length - half) / Math.max(0.001, after.seconds)),
    // From the reported (rounded) rates, so the ratio in the results is the one they give.
    writeRatio: Math.round((Math.round(documentsPerSec) / Math.max(1, Math.round(bareUpsertPerSec))) * 1000) / 1000,
    documentBytes: { run: await storedBytes(store, model, options.runId, options.customerIds), bare: JSON.stringify(bare(bareIds, 0, 1)[0] ?? {}).length },
    ndcg: run.metrics?.ndcg,
    popularityNdcg: run.baselineMetrics?.ndcg,
    activated: result.activated,
    peakRssBytes,
  };
}

type BareDocs = (customerIds: string[], from: number, count: number) => PredictionDoc[];

/** The bare upsert's documents: `topN` items each, scores with 6 significant digits like the run's. */
function makeBareDocs(model: string, runId: string, vehicleIds: string[], topN: number): BareDocs {
  const generatedAt = new Date().toISOString();
  return (customerIds, from, count) =>
    customerIds.slice(from, from + count).map((customerId, r) => ({
      id: predictionId(model, runId, customerId),
      customerId,
      model,
      runId,
      generatedAt,
      items: Array.from({ length: topN }, (_, j) => ({ vehicleId: vehicleIds[((from + r) * 31 + j * 17) % vehicleIds.length]!, score: Math.round((1 - j / (topN + 1)) * 1e6) / 1e6 })),
      ttl: 14 * 86_400,
    }));
}

/** Upserts documents `[from, to)` as the batch pipeline does (chunks of 2000, two in flight, concurrency 8); returns the wall time. */
async function bareUpsert(store: PredictionStore, docsOf: BareDocs, customerIds: string[], from: number, to: number, signal?: AbortSignal): Promise<{ seconds: number }> {
  const CHUNK = 2000;
  const t0 = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = from; i < to; i += CHUNK) {
    // Built chunk by chunk, as the pipeline does (200k lists held at once would be GiBs).
    const docs = docsOf(customerIds, i, Math.min(CHUNK, to - i));
    if (inFlight.length >= 2) await inFlight.shift();
    signal?.throwIfAborted();
    const p = store.upsertPredictions(docs, { concurrency: 8 }).then((r) => {
      if (r.failed.length > 0) throw new Error(`bare upsert: ${r.failed.length} documents failed (${r.failed[0]?.message})`);
    });
    p.catch(() => undefined);
    inFlight.push(p);
  }
  for (const p of inFlight) await p;
  return { seconds: (performance.now() - t0) / 1000 };
}

/** JSON size of one of the run's stored predictions (the first customer that has one), bytes. */
async function storedBytes(store: PredictionStore, model: string, runId: string, customerIds: string[]): Promise<number | undefined> {
  for (const customerId of customerIds.slice(0, 20)) {
    const doc = await store.getPrediction(model, runId, customerId);
    if (doc) return JSON.stringify(doc).length;
  }
  return undefined;
}
