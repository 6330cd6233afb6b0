/**
 * The replay engine behind `showroom replay`: load a source (lake or file), pace it (rate, speed
 * or flat out), hand batches to a target (log or API) with a few in flight, and persist the last
 * confirmed position atomically after every batch so `resume` continues after a crash or Ctrl-C.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { EventType } from '../../shared/domain/event.js';
import { InvalidArgument, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import type { Lake } from '../../shared/lake/lake.js';
import type { ColumnMapping, ImportFormat } from '../../offline/import/event-import.js';
import { loadReplaySource, rejectReasons, writeRejects, type RejectedRow } from './replay-source.js';
import type { ReplayTarget } from './replay-targets.js';
import { sleep } from '../../shared/time/sleep.js';

export interface ReplayOptions {
  /** `lake` or a .parquet / .jsonl / .csv file. */
  source: string;
  lake?: Lake;
  format?: ImportFormat;
  mapping?: ColumnMapping;
  type?: EventType;
  /** ISO-8601 UTC, inclusive. */
  from?: string;
  /** ISO-8601 UTC, exclusive. */
  to?: string;
  /** Not needed with `dryRun`. */
  target?: ReplayTarget;
  /** Events per second (exclusive with `speed`). */
  rate?: number;
  /** Multiple of the original timing (2 = twice as fast); exclusive with `rate`. */
  speed?: number;
  /** Events per batch (default and cap: the target's maxBatch). */
  batchSize?: number;
  /** Batches in flight (default 4; 1 keeps strict order across batches). */
  concurrency?: number;
  /** Validate and count only. */
  dryRun?: boolean;
  /** Continue from the position file of the same source/range/target. */
  resume?: boolean;
  /** Folder of position and rejects files (e.g. `<dataDir>/replay`). */
  stateDir: string;
  /** Rejected rows go here (default `<stateDir>/<key>.rejects.jsonl` when there are any). */
  rejectsFile?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface ReplaySummary {
  ok: boolean;
  source: string;
  target: string;
  dryRun: boolean;
  resumed: boolean;
  from?: string;
  to?: string;
  /** Rows read from the source. */
  rows: number;
  /** Valid events inside [from, to): what a full replay sends. */
  events: number;
  outOfRange: number;
  /** Position this invocation started at (0 unless resumed). */
  startPosition: number;
  /** Last confirmed position (events of the source sent and confirmed, in order). */
  position: number;
  /** Events confirmed by the target in this invocation. */
  sent: number;
  /** Of `sent`: accepted as new by the target (the log target counts every event). */
  accepted: number;
  /** Of `sent`: already known to the target (API de-duplication by eventId). */
  duplicates: number;
  /** Rows failing the schema plus events the target refused. */
  rejected: number;
  rejectReasons: { reason: string; count: number }[];
  rejectsFile?: string;
  positionFile?: string;
  complete: boolean;
  interrupted: boolean;
  seconds: number;
  /** Events per second achieved while sending. */
  rate: number;
}

interface PositionFile {
  key: string;
  source: string;
  target: string;
  from?: string;
  to?: string;
  events: number;
  position: number;
  complete: boolean;
  updatedAt: string;
}

/** Identity of a replay (source, range, mapping, target): its position file name. */
export function replayKey(o: Pick<ReplayOptions, 'source' | 'from' | 'to' | 'mapping' | 'type' | 'format'>, target: string, lakeDescription = ''): string {
  const src = o.source === 'lake' ? `lake:${lakeDescription}` : resolve(o.source);
  return createHash('sha1').update(JSON.stringify([src, o.from ?? null, o.to ?? null, o.mapping ?? {}, o.type ?? null, o.format ?? null, target])).digest('hex').slice(0, 16);
}

/** Writes JSON to `file` atomically (temp name + rename). */
async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 1));
  await rename(tmp, file);
}

async function readPosition(file: string): Promise<PositionFile | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as PositionFile;
  } catch {
    return undefined;
  }
}


/**
 * Replays a source into a target. Events keep their eventId, so replaying twice adds nothing
 * the consumers keep (the API answers duplicates; the sink and batch de-duplicate by eventId).
 * Returns a summary; on Ctrl-C (`signal`) it stops after the batches in flight, saves the
 * position and returns `interrupted: true`. Throws InvalidArgument for a bad source (after
 * writing the rejects file) and Unavailable when the target keeps failing (position saved).
 */
export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  if (o.rate !== undefined && o.speed !== undefined) throw new InvalidArgument('pass --rate or --speed, not both');
  if (o.rate !== undefined && !(o.rate > 0)) throw new InvalidArgument('--rate must be positive');
  if (o.speed !== undefined && !(o.speed > 0)) throw new InvalidArgument('--speed must be positive');
  if (!o.dryRun && !o.target) throw new InvalidArgument('a replay needs a target (or dryRun)');
  const started = Date.now();
  const targetName = o.dryRun ? 'dry-run' : o.target!.description;
  await mkdir(o.stateDir, { recursive: true });
  const key = replayKey(o, o.dryRun ? 'dry-run' : `${o.target!.kind}:${targetName}`, o.lake?.description);
  const positionFile = join(o.stateDir, `${key}.position.json`);
  const defaultRejects = join(o.stateDir, `${key}.rejects.jsonl`);

  let loaded;
  try {
    loaded = await loadReplaySource({ source: o.source, lake: o.lake, format: o.format, mapping: o.mapping, type: o.type, from: o.from, to: o.to, signal: o.signal });
  } catch (err) {
    const rejects = (err as { rejects?: RejectedRow[] }).rejects;
    if (rejects && rejects.length > 0) {
      const file = o.rejectsFile ?? defaultRejects;
      await writeRejects(file, rejects);
      throw new InvalidArgument(`${errorMessage(err)} (${rejects.length} rows rejected, written to ${file})`, [], err);
    }
    throw err;
  }
  const events = loaded.events;
  const rejects: RejectedRow[] = [...loaded.rejects];
  const summary: ReplaySummary = {
    ok: true,
    source: loaded.description,
    target: targetName,
    dryRun: Boolean(o.dryRun),
    resumed: false,
    ...(o.from ? { from: o.from } : {}),
    ...(o.to ? { to: o.to } : {}),
    rows: loaded.rows,
    events: events.length,
    outOfRange: loaded.outOfRange,
    startPosition: 0,
    position: 0,
    sent: 0,
    accepted: 0,
    duplicates: 0,
    rejected: rejects.length,
    rejectReasons: [],
    complete: false,
    interrupted: false,
    seconds: 0,
    rate: 0,
  };
  const finish = async (): Promise<ReplaySummary> => {
    summary.rejected = rejects.length;
    summary.rejectReasons = rejectReasons(rejects);
    if (rejects.length > 0) {
      summary.rejectsFile = o.rejectsFile ?? defaultRejects;
      await writeRejects(summary.rejectsFile, rejects);
    }
    summary.seconds = Math.round((Date.now() - started) / 100) / 10;
    return summary;
  };

  if (o.dryRun) {
    summary.complete = true;
    summary.position = events.length;
    return finish();
  }
  const target = o.target!;

  let start = 0;
  if (o.resume) {
    const saved = await readPosition(positionFile);
    if (saved) {
      if (saved.events !== events.length) {
        throw new InvalidArgument(`cannot resume: the source now has ${events.length} events in range, the saved position was for ${saved.events}; run without --resume to start over`);
      }
      start = saved.position;
      summary.resumed = true;
    }
  }
  summary.startPosition = start;
  summary.position = start;
  summary.positionFile = positionFile;
  const total = events.length;
  const batchMax = Math.max(1, Math.min(target.maxBatch, o.batchSize ?? target.maxBatch, o.rate ? Math.max(1, Math.ceil(o.rate / 20)) : Infinity));
  const concurrency = Math.max(1, o.concurrency ?? 4);
  const t0 = events[start] ? Date.parse(events[start]!.occurredAt) : 0;
  let wallStart = Date.now();
  const dueAt = (j: number): number => {
    if (o.rate) return wallStart + ((j - start) * 1000) / o.rate;
    if (o.speed) return wallStart + (Date.parse(events[j]!.occurredAt) - t0) / o.speed;
    return 0;
  };
  const windowMs = o.rate || o.speed ? 50 : 0;

  let savedChain: Promise<void> = Promise.resolve();
  const save = (complete: boolean) => {
    const record: PositionFile = { key, source: loaded.description, target: targetName, ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}), events: total, position: summary.position, complete, updatedAt: new Date().toISOString() };
    savedChain = savedChain.then(() => writeJsonAtomic(positionFile, record));
    return savedChain;
  };
  await save(start >= total);

  const finishedBatches = new Map<number, number>();
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let cursor = start;
  let sendStarted = 0;
  o.onProgress?.(start, total);
  wallStart = Date.now();
  while (cursor < total && !failure && !o.signal?.aborted) {
    while (inflight.size >= concurrency && !failure) await Promise.race(inflight);
    if (failure || o.signal?.aborted) break;
    const due = dueAt(cursor);
    if (due > Date.now()) await sleep(due - Date.now(), o.signal);
    if (o.signal?.aborted) break;
    const horizon = Date.now() + windowMs;
    let end = cursor + 1;
    while (end < total && end - cursor < batchMax && dueAt(end) <= horizon) end++;
    const batchStart = cursor;
    const batch = events.slice(batchStart, end);
    cursor = end;
    if (sendStarted === 0) sendStarted = Date.now();
    const p: Promise<void> = target
      .send(batch, o.signal)
      .then(async (r) => {
        summary.sent += batch.length;
        summary.accepted += r.accepted;
        summary.duplicates += r.duplicates;
        for (const x of r.rejected) rejects.push({ line: -1, errors: x.errors, record: { eventId: x.eventId } });
        finishedBatches.set(batchStart, end);
        let moved = false;
        while (finishedBatches.has(summary.position)) {
          const next = finishedBatches.get(summary.position)!;
          finishedBatches.delete(summary.position);
          summary.position = next;
          moved = true;
        }
        if (moved) {
          o.onProgress?.(summary.position, total);
          await save(summary.position >= total);
        }
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.allSettled([...inflight]);
  await savedChain;
  const sendSeconds = sendStarted ? (Date.now() - sendStarted) / 1000 : 0;
  summary.rate = sendSeconds > 0 ? Math.round(summary.sent / sendSeconds) : 0;
  summary.complete = summary.position >= total;
  if (failure) {
    await finish();
    const msg = `replay stopped at ${summary.position}/${total}: ${errorMessage(failure)}; the position is saved, run again with --resume to continue`;
    throw failure instanceof InvalidArgument ? new InvalidArgument(msg, [], failure) : new Unavailable(msg, failure);
  }
  summary.interrupted = !summary.complete && Boolean(o.signal?.aborted);
  return finish();
}
