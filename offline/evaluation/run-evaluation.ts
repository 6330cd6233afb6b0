import { InvalidArgument } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import { DuckDbLakeReader } from '../lake-reader/duckdb-lake-reader.js';
import type { ModelParams } from '../models/model.js';
import { getModel } from '../models/registry.js';
import { evaluateSplit, stratifiedSplit, timeSplit, type ModelEvaluation, type Split } from './protocols.js';

export type Protocol = 'time' | 'stratified';

export interface EvaluationOptions {
  lake: Lake;
  protocol: Protocol;
  /** ISO-8601 UTC end of the data (exclusive). */
  asOf: string;
  lookbackDays: number;
  /** `time`: days after the cut used as the test part (default 1). */
  testDays?: number;
  /** `stratified`: share of each customer's vehicles in train (default 0.75). */
  ratio?: number;
  seed?: number;
  k?: number;
  models: string[];
  params?: Record<string, ModelParams>;
  maxCustomers?: number;
  signal?: AbortSignal;
}

export interface EvaluationReport {
  protocol: Protocol;
  split: string;
  asOf: string;
  k: number;
  events: { train: number; test: number };
  results: ModelEvaluation[];
}

/**
 * Offline evaluation of registered models on the lake (or an imported dataset in it): reads the
 * window, splits it by `protocol`, trains each model on train and scores it on test
 * (definitions in metrics.ts and protocols.ts). Runs on the calling thread.
 */
export async function runEvaluation(o: EvaluationOptions): Promise<EvaluationReport> {
  const k = o.k ?? 10;
  const models = o.models.map((name) => ({ model: getModel(name), params: o.params?.[name] ?? {} }));
  if (models.length === 0) throw new InvalidArgument('name at least one model to evaluate');
  const reader = new DuckDbLakeReader(o.lake);
  try {
    const data = await reader.readDataset({ asOf: o.asOf, lookbackDays: o.lookbackDays, signal: o.signal });
    let split: Split;
    if (o.protocol === 'time') {
      const testDays = o.testDays ?? 1;
      if (!(testDays > 0 && testDays < o.lookbackDays)) throw new InvalidArgument(`test days must be in (0, lookback ${o.lookbackDays}), got ${testDays}`);
      const cutMs = data.asOfMs - testDays * 86_400_000;
      const catalog = await reader.readCatalog(new Date(cutMs).toISOString()).catch(() => undefined);
      const forSale = catalog ? Uint8Array.from(data.vehicleIds, (v) => (catalog.forSale.has(v) ? 1 : 0)) : undefined;
      split = timeSplit(data, cutMs, forSale);
    } else {
      const ratio = o.ratio ?? 0.75;
      if (!(ratio > 0 && ratio < 1)) throw new InvalidArgument(`ratio must be in (0, 1), got ${ratio}`);
      split = stratifiedSplit(data, ratio, o.seed ?? 42);
    }
    o.signal?.throwIfAborted();
    const results = evaluateSplit(split, models, { k, maxCustomers: o.maxCustomers });
    return { protocol: o.protocol, split: split.description, asOf: new Date(data.asOfMs).toISOString(), k, events: { train: split.train.n, test: split.test.n }, results };
  } finally {
    reader.close();
  }
}
