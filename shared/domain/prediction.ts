import type { Vehicle } from './vehicle.js';

/** One ranked vehicle of a precomputed list. `score` is the model's, higher is better. */
export interface ScoredVehicle {
  vehicleId: string;
  score: number;
}

/**
 * A customer's precomputed list for one run. Cosmos container `predictions`,
 * partition key `/customerId`, id `<model>:<runId>:<customerId>`.
 */
export interface PredictionDoc {
  id: string;
  customerId: string;
  model: string;
  runId: string;
  /** ISO-8601 UTC. */
  generatedAt: string;
  items: ScoredVehicle[];
  /** Seconds until Cosmos expires the document. */
  ttl?: number;
}

/**
 * A vehicle's nearest neighbours for one run, with the vehicle's attributes so the online
 * service can name and filter it. Container `neighbors`, pk `/vehicleId`, id `<model>:<runId>:<vehicleId>`.
 */
export interface NeighborDoc {
  id: string;
  vehicleId: string;
  model: string;
  runId: string;
  vehicle?: Omit<Vehicle, 'vehicleId'>;
  neighbors: ScoredVehicle[];
  ttl?: number;
}

export type RunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'discarded';
export type RunStage = 'read' | 'train' | 'evaluate' | 'score' | 'write' | 'gate' | 'activate';

/** Offline evaluation figures at k (definitions in the README). */
export interface EvaluationMetrics {
  k: number;
  precision: number;
  recall: number;
  ndcg: number;
  map: number;
  coverage: number;
  customers: number;
}

/** Popularity lists stored with a run: the cold-start lists. */
export interface PopularityLists {
  overall: ScoredVehicle[];
  byBodyStyle: Record<string, ScoredVehicle[]>;
  byPriceBand: Record<string, ScoredVehicle[]>;
}

/**
 * A batch run. Container `runs`, pk `/model`, id `<runId>`.
 * The active-run pointer lives in the same container (see ActiveRunPointer).
 */
export interface RunRecord {
  id: string;
  kind: 'run';
  model: string;
  runId: string;
  status: RunStatus;
  stage?: RunStage;
  /** ISO-8601 UTC: events strictly before this instant are used. */
  asOf: string;
  params: Record<string, unknown>;
  /**
   * Tallies of the run (events, customers, predictionsWritten, ...). Score + write (ms):
   * `scoreWriteMs` the pipelined stage's wall time, `writeWindowMs` first bulk write → last;
   * scoring on its own: `scoreTaskMs` / `scoreCpuMs` the busiest compute thread's elapsed / CPU
   * time in score tasks, `scoreInitMs`, `scoreThreads`, and `scoringPerSec` = customers /
   * (init + CPU time, else elapsed) — the scoring stage's rate were it run alone on those threads.
   */
  counts: Record<string, number>;
  /** Milliseconds per stage. */
  timings: Partial<Record<RunStage, number>>;
  metrics?: EvaluationMetrics;
  baselineMetrics?: EvaluationMetrics;
  /**
   * The quality gate's verdict. `forced`: an operator overrode it (`--force`), `reason` theirs;
   * a forced run is activated even when `passed` is false (its `reasons` are kept).
   */
  gate?: { passed: boolean; reasons: string[]; forced?: boolean; reason?: string };
  popularity?: PopularityLists;
  error?: string;
  shards?: { total: number; done: number[] };
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  activatedAt?: string;
  ttl?: number;
}

/** The model's active-run pointer: container `runs`, pk `/model`, id `active`. */
export interface ActiveRunPointer {
  id: 'active';
  kind: 'active';
  model: string;
  runId: string;
  previousRunId?: string;
  activatedAt: string;
}

export function predictionId(model: string, runId: string, customerId: string): string {
  return `${model}:${runId}:${customerId}`;
}

export function neighborId(model: string, runId: string, vehicleId: string): string {
  return `${model}:${runId}:${vehicleId}`;
}
