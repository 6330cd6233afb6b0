import { InvalidArgument } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import { HIDE_CODE, PURCHASE_CODE, WEIGHT_BY_CODE, type InteractionDataset } from '../lake-reader/interaction-dataset.js';
import { timeDecay } from '../../shared/features/event-weights.js';

export type TypedArray = Int32Array | Uint32Array | Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array;
export type ModelParams = Record<string, number | string | boolean>;

/**
 * What `train` returns: everything needed to score, in typed arrays (cheap to share with worker
 * threads and to write to the lake). Vehicle indices in the arrays refer to `vehicleIds`.
 */
export interface ModelArtefact {
  model: string;
  params: ModelParams;
  /** ISO-8601 UTC instant the model was trained at (events strictly before it). */
  asOf: string;
  vehicleIds: string[];
  arrays: Record<string, TypedArray>;
  /** Small JSON facts (counts, timings) kept in the artefact manifest. */
  meta: Record<string, number | string>;
}

/** Per-customer state a scorer needs, derived from the customer's events. */
export interface CustomerHistory {
  /** Distinct vehicles the customer interacted with, and their summed decayed weight (may be ≤ 0). */
  vehicles: number[];
  affinity: number[];
  /** Vehicles the customer bought or hid: never recommended to them. */
  blocked: Set<number>;
}

/** Scores one customer: fills `outItems`/`outScores` best first and returns how many it wrote (≤ k). */
export type CustomerScorer = (customer: number, k: number, outItems: Int32Array, outScores: Float32Array) => number;

/**
 * A recommender plugin. Implement this, `registerModel(myModel)` in a module, and the batch
 * pipeline, `showroom evaluate` and `showroom batch run --model <name>` use it unchanged.
 *
 * - `train` is pure: interactions in, artefact out (no I/O). Time decay is relative to `data.asOfMs`.
 * - `scorer` returns a function ranking vehicles for one customer of `data` (the same lake
 *   window, so indices match). It must only return vehicles with `data.forSale[v] === 1` and
 *   never a vehicle the customer bought or hid; `rankCandidates` does this for you.
 * - `module`: the URL of the module that registers the model (`import.meta.url`), so worker
 *   threads can load it; without it the model scores on the calling thread.
 */
export interface RecommenderModel {
  readonly name: string;
  readonly description: string;
  readonly defaultParams: ModelParams;
  readonly module?: string;
  train(data: InteractionDataset, params: ModelParams): ModelArtefact;
  scorer(artefact: ModelArtefact, data: InteractionDataset, params: ModelParams): CustomerScorer;
  /** Top neighbours per vehicle (CSR over artefact vehicle indices), when the model has them. */
  neighbours?(artefact: ModelArtefact): { offsets: Int32Array; items: Int32Array; scores: Float32Array } | undefined;
}

/** Seen-item policy: `exclude` drops vehicles the customer already interacted with; `keep` ranks them like any other. */
export type SeenPolicy = 'exclude' | 'keep';

export function numberParam(params: ModelParams, name: string, fallback: number): number {
  const v = params[name];
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgument(`model parameter ${name} must be a number, got "${String(v)}"`);
  return n;
}

export function stringParam<T extends string>(params: ModelParams, name: string, allowed: readonly T[], fallback: T): T {
  const v = params[name];
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(String(v))) {
    throw new InvalidArgument(`model parameter ${name} must be one of ${allowed.join(', ')}, got "${String(v)}"`);
  }
  return String(v) as T;
}

/**
 * Scratch space for per-customer aggregation: one dense accumulator over vehicles plus the
 * list of touched indices, reset in O(touched). Not shareable between threads.
 */
export class SparseAccumulator {
  readonly values: Float64Array;
  readonly touched: Int32Array;
  private readonly mark: Uint8Array;
  size = 0;

  constructor(n: number) {
    this.values = new Float64Array(n);
    this.touched = new Int32Array(n);
    this.mark = new Uint8Array(n);
  }

  add(i: number, v: number): void {
    if (this.mark[i] === 0) {
      this.mark[i] = 1;
      this.touched[this.size++] = i;
    }
    this.values[i]! += v;
  }

  has(i: number): boolean {
    return this.mark[i] === 1;
  }

  reset(): void {
    for (let t = 0; t < this.size; t++) {
      const i = this.touched[t]!;
      this.values[i] = 0;
      this.mark[i] = 0;
    }
    this.size = 0;
  }
}

/**
 * The customer's history: decayed, event-weighted affinity per vehicle
 * (Σ EVENT_WEIGHTS[type] × value × 0.5^(age/halfLife), age relative to `data.asOfMs`) and the
 * vehicles they bought or hid.
 */
export function customerHistory(data: InteractionDataset, customer: number, halfLifeMs: number, scratch: SparseAccumulator): CustomerHistory {
  const from = data.customerStart[customer]!;
  const to = data.customerStart[customer + 1]!;
  const blocked = new Set<number>();
  scratch.reset();
  for (let e = from; e < to; e++) {
    const v = data.vehicle[e]!;
    const code = data.type[e]!;
    if (code === PURCHASE_CODE || code === HIDE_CODE) blocked.add(v);
    scratch.add(v, WEIGHT_BY_CODE[code]! * data.value[e]! * timeDecay(data.asOfMs - data.time[e]!, halfLifeMs));
  }
  const vehicles: number[] = [];
  const affinity: number[] = [];
  for (let t = 0; t < scratch.size; t++) {
    const v = scratch.touched[t]!;
    vehicles.push(v);
    affinity.push(scratch.values[v]!);
  }
  scratch.reset();
  return { vehicles, affinity, blocked };
}

/** A bounded min-heap keeping the k best (item, score) pairs. */
export class TopK {
  private readonly items: Int32Array;
  private readonly scores: Float64Array;
  size = 0;

  constructor(private readonly k: number) {
    this.items = new Int32Array(Math.max(1, k));
    this.scores = new Float64Array(Math.max(1, k));
  }

  clear(): void {
    this.size = 0;
  }

  /** Lowest score kept (−Infinity while not full). */
  floor(): number {
    return this.size < this.k ? -Infinity : this.scores[0]!;
  }

  push(item: number, score: number): void {
    if (this.k === 0) return;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (this.scores[p]! <= score) break;
        this.items[i] = this.items[p]!;
        this.scores[i] = this.scores[p]!;
        i = p;
      }
      this.items[i] = item;
      this.scores[i] = score;
      return;
    }
    if (score <= this.scores[0]!) return;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && this.scores[r]! < this.scores[l]! ? r : l;
      if (this.scores[m]! >= score) break;
      this.items[i] = this.items[m]!;
      this.scores[i] = this.scores[m]!;
      i = m;
    }
    this.items[i] = item;
    this.scores[i] = score;
  }

  /** Writes the kept pairs best first (ties by lower index) and returns how many. Empties the heap. */
  drain(outItems: Int32Array, outScores: Float32Array, offset = 0): number {
    const n = this.size;
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => this.scores[b]! - this.scores[a]! || this.items[a]! - this.items[b]!);
    for (let i = 0; i < n; i++) {
      outItems[offset + i] = this.items[order[i]!]!;
      outScores[offset + i] = this.scores[order[i]!]!;
    }
    this.size = 0;
    return n;
  }
}

/**
 * Ranks a customer's candidate scores (in `acc`) into the top k: only vehicles for sale, never
 * blocked ones, seen ones per policy; then fills up to k from `fallback` (vehicle indices, best
 * first, e.g. popularity) with scores below every model score.
 */
export function rankCandidates(
  acc: SparseAccumulator,
  history: CustomerHistory,
  data: InteractionDataset,
  options: { k: number; seen: SeenPolicy; fallback?: Int32Array; heap: TopK },
  outItems: Int32Array,
  outScores: Float32Array,
): number {
  const { k, heap } = options;
  heap.clear();
  const seen = options.seen === 'exclude' ? new Set(history.vehicles) : undefined;
  for (let t = 0; t < acc.size; t++) {
    const v = acc.touched[t]!;
    const s = acc.values[v]!;
    if (!(s > 0) || data.forSale[v] !== 1 || history.blocked.has(v) || seen?.has(v)) continue;
    heap.push(v, s);
  }
  const n = heap.drain(outItems, outScores);
  return options.fallback ? fillFromFallback(n, k, options.fallback, history, data, seen, outItems, outScores) : n;
}

/**
 * Fills a ranked list of `n` items up to `k` from `fallback` (vehicle indices, best first, e.g.
 * popularity), skipping vehicles not for sale, already listed, blocked or seen. The fill scores
 * lie below every model score and decrease along the fallback order; they stay positive while the
 * lowest model score is (the online re-ranker normalises by the list's max and clamps at 0), and
 * go below a non-positive lowest score (dense models' dot products). Returns the new length.
 */
export function fillFromFallback(
  n: number,
  k: number,
  fallback: Int32Array,
  history: CustomerHistory,
  data: InteractionDataset,
  seen: ReadonlySet<number> | undefined,
  outItems: Int32Array,
  outScores: Float32Array,
): number {
  if (n >= k) return n;
  const taken = new Set<number>();
  for (let i = 0; i < n; i++) taken.add(outItems[i]!);
  const last = n > 0 ? outScores[n - 1]! : 1;
  for (let i = 0; i < fallback.length && n < k; i++) {
    const v = fallback[i]!;
    if (data.forSale[v] !== 1 || taken.has(v) || history.blocked.has(v) || seen?.has(v)) continue;
    const step = 1 - i / (fallback.length + 1);
    outItems[n] = v;
    outScores[n] = last > 0 ? last * 0.5 * step : last - 1 - (1 - step);
    n++;
  }
  return n;
}

// --- artefact (de)serialization -------------------------------------------------------------

const ARRAY_TYPES = { Int32Array, Uint32Array, Float32Array, Float64Array, Uint8Array, Int8Array, Uint16Array, Int16Array } as const;
type ArrayTypeName = keyof typeof ARRAY_TYPES;

/** Binary form: `u32 headerLength` + JSON header + 8-byte-aligned raw arrays. */
export function serializeArtefact(a: ModelArtefact): Buffer {
  const entries = Object.entries(a.arrays);
  let offset = 0;
  const layout = entries.map(([name, arr]) => {
    const item = { name, type: arr.constructor.name as ArrayTypeName, length: arr.length, offset };
    offset += Math.ceil(arr.byteLength / 8) * 8;
    return item;
  });
  const header = Buffer.from(JSON.stringify({ model: a.model, params: a.params, asOf: a.asOf, vehicleIds: a.vehicleIds, meta: a.meta, layout }));
  const headerPadded = Math.ceil((4 + header.length) / 8) * 8;
  const out = Buffer.alloc(headerPadded + offset);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  for (const [i, [, arr]] of entries.entries()) {
    Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).copy(out, headerPadded + layout[i]!.offset);
  }
  return out;
}

export function deserializeArtefact(buf: Buffer): ModelArtefact {
  const len = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as Omit<ModelArtefact, 'arrays'> & {
    layout: { name: string; type: ArrayTypeName; length: number; offset: number }[];
  };
  const base = Math.ceil((4 + len) / 8) * 8;
  const arrays: Record<string, TypedArray> = {};
  for (const l of header.layout) {
    const Ctor = ARRAY_TYPES[l.type];
    const bytes = l.length * Ctor.BYTES_PER_ELEMENT;
    const copy = new ArrayBuffer(bytes);
    new Uint8Array(copy).set(buf.subarray(base + l.offset, base + l.offset + bytes));
    arrays[l.name] = new Ctor(copy);
  }
  return { model: header.model, params: header.params, asOf: header.asOf, vehicleIds: header.vehicleIds, meta: header.meta, arrays };
}

/** Lake key of a run's artefact: `models/<model>/<runId>/artefact.bin` (manifest beside it). */
export function artefactKey(model: string, runId: string): string {
  return `models/${model}/${runId}/artefact.bin`;
}

/** Writes the artefact and a readable `manifest.json` to `models/<model>/<runId>/`. Overwrites (idempotent). */
export async function saveArtefact(lake: Lake, runId: string, a: ModelArtefact): Promise<void> {
  await lake.putBuffer(artefactKey(a.model, runId), serializeArtefact(a));
  const manifest = { model: a.model, runId, asOf: a.asOf, params: a.params, meta: a.meta, vehicles: a.vehicleIds.length, arrays: Object.fromEntries(Object.entries(a.arrays).map(([k, v]) => [k, v.length])) };
  await lake.putBuffer(`models/${a.model}/${runId}/manifest.json`, Buffer.from(JSON.stringify(manifest, null, 2)));
}

/** The artefact of a run, or undefined when it was never written. */
export async function loadArtefact(lake: Lake, model: string, runId: string): Promise<ModelArtefact | undefined> {
  const buf = await lake.getBuffer(artefactKey(model, runId));
  return buf ? deserializeArtefact(buf) : undefined;
}

/**
 * Re-indexes a dataset's vehicles to an artefact's order (artefact vehicles first, then the
 * dataset's others), so a stored artefact scores a freshly read dataset. No-op when equal.
 */
export function alignDataset(data: InteractionDataset, vehicleIds: string[]): InteractionDataset {
  if (vehicleIds.length === data.vehicleIds.length && vehicleIds.every((v, i) => data.vehicleIds[i] === v)) return data;
  const ids = vehicleIds.slice();
  const index = new Map(ids.map((v, i) => [v, i]));
  for (const v of data.vehicleIds) if (!index.has(v)) index.set(v, ids.push(v) - 1);
  const map = Int32Array.from(data.vehicleIds, (v) => index.get(v)!);
  const vehicle = data.vehicle.map((v) => map[v]!);
  const vehicles: InteractionDataset['vehicles'] = new Array(ids.length).fill(undefined);
  const forSale = new Uint8Array(ids.length);
  data.vehicleIds.forEach((_, old) => {
    vehicles[map[old]!] = data.vehicles[old];
    forSale[map[old]!] = data.forSale[old]!;
  });
  return { ...data, vehicleIds: ids, vehicles, forSale, vehicle };
}
