/**
 * Backfills: the batch job as of each day of a range (what would have been served that day),
 * stored as runs, and the rebuild of lake partitions from a replay source.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EventType, ShowroomEvent } from '../../shared/domain/event.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import { InvalidArgument, errorMessage } from '../../shared/errors/app-error.js';
import { eventFileKey, eventPartitionPrefix, partitionOf } from '../../shared/lake/lake-paths.js';
import type { Lake } from '../../shared/lake/lake.js';
import { writeEventsParquet } from '../../shared/lake/parquet-codec.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { BatchFailed, runBatch, type BatchConfig, type ProgressFn } from '../../offline/batch/batch-pipeline.js';
import type { ColumnMapping, ImportFormat } from '../../offline/import/event-import.js';
import { loadReplaySource, rejectReasons, writeRejects } from '../replay/replay-source.js';

const DAY_MS = 86_400_000;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Run id of the backfill run of `date` (YYYY-MM-DD): `backfill-<date>`. */
export function backfillRunId(date: string): string {
  return `backfill-${date}`;
}

/** UTC days from `from` to `to`, both included, as YYYY-MM-DD. */
export function daysBetween(from: string, to: string): string[] {
  for (const d of [from, to]) if (!DATE_RE.test(d) || Number.isNaN(Date.parse(`${d}T00:00:00Z`))) throw new InvalidArgument(`dates must be YYYY-MM-DD, got "${d}"`);
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  if (a > b) throw new InvalidArgument(`--from ${from} is after --to ${to}`);
  if ((b - a) / DAY_MS > 366) throw new InvalidArgument('a backfill covers at most 367 days');
  const out: string[] = [];
  for (let t = a; t <= b; t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

export interface RebuildOptions {
  lake: Lake;
  /** `lake` is refused (rebuilding the lake from itself); a .parquet / .jsonl / .csv file. */
  source: string;
  format?: ImportFormat;
  mapping?: ColumnMapping;
  type?: EventType;
  /** ISO-8601 UTC, inclusive. */
  from: string;
  /** ISO-8601 UTC, exclusive. */
  to: string;
  /** Rejected rows go here (JSONL). */
  rejectsFile?: string;
  signal?: AbortSignal;
}

export interface RebuildSummary {
  source: string;
  from: string;
  to: string;
  events: number;
  /** Hour partitions written (each replaced by one file). */
  partitions: number;
  /** Files of those partitions that the rebuilt file replaced (deleted after it was put). */
  replacedFiles: number;
  rejected: number;
  rejectReasons: { reason: string; count: number }[];
  rejectsFile?: string;
}

/**
 * Rebuilds the lake's hour partitions in [from, to) from a replay source: for every partition the
 * source has events in, ONE file `events/date=D/hour=H/backfill-<source hash>-00000000.parquet`
 * is written to a temp file and put atomically (as the sink and import do), then the partition's
 * other files are deleted, so readers see the old partition or the new one plus (briefly) both —
 * which the batch job de-duplicates by eventId. Partitions without source events are left alone.
 */
export async function rebuildLakePartitions(o: RebuildOptions): Promise<RebuildSummary> {
  if (o.source === 'lake') throw new InvalidArgument('--lake-from needs a file (.parquet, .jsonl, .csv); the lake cannot be rebuilt from itself');
  const loaded = await loadReplaySource({ source: o.source, format: o.format, mapping: o.mapping, type: o.type, from: o.from, to: o.to, signal: o.signal });
  if (loaded.rejects.length > 0 && o.rejectsFile) await writeRejects(o.rejectsFile, loaded.rejects);
  const groups = new Map<string, ShowroomEvent[]>();
  for (const e of loaded.events) {
    const p = partitionOf(e.occurredAt);
    const key = `${p.date}/${p.hour}`;
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(e);
  }
  const writer = `backfill-${createHash('sha1').update(resolve(o.source)).digest('hex').slice(0, 12)}`;
  const tmp = await mkdtemp(join(tmpdir(), 'showroom-backfill-'));
  let replacedFiles = 0;
  try {
    let i = 0;
    for (const [key, events] of [...groups.entries()].sort()) {
      o.signal?.throwIfAborted();
      const [date, hour] = key.split('/') as [string, string];
      const target = eventFileKey(date, Number(hour), writer, 0);
      const local = join(tmp, `p${i++}.parquet`);
      await writeEventsParquet(local, events);
      await o.lake.put(target, local);
      await rm(local, { force: true });
      for (const old of await o.lake.list(eventPartitionPrefix(date, Number(hour)))) {
        if (old.key === target) continue;
        await o.lake.delete(old.key);
        replacedFiles += 1;
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return {
    source: loaded.description,
    from: o.from,
    to: o.to,
    events: loaded.events.length,
    partitions: groups.size,
    replacedFiles,
    rejected: loaded.rejects.length,
    rejectReasons: rejectReasons(loaded.rejects),
    ...(loaded.rejects.length > 0 && o.rejectsFile ? { rejectsFile: o.rejectsFile } : {}),
  };
}

export interface BackfillOptions {
  lake: Lake;
  store: PredictionStore;
  config?: Partial<BatchConfig>;
  /** Registered model (default item-knn). */
  model?: string;
  /** First and last day (YYYY-MM-DD, UTC), both included. */
  from: string;
  to: string;
  /** Activate the LAST day's run (after its quality gate). Default false: no run is activated. */
  activate?: boolean;
  lookbackDays?: number;
  topN?: number;
  threads?: number;
  /** Rebuild the partitions the runs read ([from − lookback, to)) from this source first. */
  lakeFrom?: Omit<RebuildOptions, 'lake' | 'from' | 'to' | 'signal'>;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: ProgressFn;
  /** Called when a day starts (`result` undefined) and when it ends. */
  onDay?: (date: string, index: number, total: number, result?: BackfillDay) => void;
}

export interface BackfillDay {
  date: string;
  runId: string;
  /** ISO-8601 UTC: events strictly before it were used (the day's 00:00 UTC). */
  asOf: string;
  status: RunRecord['status'];
  activated: boolean;
  alreadyDone: boolean;
  predictions?: number;
  ndcg?: number;
  gate?: RunRecord['gate'];
  /** Why the day's run failed (the backfill goes on with the next day). */
  error?: string;
  seconds: number;
}

export interface BackfillSummary {
  model: string;
  from: string;
  to: string;
  days: BackfillDay[];
  activated?: string;
  /** Days whose run failed. */
  failed?: number;
  rebuild?: RebuildSummary;
}

/**
 * Runs the batch job (`runBatch`, not a copy) as of 00:00 UTC of each day from `from` to `to` —
 * the predictions a nightly run would have served that day — each stored as run
 * `backfill-<date>`. Days run in order; a day that already succeeded is skipped by runBatch
 * (idempotent). Only the last day's run may be activated, and only with `activate`.
 */
export async function runBackfill(o: BackfillOptions): Promise<BackfillSummary> {
  const days = daysBetween(o.from, o.to);
  const model = o.model ?? 'item-knn';
  const lookbackDays = o.lookbackDays ?? o.config?.lookbackDays ?? 90;
  const summary: BackfillSummary = { model, from: o.from, to: o.to, days: [] };
  if (o.lakeFrom) {
    const from = new Date(Date.parse(`${o.from}T00:00:00Z`) - lookbackDays * DAY_MS).toISOString();
    const to = new Date(Date.parse(`${o.to}T00:00:00Z`)).toISOString();
    summary.rebuild = await rebuildLakePartitions({ ...o.lakeFrom, lake: o.lake, from, to, signal: o.signal });
  }
  for (const [i, date] of days.entries()) {
    o.signal?.throwIfAborted();
    const last = i === days.length - 1;
    const asOf = `${date}T00:00:00.000Z`;
    const runId = backfillRunId(date);
    o.onDay?.(date, i, days.length);
    const t = Date.now();
    const activate = Boolean(o.activate && last);
    let r: Awaited<ReturnType<typeof runBatch>>;
    try {
      r = await runBatch({
        // The quality gate compares with the CURRENT active run, which says nothing about a past
        // day: runs that are not activated are stored without it; the activated one keeps it.
        config: activate ? o.config : { ...o.config, gateNdcgTolerance: 1, gateCoverageTolerance: 1 },
        lake: o.lake,
        store: o.store,
        model,
        asOf,
        runId,
        lookbackDays,
        topN: o.topN,
        activate,
        threads: o.threads,
        logger: o.logger,
        onProgress: o.onProgress,
        signal: o.signal,
      });
    } catch (err) {
      if (!(err instanceof BatchFailed) || o.signal?.aborted) throw err;
      const failed: BackfillDay = { date, runId, asOf, status: 'failed', activated: false, alreadyDone: false, error: errorMessage(err), ...(err.run?.gate ? { gate: err.run.gate } : {}), seconds: Math.round((Date.now() - t) / 100) / 10 };
      summary.days.push(failed);
      summary.failed = (summary.failed ?? 0) + 1;
      o.onDay?.(date, i, days.length, failed);
      continue;
    }
    const day: BackfillDay = {
      date,
      runId,
      asOf,
      status: r.run.status,
      activated: r.activated,
      alreadyDone: r.alreadyDone,
      ...(r.run.counts.predictionsWritten !== undefined ? { predictions: r.run.counts.predictionsWritten } : {}),
      ...(r.run.metrics ? { ndcg: r.run.metrics.ndcg } : {}),
      ...(r.run.gate ? { gate: r.run.gate } : {}),
      seconds: Math.round((Date.now() - t) / 100) / 10,
    };
    summary.days.push(day);
    if (r.activated) summary.activated = runId;
    o.onDay?.(date, i, days.length, day);
  }
  return summary;
}
