import { Worker } from 'node:worker_threads';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { Unavailable } from '../../shared/errors/app-error.js';
import { writeEventsParquet } from '../../shared/lake/parquet-codec.js';
import type { Logger } from '../../shared/telemetry/logger.js';

/** Writes event Parquet files, off the event loop when a worker thread is available. */
export interface ParquetEncoder {
  /** Writes `events` to `file` (overwrites). */
  encode(file: string, events: ShowroomEvent[]): Promise<void>;
  readonly inWorker: boolean;
  close(): Promise<void>;
}

/** Encodes on the calling thread. */
export function inlineEncoder(): ParquetEncoder {
  return { inWorker: false, encode: (file, events) => writeEventsParquet(file, events), close: async () => undefined };
}

/**
 * Encodes in one worker thread (Parquet encoding is CPU-bound: the event loop stays free to read
 * and decode the next batch, and to serve HTTP in the demo). Falls back to encoding inline if the
 * worker cannot start or dies.
 */
export function workerEncoder(logger: Logger): ParquetEncoder {
  const ts = import.meta.url.endsWith('.ts');
  let worker: Worker | undefined;
  let failed = false;
  let nextId = 0;
  const pending = new Map<number, { file: string; events: ShowroomEvent[]; resolve(): void; reject(err: Error): void }>();
  const fallback = inlineEncoder();
  try {
    const entry = new URL(`./parquet-encode-worker${ts ? '.ts' : '.js'}`, import.meta.url);
    worker = ts
      ? // Under tsx (tests, `node --import tsx`): register tsx in the worker, then load the entry.
        new Worker(
          `(async () => { const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(entry.href)}); })()`,
          { eval: true },
        )
      : new Worker(entry);
    worker.unref();
    worker.on('message', (msg: { id: number; error?: string }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Unavailable(`Parquet encoding failed: ${msg.error}`));
      else p.resolve();
    });
    const die = (err: Error) => {
      if (failed) return;
      failed = true;
      logger.warn({ err: err.message }, 'Parquet worker thread failed; encoding on the main thread');
      for (const p of pending.values()) fallback.encode(p.file, p.events).then(p.resolve, p.reject);
      pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exited with ${code}`)));
  } catch (err) {
    failed = true;
    logger.warn({ err: (err as Error).message }, 'cannot start a Parquet worker thread; encoding on the main thread');
  }
  return {
    get inWorker() {
      return !failed;
    },
    encode(file, events) {
      if (failed || !worker) return fallback.encode(file, events);
      const id = ++nextId;
      const w = worker;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { file, events, resolve, reject });
        w.postMessage({ id, file, events });
      });
    },
    async close() {
      failed = true;
      await worker?.terminate();
    },
  };
}
