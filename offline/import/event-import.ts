import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EVENT_TYPES, parseEvent, type EventType, type ShowroomEvent } from '../../shared/domain/event.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { eventFileKey, partitionOf, vehicleSnapshotKey } from '../../shared/lake/lake-paths.js';
import type { Lake } from '../../shared/lake/lake.js';
import { writeEventsParquet, writeVehiclesParquet } from '../../shared/lake/parquet-codec.js';

export type ImportFormat = 'csv' | 'jsonl' | 'parquet';

/** Fields a mapping can fill. `value` and `price` go to `properties.value` / `properties.price`. */
export const MAPPABLE_FIELDS = ['eventId', 'type', 'customerId', 'vehicleId', 'sessionId', 'occurredAt', 'value', 'price'] as const;
export type MappableField = (typeof MAPPABLE_FIELDS)[number];
export const TIME_CONVERSIONS = ['iso', 'unix', 'unixms'] as const;
export type TimeConversion = (typeof TIME_CONVERSIONS)[number];

export interface FieldMapping {
  source: string;
  /** occurredAt only: how the source encodes time (default iso; `unix` = seconds). */
  conversion?: TimeConversion;
}
export type ColumnMapping = Partial<Record<MappableField, FieldMapping>>;

/**
 * Parses `--map customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix,value=rating`.
 * Throws InvalidArgument naming the bad entry.
 */
export function parseMapping(spec: string | undefined): ColumnMapping {
  const out: ColumnMapping = {};
  if (!spec) return out;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z]+)=([^:]+)(?::([a-z]+))?$/.exec(part);
    if (!m) throw new InvalidArgument(`--map entry "${part}" must be field=column[:conversion]`);
    const field = m[1] as MappableField;
    if (!(MAPPABLE_FIELDS as readonly string[]).includes(field)) throw new InvalidArgument(`--map: unknown field "${m[1]}"; known: ${MAPPABLE_FIELDS.join(', ')}`);
    const conversion = m[3] as TimeConversion | undefined;
    if (conversion !== undefined) {
      if (field !== 'occurredAt') throw new InvalidArgument(`--map: only occurredAt takes a conversion, got "${part}"`);
      if (!(TIME_CONVERSIONS as readonly string[]).includes(conversion)) throw new InvalidArgument(`--map: conversion must be one of ${TIME_CONVERSIONS.join(', ')}, got "${conversion}"`);
    }
    out[field] = { source: m[2]!, ...(conversion ? { conversion } : {}) };
  }
  return out;
}

export function inferFormat(file: string, format?: string): ImportFormat {
  const f = (format ?? extname(file).slice(1)).toLowerCase();
  if (f === 'csv' || f === 'tsv') return 'csv';
  if (f === 'jsonl' || f === 'ndjson' || f === 'json') return 'jsonl';
  if (f === 'parquet') return 'parquet';
  throw new InvalidArgument(`cannot tell the format of "${file}": pass --format csv|jsonl|parquet`);
}

/** RFC 4180 CSV: quoted fields ("" escapes a quote) may hold separators and newlines. Rows with their 1-based start line. */
export function parseCsv(text: string, separator = ','): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && cell === '') {
      quoted = true;
      any = true;
    } else if (ch === separator) {
      cells.push(cell);
      cell = '';
      any = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      if (any || cell !== '') {
        cells.push(cell);
        rows.push({ line: rowLine, cells });
      }
      cells = [];
      cell = '';
      any = false;
      line++;
      rowLine = line;
    } else {
      cell += ch;
      any = true;
    }
  }
  if (any || cell !== '') {
    cells.push(cell);
    rows.push({ line: rowLine, cells });
  }
  return rows;
}

/** Source records of a file: objects keyed by column name with their line (CSV/JSONL) or row number (Parquet). */
export async function readRecords(file: string, format: ImportFormat): Promise<{ line: number; record: Record<string, unknown> | undefined; error?: string }[]> {
  if (format === 'parquet') {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet('${file.replace(/'/g, "''")}')`)).getRowObjectsJS();
      return rows.map((r, i) => ({ line: i + 1, record: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v])) }));
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  }
  const text = await readFile(file, 'utf8');
  if (format === 'jsonl') {
    const out: { line: number; record: Record<string, unknown> | undefined; error?: string }[] = [];
    text.split(/\r?\n/).forEach((raw, i) => {
      if (raw.trim() === '') return;
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === 'object' && !Array.isArray(v)) out.push({ line: i + 1, record: v as Record<string, unknown> });
        else out.push({ line: i + 1, record: undefined, error: 'line is not a JSON object' });
      } catch (err) {
        out.push({ line: i + 1, record: undefined, error: `invalid JSON: ${(err as Error).message}` });
      }
    });
    return out;
  }
  const sep = file.toLowerCase().endsWith('.tsv') ? '\t' : ',';
  const rows = parseCsv(text, sep);
  const header = rows.shift();
  if (!header) return [];
  const cols = header.cells.map((c) => c.trim());
  return rows.map((r) => {
    if (r.cells.length !== cols.length) return { line: r.line, record: undefined, error: `expected ${cols.length} columns, got ${r.cells.length}` };
    return { line: r.line, record: Object.fromEntries(cols.map((c, i) => [c, r.cells[i]])) };
  });
}

function pick(record: Record<string, unknown>, path: string): unknown {
  let cur: unknown = record;
  if (path in record) return record[path];
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function toTime(raw: unknown, conversion: TimeConversion = 'iso'): unknown {
  if (raw === undefined || raw === null || raw === '') return raw;
  if (conversion === 'iso') return typeof raw === 'string' ? raw.trim() : raw;
  const n = Number(raw);
  if (!Number.isFinite(n)) return String(raw);
  const d = new Date(conversion === 'unix' ? n * 1000 : n);
  return Number.isNaN(d.getTime()) ? String(raw) : d.toISOString();
}

function toNumber(raw: unknown): unknown {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'number') return raw;
  const n = Number(raw);
  return Number.isFinite(n) && String(raw).trim() !== '' ? n : raw;
}

function toId(raw: unknown): unknown {
  if (raw === undefined || raw === null || raw === '') return undefined;
  return typeof raw === 'number' || typeof raw === 'bigint' ? String(raw) : raw;
}

/**
 * Builds the candidate event of one record: mapped fields (or same-named columns), `type`
 * from the mapping or `defaultType`, `eventId` from the mapping or derived deterministically
 * (hash of the mapped content + occurrence number, so re-importing a file gives the same ids).
 */
export function mapRecord(record: Record<string, unknown>, mapping: ColumnMapping, defaultType: EventType | undefined, occurrence: Map<string, number>): Record<string, unknown> {
  const get = (f: MappableField) => (mapping[f] ? pick(record, mapping[f].source) : record[f]);
  const ev: Record<string, unknown> = {};
  const type = get('type') ?? defaultType;
  if (type !== undefined) ev.type = type;
  for (const f of ['customerId', 'vehicleId', 'sessionId'] as const) {
    const v = toId(get(f));
    if (v !== undefined) ev[f] = v;
  }
  const occurredAt = toTime(get('occurredAt'), mapping.occurredAt?.conversion);
  if (occurredAt !== undefined) ev.occurredAt = occurredAt;
  const props: Record<string, unknown> = {};
  const value = toNumber(get('value'));
  if (value !== undefined) props.value = value;
  const price = toNumber(get('price'));
  if (price !== undefined) props.price = price;
  if (Object.keys(props).length > 0) ev.properties = props;
  const id = toId(get('eventId'));
  if (id !== undefined) ev.eventId = id;
  else {
    const h = createHash('sha1').update(JSON.stringify([ev.type, ev.customerId, ev.vehicleId, ev.sessionId, ev.occurredAt, props.value, props.price])).digest('hex').slice(0, 24);
    const n = (occurrence.get(h) ?? 0) + 1;
    occurrence.set(h, n);
    ev.eventId = `imp-${h}${n > 1 ? `-${n}` : ''}`;
  }
  return ev;
}

export interface ImportOptions {
  lake: Lake;
  file: string;
  format?: ImportFormat;
  mapping: ColumnMapping;
  /** Event type of every row when the mapping has no `type`. */
  type?: EventType;
  /** Where rejected rows go (JSONL: line, errors, record). */
  rejectsFile?: string;
  /** Also write a catalog snapshot naming every imported vehicle (for datasets without one). */
  catalogFromItems?: boolean;
  /** Abort before writing anything when more than this share of rows is rejected (default 1 = never). */
  maxRejectRatio?: number;
  signal?: AbortSignal;
}

export interface ImportReport {
  file: string;
  format: ImportFormat;
  rows: number;
  imported: number;
  rejected: number;
  partitions: number;
  /** First rejected rows (line numbers), all of them in the rejects file. */
  rejects: { line: number; errors: string[] }[];
  rejectsFile?: string;
  catalogSnapshot?: string;
  range?: { from: string; to: string };
}

/**
 * Imports an interaction file into the lake. Every row is validated with the event schema;
 * rejected rows are reported with their line numbers (and written to `rejectsFile`). Valid
 * events are grouped by UTC hour partition and each partition gets ONE file
 * `events/date=D/hour=H/import-<file hash>-00000000.parquet`, written atomically by the lake —
 * a partition is never half-written, and re-importing the same file overwrites the same keys.
 */
export async function importEvents(o: ImportOptions): Promise<ImportReport> {
  const format = o.format ?? inferFormat(o.file);
  if (o.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(o.type)) throw new InvalidArgument(`--type must be one of ${EVENT_TYPES.join(', ')}`);
  if (!o.mapping.type && !o.type) {
    // Rows may still carry a `type` column; validation reports those that do not.
  }
  const records = await readRecords(o.file, format);
  const receivedAt = new Date().toISOString();
  const occurrence = new Map<string, number>();
  const byPartition = new Map<string, ShowroomEvent[]>();
  const rejects: { line: number; errors: string[]; record?: Record<string, unknown> }[] = [];
  let imported = 0;
  let minT = Infinity;
  let maxT = -Infinity;
  const vehicles = new Set<string>();
  for (const r of records) {
    if (!r.record) {
      rejects.push({ line: r.line, errors: [r.error ?? 'unreadable row'] });
      continue;
    }
    const candidate = mapRecord(r.record, o.mapping, o.type, occurrence);
    const parsed = parseEvent(candidate, { receivedAt });
    if (!parsed.ok) {
      rejects.push({ line: r.line, errors: parsed.fields.map((f) => `${f.field} ${f.message}`), record: r.record });
      continue;
    }
    const e = parsed.event;
    const p = partitionOf(e.occurredAt);
    const key = `${p.date}/${p.hour}`;
    let list = byPartition.get(key);
    if (!list) byPartition.set(key, (list = []));
    list.push(e);
    imported += 1;
    const t = Date.parse(e.occurredAt);
    minT = Math.min(minT, t);
    maxT = Math.max(maxT, t);
    if (e.vehicleId) vehicles.add(e.vehicleId);
  }
  o.signal?.throwIfAborted();
  if (o.rejectsFile) await writeFile(o.rejectsFile, rejects.map((x) => JSON.stringify(x)).join('\n') + (rejects.length ? '\n' : ''));
  const ratio = records.length === 0 ? 0 : rejects.length / records.length;
  if (o.maxRejectRatio !== undefined && ratio > o.maxRejectRatio) {
    throw new InvalidArgument(`${rejects.length} of ${records.length} rows rejected (more than ${o.maxRejectRatio * 100}%); nothing imported${o.rejectsFile ? `, see ${o.rejectsFile}` : ''}`);
  }
  const fileHash = createHash('sha1').update(await readFile(o.file)).digest('hex').slice(0, 12);
  const writer = `import-${fileHash}`;
  const tmp = await mkdtemp(join(tmpdir(), 'showroom-import-'));
  let catalogSnapshot: string | undefined;
  try {
    let i = 0;
    for (const [key, events] of [...byPartition.entries()].sort()) {
      o.signal?.throwIfAborted();
      const [date, hour] = key.split('/') as [string, string];
      events.sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
      const local = join(tmp, `p${i++}.parquet`);
      await writeEventsParquet(local, events);
      await o.lake.put(eventFileKey(date, Number(hour), writer, 0), local);
      await rm(local, { force: true });
    }
    if (o.catalogFromItems && vehicles.size > 0) {
      const date = new Date(minT).toISOString().slice(0, 10);
      const snapshot: Vehicle[] = [...vehicles].sort().map((id) => ({ vehicleId: id, make: 'unknown', model: id, year: 2000, bodyStyle: 'unknown', price: 0 }));
      const local = join(tmp, 'vehicles.parquet');
      await writeVehiclesParquet(local, snapshot);
      catalogSnapshot = vehicleSnapshotKey(date);
      await o.lake.put(catalogSnapshot, local);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return {
    file: basename(o.file),
    format,
    rows: records.length,
    imported,
    rejected: rejects.length,
    partitions: byPartition.size,
    rejects: rejects.slice(0, 20).map(({ line, errors }) => ({ line, errors })),
    ...(o.rejectsFile ? { rejectsFile: o.rejectsFile } : {}),
    ...(catalogSnapshot ? { catalogSnapshot } : {}),
    ...(imported > 0 ? { range: { from: new Date(minT).toISOString(), to: new Date(maxT).toISOString() } } : {}),
  };
}
