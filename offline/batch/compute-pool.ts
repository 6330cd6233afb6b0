import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError } from '../../shared/errors/app-error.js';
import type { InteractionDataset } from '../lake-reader/interaction-dataset.js';
import type { TypedArray } from '../models/model.js';
import { runCompute, type ComputeRequest, type ComputeResult, type ComputeState } from './compute-tasks.js';

/** A failure inside a compute thread (training, scoring). */
export class ComputeFailed extends AppError {
  constructor(message: string) {
    super('compute-failed', 500, message);
  }
}

function createWorker(): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    // Running from source (tsx): register tsx's loader inside the worker before importing it.
    const api = pathToFileURL(join(dirname(createRequire(self).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
    const entry = new URL('./compute-worker.ts', self).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./compute-worker.js', self));
}

interface Slot {
  worker?: Worker;
  state: ComputeState;
  busy: Promise<unknown>;
}

/**
 * Worker threads for training and scoring, so the caller's event loop (the demo's API) stays
 * free. `threads: 0` runs everything inline (same code). Requests to one slot run in order.
 */
export class ComputePool {
  private readonly slots: Slot[];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ComputeResult) => void; reject: (e: Error) => void }>();

  constructor(readonly threads: number) {
    const n = Math.max(1, threads);
    this.slots = Array.from({ length: n }, () => ({ state: {}, busy: Promise.resolve() }));
    if (threads > 0) {
      for (const slot of this.slots) {
        const w = createWorker();
        w.on('message', (m: { id: number; ok: boolean; result?: ComputeResult; error?: string }) => {
          const p = this.pending.get(m.id);
          if (!p) return;
          this.pending.delete(m.id);
          if (m.ok) p.resolve(m.result ?? null);
          else p.reject(new ComputeFailed(m.error ?? 'compute failed'));
        });
        w.on('error', (err) => {
          for (const [id, p] of this.pending) {
            p.reject(new ComputeFailed(`compute thread crashed: ${err.message}`));
            this.pending.delete(id);
          }
        });
        slot.worker = w;
      }
    }
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs `req` on slot `index` (after that slot's earlier requests). */
  run<R extends ComputeResult>(index: number, req: ComputeRequest): Promise<R> {
    const slot = this.slots[index % this.slots.length]!;
    const next = slot.busy.then(() => this.exec(slot, req)) as Promise<R>;
    slot.busy = next.catch(() => undefined);
    return next;
  }

  private exec(slot: Slot, req: ComputeRequest): Promise<ComputeResult> {
    if (!slot.worker) return runCompute(req, slot.state);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.worker!.postMessage({ id, req });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}

function share<T extends TypedArray>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  (out as unknown as { set(x: ArrayLike<number>): void }).set(a);
  return out;
}

/** The dataset with its typed arrays in shared memory: posting it to workers copies no event. */
export function shareDataset(data: InteractionDataset): InteractionDataset {
  return {
    ...data,
    customer: share(data.customer),
    vehicle: share(data.vehicle),
    type: share(data.type),
    time: share(data.time),
    value: share(data.value),
    customerStart: share(data.customerStart),
    forSale: share(data.forSale),
  };
}
