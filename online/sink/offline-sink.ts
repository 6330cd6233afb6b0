import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { errorMessage } from '../../shared/errors/app-error.js';
import type { EventLog, LogBatch, Subscription, UndecodableRecord } from '../../shared/event-log/event-log.js';
import type { Lake } from '../../shared/lake/lake.js';
import { deadletterKey, eventFileKey, partitionOfMillis } from '../../shared/lake/lake-paths.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { inlineEncoder, workerEncoder } from './parquet-encoder.js';
import { getOrCreate } from '../../shared/telemetry/metrics.js';
import { sleep } from '../../shared/time/sleep.js';

/** Consumer group of the offline sink. */
export const SINK_GROUP = 'offline-sink';

export interface OfflineSinkOptions {
  eventLog: EventLog;
  lake: Lake;
  logger: Logger;
  /** Metrics are registered here (`showroom_sink_*`). */
  registry?: Registry;
  /** Rows buffered per hour partition before a file is written. */
  maxRows: number;
  /** Longest an event waits in a buffer before its partition is written, ms. */
  maxAgeMs: number;
  /** Unique name of this writer in file names (default `<host>-<pid>-<start time base36>`). */
  writerId?: string;
  /**
   * Consumer name in the group (default: the writer id). A stable name (pod name) lets a
   * restarted sink re-read its own unacknowledged batches at once instead of waiting for the
   * log to reclaim them from a dead consumer.
   */
  consumer?: string;
  /** Folder for Parquet files before upload (default: a new folder under the OS temp dir). */
  tmpDir?: string;
  /** Most events per delivered batch asked of the log (default `min(maxRows, 20000)`). */
  batchSize?: number;
  /**
   * With an event log that delivers while earlier batches are still held: write everything
   * held once no new batch has arrived for this long, ms (default `min(1000, maxAgeMs)`).
   */
  idleFlushMs?: number;
  /**
   * With such a log: this long after the last delivery, ask the log for the group's lag, and
   * write everything held at once if the log holds nothing else for the group (every entry
   * not yet checkpointed is held by this sink: a backlog is drained), ms (default
   * `min(100, idleFlushMs)`; `idleFlushMs` itself when that is given). Any other sink
   * instance holding entries of the group keeps this from firing; `idleFlushMs` still does.
   */
  drainedFlushMs?: number;
  /**
   * Until the log has shown that it delivers a batch to a subscription while that
   * subscription's previous batch is held (both current adapters wait for each handler before
   * reading on), a batch is written this long after it arrived, ms (default 0: at once). Files
   * are then one delivered batch (split at `maxRows`) each.
   */
  serialIdleMs?: number;
  /**
   * Subscriptions (consumers of the group) this sink runs (default 2): while one batch is being
   * encoded, the next is read and decoded.
   */
  subscriptions?: number;
  /** Encode Parquet in a worker thread (default true). */
  encodeInWorker?: boolean;
  /** Event files written at once (default 2). */
  flushConcurrency?: number;
}

export interface OfflineSinkStats {
  writerId: string;
  eventsIn: number;
  eventsOut: number;
  files: number;
  bytes: number;
  deadLetters: number;
  buffered: number;
  /** Delivered batches not yet checkpointed. */
  heldBatches: number;
  flushFailures: number;
  /** ISO time of the last checkpoint (a batch handler resolved), if any. */
  lastCheckpointAt?: string;
}

export interface OfflineSink {
  readonly writerId: string;
  /** Stops consuming, writes every buffered event, checkpoints, and releases the subscription. */
  close(): Promise<void>;
  stats(): OfflineSinkStats;
}

/** A delivered batch waiting for the files that contain its events. */
interface HeldBatch {
  logPartition: string;
  /** Hour buffers still holding some of its events. */
  pending: number;
  /** The subscription that delivered it. */
  sub: { held: number };
  durable: boolean;
  failed: boolean;
  /** Log entries it checkpoints: events and undecodable messages. */
  entries: number;
  resolve(): void;
  reject(err: Error): void;
}

interface HourBuffer {
  date: string;
  hour: number;
  events: ShowroomEvent[];
  holders: Set<HeldBatch>;
  /** Monotonic ms when the first event entered. */
  since: number;
}

/** `<host>-<pid>-<start ms base36>`, restricted to the characters lake file names allow. */
export function defaultWriterId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_]/g, '_').slice(0, 32) || 'host';
  return `${host}-${process.pid}-${Date.now().toString(36)}`;
}

interface SinkMetrics {
  eventsIn: Counter;
  eventsOut: Counter;
  deadLetters: Counter;
  flushRows: Histogram;
  flushBytes: Histogram;
  flushSeconds: Histogram;
  flushFailures: Counter;
}

const liveSinks = new WeakMap<Registry, Set<SinkState>>();

interface SinkState {
  eventLog: EventLog;
  buffered(): number;
  lastCheckpointAt(): number | undefined;
  startedAt: number;
}

function sinkMetrics(registry: Registry, state: SinkState): SinkMetrics {
  let set = liveSinks.get(registry);
  if (!set) {
    set = new Set();
    liveSinks.set(registry, set);
  }
  set.add(state);
  const sinks = set;
  const counter = (name: string, help: string) => getOrCreate(registry, name, () => new Counter({ name, help, registers: [registry] }));
  const histogram = (name: string, help: string, buckets: number[]) =>
    getOrCreate(registry, name, () => new Histogram({ name, help, buckets, registers: [registry] }));
  getOrCreate(registry, 'showroom_sink_consumer_lag', () =>
    new Gauge({
      name: 'showroom_sink_consumer_lag',
      help: 'Events in the event log not yet checkpointed by the offline-sink group, per log partition',
      labelNames: ['partition'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        const first = sinks.values().next().value;
        if (!first) return;
        try {
          for (const p of await first.eventLog.lag(SINK_GROUP)) this.set({ partition: p.partition }, p.lag);
        } catch {
          // log unreachable: report nothing rather than fail the scrape
        }
      },
    }),
  );
  getOrCreate(registry, 'showroom_sink_last_checkpoint_age_seconds', () =>
    new Gauge({
      name: 'showroom_sink_last_checkpoint_age_seconds',
      help: 'Seconds since the offline sink last checkpointed a batch (since start if none yet)',
      registers: [registry],
      collect() {
        let newest: number | undefined;
        for (const s of sinks) newest = Math.max(newest ?? 0, s.lastCheckpointAt() ?? s.startedAt);
        if (newest !== undefined) this.set((Date.now() - newest) / 1000);
      },
    }),
  );
  getOrCreate(registry, 'showroom_sink_buffered_events', () =>
    new Gauge({
      name: 'showroom_sink_buffered_events',
      help: 'Events held in the offline sink buffers, not yet in the lake',
      registers: [registry],
      collect() {
        let n = 0;
        for (const s of sinks) n += s.buffered();
        this.set(n);
      },
    }),
  );
  return {
    eventsIn: counter('showroom_sink_events_in_total', 'Events the offline sink received from the event log'),
    eventsOut: counter('showroom_sink_events_out_total', 'Events the offline sink wrote to the lake'),
    deadLetters: counter('showroom_sink_dead_letters_total', 'Undecodable or invalid messages set aside in lake/deadletter/'),
    flushFailures: counter('showroom_sink_flush_failures_total', 'Lake writes that failed (their batches are redelivered)'),
    flushRows: histogram('showroom_sink_flush_rows', 'Events per lake file written by the offline sink', [100, 1000, 10_000, 50_000, 100_000, 200_000, 500_000]),
    flushBytes: histogram('showroom_sink_flush_bytes', 'Bytes per lake file written by the offline sink', [1e4, 1e5, 1e6, 4e6, 1e7, 3e7, 1e8]),
    flushSeconds: histogram('showroom_sink_flush_duration_seconds', 'Time to encode and store one lake file', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
  };
}

/**
 * Starts the offline sink: consumes the event log as group `offline-sink` and writes the events
 * to the lake as Parquet, `events/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet`, partitioned
 * by the UTC hour of `occurredAt` (a late event lands in its own, older partition).
 *
 * Delivery is at least once: a delivered batch is checkpointed (its handler resolves) only once
 * every file holding its events is durable in the lake, and batches of one log partition are
 * checkpointed in log order. A crash therefore loses nothing; it can duplicate events (the batch
 * reader de-duplicates by `eventId`). A partition buffer is written when it reaches `maxRows`,
 * when its oldest event has waited `maxAgeMs`, or when the log has gone quiet while batches are
 * held (`idleFlushMs`; sooner, `drainedFlushMs`, once the log's lag shows it holds nothing else
 * for the group). Messages the log could not decode go to `deadletter/offline-sink/date=.../<writer>-<seq>.jsonl`
 * with their reason. Writer id + monotonic seq make file names unique across sink instances.
 */
export async function startOfflineSink(options: OfflineSinkOptions): Promise<OfflineSink> {
  const { eventLog, lake, logger, maxRows, maxAgeMs } = options;
  const writerId = options.writerId ?? defaultWriterId();
  const idleFlushMs = options.idleFlushMs ?? Math.min(1000, maxAgeMs);
  const drainedFlushMs = options.drainedFlushMs ?? (options.idleFlushMs === undefined ? Math.min(100, idleFlushMs) : idleFlushMs);
  const serialIdleMs = options.serialIdleMs ?? 0;
  const encoder = options.encodeInWorker === false ? inlineEncoder() : workerEncoder(logger);
  const flushConcurrency = Math.max(1, options.flushConcurrency ?? 2);
  const batchSize = options.batchSize ?? Math.min(maxRows, 20_000);
  const subscriptionCount = Math.max(1, options.subscriptions ?? 2);
  // Hold enough delivered batches to fill a file of maxRows: buffers span batches, and each
  // batch is acknowledged once the files holding its events are durable.
  const maxInFlightBatches = Math.max(2, Math.ceil(maxRows / batchSize) + 1);
  const startedAt = Date.now();
  const tmpRoot = options.tmpDir ? path.resolve(options.tmpDir) : await mkdtemp(path.join(tmpdir(), 'showroom-sink-'));
  await mkdir(tmpRoot, { recursive: true });

  let seq = 0;
  let eventsIn = 0;
  let eventsOut = 0;
  let files = 0;
  let bytes = 0;
  let deadLetters = 0;
  let flushFailures = 0;
  let bufferedCount = 0;
  let lastCheckpointAt: number | undefined;
  let lastDeliveryAt = performance.now();
  /** Set once a subscription got a batch while its previous one was held: the log reads ahead. */
  let pipelined = false;
  let closing = false;
  const buffers = new Map<string, HourBuffer>();
  /** Held batches per log partition, in delivery (= log) order. */
  const queues = new Map<string, HeldBatch[]>();
  let heldBatches = 0;
  /** Log entries of the held batches. */
  let heldEntries = 0;

  const state: SinkState = { eventLog, startedAt, buffered: () => bufferedCount, lastCheckpointAt: () => lastCheckpointAt };
  const metrics = options.registry ? sinkMetrics(options.registry, state) : undefined;

  // Files are encoded and stored by at most `flushConcurrency` writers at once.
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (running < flushConcurrency) {
      running += 1;
      return;
    }
    await new Promise<void>((r) => waiting.push(r));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
  const inflight = new Set<Promise<void>>();

  /** Resolves, in log order, every batch of `logPartition` whose events are all durable. */
  const checkpointReady = (logPartition: string) => {
    const q = queues.get(logPartition);
    if (!q) return;
    while (q.length > 0 && (q[0]!.durable || q[0]!.failed)) {
      const b = q.shift()!;
      heldBatches -= 1;
      heldEntries -= b.entries;
      b.sub.held -= 1;
      if (b.durable && !b.failed) {
        lastCheckpointAt = Date.now();
        b.resolve();
      }
    }
    if (q.length === 0) queues.delete(logPartition);
  };

  const failBatch = (b: HeldBatch, err: Error) => {
    if (b.failed) return;
    b.failed = true;
    b.reject(err);
    // Later batches of its partition must not be checkpointed past it: fail them too (redelivered).
    const q = queues.get(b.logPartition) ?? [];
    for (const other of q) {
      if (!other.failed && other !== b) {
        other.failed = true;
        other.reject(new Error(`an earlier batch of partition ${b.logPartition} failed`));
      }
    }
    checkpointReady(b.logPartition);
  };

  const writeFile = async (buf: HourBuffer): Promise<void> => {
    await acquire();
    const t0 = performance.now();
    const mySeq = ++seq;
    const key = eventFileKey(buf.date, buf.hour, writerId, mySeq);
    const local = path.join(tmpRoot, `${writerId}-${mySeq}.parquet`);
    try {
      let lastErr: unknown;
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await encoder.encode(local, buf.events);
          const size = (await stat(local)).size;
          await lake.put(key, local);
          files += 1;
          bytes += size;
          eventsOut += buf.events.length;
          metrics?.eventsOut.inc(buf.events.length);
          metrics?.flushRows.observe(buf.events.length);
          metrics?.flushBytes.observe(size);
          metrics?.flushSeconds.observe((performance.now() - t0) / 1000);
          logger.debug({ key, rows: buf.events.length, bytes: size, ms: Math.round(performance.now() - t0) }, 'sink wrote file');
          lastErr = undefined;
          break;
        } catch (err) {
          lastErr = err;
          logger.warn({ key, attempt, err: errorMessage(err) }, 'sink file write failed');
          if (attempt < 2) await sleep(200 * 4 ** attempt);
        }
      }
      bufferedCount -= buf.events.length;
      if (lastErr !== undefined) {
        flushFailures += 1;
        metrics?.flushFailures.inc();
        const err = new Error(`could not write ${key}: ${errorMessage(lastErr)}`, { cause: lastErr });
        for (const b of buf.holders) failBatch(b, err);
        return;
      }
      const touched = new Set<string>();
      for (const b of buf.holders) {
        b.pending -= 1;
        if (b.pending === 0) {
          b.durable = true;
          touched.add(b.logPartition);
        }
      }
      for (const p of touched) checkpointReady(p);
    } finally {
      await rm(local, { force: true }).catch(() => undefined);
      release();
    }
  };

  const flush = (key: string) => {
    const buf = buffers.get(key);
    if (!buf || buf.events.length === 0) return;
    buffers.delete(key);
    const p = writeFile(buf).catch((err: unknown) => {
      logger.error({ err: errorMessage(err) }, 'sink flush crashed');
    });
    inflight.add(p);
    void p.finally(() => {
      inflight.delete(p);
      flushIfStuck();
    });
  };
  const flushAll = () => {
    for (const key of [...buffers.keys()]) flush(key);
  };
  /** The subscriptions (each `held` counts its batches not yet checkpointed). */
  const subs: { held: number }[] = [];
  /**
   * Every subscription holds as many batches as the log hands out before one resolves, and no
   * file is being written: nothing can change until the buffers are written, so write them now
   * rather than after idleFlushMs (buffers of several hours, none at maxRows, can do this).
   */
  const flushIfStuck = () => {
    if (!pipelined || closing || inflight.size > 0 || buffers.size === 0) return;
    if (subs.length > 0 && subs.every((sub) => sub.held >= maxInFlightBatches)) flushAll();
  };

  const writeDeadLetters = async (records: UndecodableRecord[]): Promise<void> => {
    const now = new Date().toISOString();
    const body = records.map((r) => JSON.stringify({ ...r, sink: writerId, at: now })).join('\n') + '\n';
    const key = deadletterKey('offline-sink', now.slice(0, 10), `${writerId}-${String(++seq).padStart(8, '0')}.jsonl`);
    await lake.putBuffer(key, Buffer.from(body));
    deadLetters += records.length;
    metrics?.deadLetters.inc(records.length);
    logger.warn({ key, count: records.length, reason: records[0]?.reason }, 'sink set messages aside as dead letters');
  };

  const handle = async (sub: { held: number }, batch: LogBatch): Promise<void> => {
    lastDeliveryAt = performance.now();
    if (sub.held > 0 && !pipelined) {
      pipelined = true;
      logger.info('event log delivers while batches are held: buffering across batches');
    }
    const undecodable = [...batch.undecodable];
    const byHour = new Map<string, ShowroomEvent[]>();
    for (let i = 0; i < batch.events.length; i++) {
      const e = batch.events[i]!;
      const ms = Date.parse(e.occurredAt);
      if (Number.isNaN(ms) || Number.isNaN(Date.parse(e.receivedAt))) {
        undecodable.push({ partition: batch.partition, position: batch.positions[i] ?? '', raw: JSON.stringify(e), reason: 'occurredAt or receivedAt is not a timestamp' });
        continue;
      }
      const { date, hour } = partitionOfMillis(ms);
      const k = `${date}/${hour}`;
      let list = byHour.get(k);
      if (!list) byHour.set(k, (list = []));
      list.push(e);
    }
    eventsIn += batch.events.length + batch.undecodable.length;
    metrics?.eventsIn.inc(batch.events.length + batch.undecodable.length);
    // Dead letters are stored before anything of the batch is checkpointed.
    if (undecodable.length > 0) await writeDeadLetters(undecodable);

    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entries = batch.events.length + batch.undecodable.length;
    const held: HeldBatch = { logPartition: batch.partition, pending: 0, sub, durable: false, failed: false, entries, resolve, reject };
    let q = queues.get(batch.partition);
    if (!q) queues.set(batch.partition, (q = []));
    q.push(held);
    heldBatches += 1;
    heldEntries += entries;
    sub.held += 1;
    if (byHour.size === 0) {
      // Nothing to write, but still checkpointed in log order (after earlier held batches).
      held.durable = true;
      checkpointReady(batch.partition);
      return done;
    }
    const now = performance.now();
    const touched: string[] = [];
    for (const [k, events] of byHour) {
      for (let i = 0; i < events.length; ) {
        let buf = buffers.get(k);
        if (!buf) {
          const [date, hour] = k.split('/');
          buf = { date: date!, hour: Number(hour), events: [], holders: new Set(), since: now };
          buffers.set(k, buf);
        }
        const take = Math.min(events.length - i, maxRows - buf.events.length);
        for (let j = 0; j < take; j++) buf.events.push(events[i + j]!);
        i += take;
        bufferedCount += take;
        if (!buf.holders.has(held)) {
          buf.holders.add(held);
          held.pending += 1;
        }
        if (buf.events.length >= maxRows) flush(k);
      }
      touched.push(k);
    }
    if (closing) flushAll();
    else if (!pipelined) {
      // The log waits for this handler before it reads on: holding the batch gains nothing.
      if (serialIdleMs <= 0) for (const k of touched) flush(k);
      else setTimeout(() => touched.forEach(flush), serialIdleMs);
    } else {
      flushIfStuck();
      armDrainedCheck();
    }
    return done;
  };

  // A drained backlog leaves a last partial file: write it as soon as the log has nothing else
  // for the group, rather than after idleFlushMs of quiet. Checked drainedFlushMs after the last
  // delivery, and again every drainedFlushMs of quiet until idleFlushMs.
  let drainedTimer: NodeJS.Timeout | undefined;
  const armDrainedCheck = () => {
    clearTimeout(drainedTimer);
    drainedTimer = undefined;
    if (closing || drainedFlushMs >= idleFlushMs || performance.now() - lastDeliveryAt + drainedFlushMs >= idleFlushMs) return;
    drainedTimer = setTimeout(() => void flushIfDrained(), drainedFlushMs);
    drainedTimer.unref();
  };
  const flushIfDrained = async (): Promise<void> => {
    if (closing || heldBatches === 0 || buffers.size === 0) return;
    const asked = lastDeliveryAt;
    let drained = false;
    try {
      const lag = await eventLog.lag(SINK_GROUP);
      drained = lag.reduce((n, p) => n + p.lag, 0) <= heldEntries;
    } catch (err) {
      logger.debug({ err: errorMessage(err) }, 'sink could not read the event log lag; waiting for the idle flush');
    }
    if (lastDeliveryAt !== asked) return; // a delivery re-armed the check
    if (drained) flushAll();
    else armDrainedCheck();
  };

  const timer = setInterval(
    () => {
      const now = performance.now();
      if (heldBatches > 0 && pipelined && now - lastDeliveryAt >= idleFlushMs) {
        flushAll();
        return;
      }
      for (const [k, buf] of buffers) if (now - buf.since >= maxAgeMs) flush(k);
    },
    Math.max(5, Math.min(250, Math.floor(Math.min(maxAgeMs, idleFlushMs) / 4))),
  );
  timer.unref();

  const consumer = options.consumer ?? writerId;
  const subscriptions: Subscription[] = [];
  try {
    for (let i = 0; i < subscriptionCount; i++) {
      const sub = { held: 0 };
      subs.push(sub);
      subscriptions.push(
        await eventLog.subscribe(
          {
            group: SINK_GROUP,
            consumer: subscriptionCount === 1 ? consumer : `${consumer}-${i}`,
            maxBatchSize: batchSize,
            maxWaitMs: Math.min(250, maxAgeMs),
            maxInFlightBatches,
          },
          (batch) => handle(sub, batch),
        ),
      );
    }
  } catch (err) {
    clearInterval(timer);
    clearTimeout(drainedTimer);
    if (options.registry) liveSinks.get(options.registry)?.delete(state);
    await Promise.all(subscriptions.map((s) => s.close().catch(() => undefined)));
    await encoder.close();
    throw err;
  }
  logger.info({ writerId, maxRows, maxAgeMs, subscriptions: subscriptionCount, encodeInWorker: encoder.inWorker, lake: lake.description }, 'offline sink started');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      // The subscription waits for the batches in hand, which wait for their files: flush
      // until it has returned.
      let subscriptionClosed = false;
      const subClose = Promise.all(subscriptions.map((s) => s.close())).finally(() => {
        subscriptionClosed = true;
      });
      while (!subscriptionClosed) {
        flushAll();
        await Promise.race([subClose.catch(() => undefined), sleep(20)]);
      }
      await subClose;
      flushAll();
      while (inflight.size > 0) await Promise.all([...inflight]);
      clearInterval(timer);
      clearTimeout(drainedTimer);
      await encoder.close();
      if (options.registry) liveSinks.get(options.registry)?.delete(state);
      if (!options.tmpDir) await rm(tmpRoot, { recursive: true, force: true }).catch(() => undefined);
      logger.info({ writerId, eventsIn, eventsOut, files, deadLetters }, 'offline sink stopped');
    })();
    return closed;
  };

  return {
    writerId,
    close,
    stats: () => ({
      writerId,
      eventsIn,
      eventsOut,
      files,
      bytes,
      deadLetters,
      buffered: bufferedCount,
      heldBatches,
      flushFailures,
      ...(lastCheckpointAt === undefined ? {} : { lastCheckpointAt: new Date(lastCheckpointAt).toISOString() }),
    }),
  };
}

