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
  /** predictionsWritten / scoreWriteMs: customers scored and written per second. */
  customersPerSec: number;
  /** Same figure seen as the write stage's throughput, documents/s. */
  documentsPerSec: number;
  /** Bare `store.upsertPredictions` of as many documents of the same shape (chunks of 2000, two in flight, concurrency 8). */
  bareUpsertPerSec: number;
  ndcg?: number;
  popularityNdcg?: number;
  activated: boolean;
  /** Peak RSS of this process during the run (Linux; undefined elsewhere). */
  peakRssBytes?: number;
}

/**
 * Measures the batch run on `lake` against a bare bulk upsert into the same store: first the
 * bare upsert of `predictions`-shaped documents (one per customer, `topN` items) under run id
 * `<runId>-bare` (left in place: use a scratch Cosmos server), then `runBatch` (item-knn, 2 threads), activated.
 */
export async function benchOffline(options: {
  lake: LocalLake;
  store: PredictionStore;
  asOf: string;
  runId: string;
  customerIds: string[];
  /** Documents of the bare upsert (default one per customer; the first N customers). */
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
  stage(`bare bulk upsert of ${bareIds.length} documents`);
  const bareRunId = `${options.runId}-bare`;
  const bareUpsertPerSec = await bareUpsert(store, model, bareRunId, bareIds, options.vehicleIds, topN, options.signal);
  stage(`bare bulk upsert: ${Math.round(bareUpsertPerSec)} documents/s`);
  // The bare documents stay: the benchmark's Cosmos server is memory-only and discarded afterwards
  // (listing 200k documents to delete them times out on the embedded server).

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
  const run: RunRecord = result.run;
  const scoreWriteMs = run.counts.scoreWriteMs ?? (run.timings.score ?? 0) + (run.timings.write ?? 0);
  const written = run.counts.predictionsWritten ?? 0;
  const perSec = written / Math.max(0.001, scoreWriteMs / 1000);
  return {
    runId: options.runId,
    model,
    asOf: run.asOf,
    totalMs: Math.round(totalMs),
    timings: run.timings,
    scoreWriteMs,
    customers: run.counts.customers ?? 0,
    predictionsWritten: written,
    neighboursWritten: run.counts.neighboursWritten ?? 0,
    events: run.counts.events ?? 0,
    customersPerSec: Math.round(perSec),
    documentsPerSec: Math.round(perSec),
    bareUpsertPerSec: Math.round(bareUpsertPerSec),
    ndcg: run.metrics?.ndcg,
    popularityNdcg: run.baselineMetrics?.ndcg,
    activated: result.activated,
    peakRssBytes,
  };
}

async function bareUpsert(store: PredictionStore, model: string, runId: string, customerIds: string[], vehicleIds: string[], topN: number, signal?: AbortSignal): Promise<number> {
  const generatedAt = new Date().toISOString();
  const CHUNK = 2000;
  // Documents are built chunk by chunk, as the batch pipeline does (200k lists held at once would be GiBs).
  const chunk = (i: number): PredictionDoc[] =>
    customerIds.slice(i, i + CHUNK).map((customerId, r) => ({
      id: predictionId(model, runId, customerId),
      customerId,
      model,
      runId,
      generatedAt,
      items: Array.from({ length: topN }, (_, j) => ({ vehicleId: vehicleIds[((i + r) * 31 + j * 17) % vehicleIds.length]!, score: Math.round((1 - j / (topN + 1)) * 1e6) / 1e6 })),
      ttl: 14 * 86_400,
    }));
  const t0 = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < customerIds.length; i += CHUNK) {
    const docs = chunk(i);
    if (inFlight.length >= 2) await inFlight.shift();
    signal?.throwIfAborted();
    const p = store.upsertPredictions(docs, { concurrency: 8 }).then((r) => {
      if (r.failed.length > 0) throw new Error(`bare upsert: ${r.failed.length} documents failed (${r.failed[0]?.message})`);
    });
    p.catch(() => undefined);
    inFlight.push(p);
  }
  for (const p of inFlight) await p;
  return customerIds.length / ((performance.now() - t0) / 1000);
}
