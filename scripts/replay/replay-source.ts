/**
 * Replay sources: the lake's event partitions or an interaction file (CSV, JSONL, Parquet) read
 * with the import's column mapping (`offline/import/event-import.ts`). Every row is validated
 * with the event schema; rows that fail are returned as rejects with their reasons.
 */
import { access, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EVENT_TYPES, parseEvent, type EventType, type ShowroomEvent } from '../../shared/domain/event.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { parseEventKey } from '../../shared/lake/lake-paths.js';
import type { Lake } from '../../shared/lake/lake.js';
import { readEventsParquet } from '../../shared/lake/parquet-codec.js';
import { inferFormat, mapRecord, readRecords, type ColumnMapping, type ImportFormat } from '../../offline/import/event-import.js';

/** A row that could not become an event: its line (CSV/JSONL) or row number (Parquet), why, and the row. */
export interface RejectedRow {
  line: number;
  errors: string[];
  record?: Record<string, unknown>;
}

export interface ReplaySourceOptions {
  /** `lake` or the path of a .parquet / .jsonl / .csv file. */
  source: string;
  /** Needed for `source: 'lake'`. */
  lake?: Lake;
  /** File format (default: from the extension). */
  format?: ImportFormat;
  /** Import column mapping (`--map`), files only. */
  mapping?: ColumnMapping;
  /** Event type of every row when no column is mapped to `type` (`--type`), files only. */
  type?: EventType;
  /** ISO-8601 UTC, inclusive: events with `occurredAt` ≥ from. */
  from?: string;
  /** ISO-8601 UTC, exclusive: events with `occurredAt` < to. */
  to?: string;
  signal?: AbortSignal;
}

export interface LoadedSource {
  /** `lake (<lake description>)` or the resolved file path. */
  description: string;
  /** Rows read (before the time filter; lake: events in the partitions read). */
  rows: number;
  /** Valid events inside [from, to), sorted by occurredAt (stable: ties keep source order). */
  events: ShowroomEvent[];
  /** Valid events outside [from, to). */
  outOfRange: number;
  rejects: RejectedRow[];
}

const REQUIRED_CUSTOMER_FIELDS = ['customerId', 'vehicleId', 'occurredAt'] as const;

function inRange(ms: number, fromMs: number, toMs: number): boolean {
  return ms >= fromMs && ms < toMs;
}

function sortStable(events: ShowroomEvent[]): ShowroomEvent[] {
  const keyed = events.map((e, i) => ({ e, i, t: Date.parse(e.occurredAt) }));
  keyed.sort((a, b) => a.t - b.t || a.i - b.i);
  return keyed.map((k) => k.e);
}

/**
 * Reads the lake's event files whose hour partition can hold events in [from, to). Files are read
 * in key order; duplicate eventIds (an event written twice) are kept once.
 */
async function loadLake(lake: Lake, fromMs: number, toMs: number, signal?: AbortSignal): Promise<LoadedSource> {
  const objects = (await lake.list('events/')).filter((o) => {
    const k = parseEventKey(o.key);
    if (!k || !k.file.endsWith('.parquet')) return false;
    const start = Date.parse(`${k.date}T${String(k.hour).padStart(2, '0')}:00:00.000Z`);
    return start + 3600_000 > fromMs && start < toMs;
  });
  const root = await lake.localRoot(objects.length > 0 ? ['events/'] : []);
  const seen = new Set<string>();
  const out: ShowroomEvent[] = [];
  let rows = 0;
  let outOfRange = 0;
  for (const o of objects) {
    signal?.throwIfAborted();
    let events: ShowroomEvent[];
    try {
      events = await readEventsParquet(join(root, o.key));
    } catch (err) {
      throw new InvalidArgument(`lake file ${o.key} is not a readable event file: ${(err as Error).message}`);
    }
    rows += events.length;
    for (const e of events) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      if (inRange(Date.parse(e.occurredAt), fromMs, toMs)) out.push(e);
      else outOfRange += 1;
    }
  }
  return { description: `lake (${lake.description})`, rows, events: sortStable(out), outOfRange, rejects: [] };
}

/** Names the required fields whose column the file lacks (checked on the first readable record). */
function missingColumns(record: Record<string, unknown>, mapping: ColumnMapping, type: EventType | undefined): string[] {
  const has = (field: string) => {
    const m = mapping[field as keyof ColumnMapping];
    const source = m ? m.source : field;
    if (source in record) return true;
    // dotted paths (JSON objects)
    let cur: unknown = record;
    for (const p of source.split('.')) {
      if (cur === null || typeof cur !== 'object') return false;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur !== undefined;
  };
  const missing: string[] = [];
  if (!type && !has('type')) missing.push(mapping.type ? `type (column "${mapping.type.source}")` : 'type (or pass --type)');
  for (const f of REQUIRED_CUSTOMER_FIELDS) {
    if (!has(f)) missing.push(mapping[f] ? `${f} (column "${mapping[f].source}")` : f);
  }
  return missing;
}

async function loadFile(o: ReplaySourceOptions, fromMs: number, toMs: number): Promise<LoadedSource> {
  const file = resolve(o.source);
  try {
    await access(file);
  } catch {
    throw new InvalidArgument(`replay source ${o.source} does not exist (use "lake" or a .parquet, .jsonl or .csv file)`);
  }
  const format = inferFormat(file, o.format);
  if (o.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(o.type)) throw new InvalidArgument(`--type must be one of ${EVENT_TYPES.join(', ')}`);
  const mapping = o.mapping ?? {};
  const receivedAt = new Date().toISOString();
  const occurrence = new Map<string, number>();
  const events: ShowroomEvent[] = [];
  const rejects: RejectedRow[] = [];
  let outOfRange = 0;
  let rows = 0;
  let first: Record<string, unknown> | undefined;
  try {
    for await (const r of readRecords(file, format)) {
      rows += 1;
      if (!r.record) {
        rejects.push({ line: r.line, errors: [r.error ?? 'unreadable row'] });
        continue;
      }
      first ??= r.record;
      const candidate = mapRecord(r.record, mapping, o.type, occurrence);
      const parsed = parseEvent(candidate, { receivedAt });
      if (!parsed.ok) {
        rejects.push({ line: r.line, errors: parsed.fields.map((f) => `${f.field} ${f.message}`), record: r.record });
        continue;
      }
      if (inRange(Date.parse(parsed.event.occurredAt), fromMs, toMs)) events.push(parsed.event);
      else outOfRange += 1;
    }
  } catch (err) {
    throw new InvalidArgument(`cannot read ${o.source} as ${format}: ${(err as Error).message.split('\n')[0]}`);
  }
  const missing = first ? missingColumns(first, mapping, o.type) : [];
  if (missing.length > 0) {
    const columns = Object.keys(first ?? {}).join(', ');
    const err = new InvalidArgument(
      `${o.source}: no column for ${missing.join(', ')}; the file has columns [${columns}]. Map them with --map field=column (e.g. --map customerId=user_id,vehicleId=item_id,occurredAt=ts:unix)`,
    );
    throw Object.assign(err, { rejects, rows });
  }
  return { description: file, rows, events: sortStable(events), outOfRange, rejects };
}

/**
 * Loads a replay source into memory: valid events in [from, to) sorted by `occurredAt`, and the
 * rejected rows. Throws InvalidArgument with a one-line message for a missing file, an unreadable
 * (corrupt) file or a file without the required columns (that error carries `rejects` and `rows`
 * so the caller can still write the rejects file).
 */
export async function loadReplaySource(o: ReplaySourceOptions): Promise<LoadedSource> {
  const fromMs = o.from ? Date.parse(o.from) : -Infinity;
  const toMs = o.to ? Date.parse(o.to) : Infinity;
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) throw new InvalidArgument('--from/--to must be ISO-8601 timestamps');
  if (fromMs >= toMs) throw new InvalidArgument(`--from (${o.from}) must be before --to (${o.to})`);
  if (o.source === 'lake') {
    if (!o.lake) throw new InvalidArgument('replay from the lake needs a lake');
    return loadLake(o.lake, fromMs, toMs, o.signal);
  }
  return loadFile(o, fromMs, toMs);
}

/** Writes rejected rows as JSONL (`{line, errors, record}` per line); an empty file when there are none. */
export async function writeRejects(file: string, rejects: readonly RejectedRow[]): Promise<void> {
  await writeFile(file, rejects.map((x) => JSON.stringify(x)).join('\n') + (rejects.length ? '\n' : ''));
}

/** Counts rejects by reason (the field and message of their first error), most frequent first. */
export function rejectReasons(rejects: readonly RejectedRow[]): { reason: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const r of rejects) for (const e of r.errors.length ? r.errors : ['unknown']) counts.set(e, (counts.get(e) ?? 0) + 1);
  return [...counts.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count).slice(0, 20);
}
