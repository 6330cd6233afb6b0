import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { CsvError, parse, type Options } from 'csv-parse';
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

/** One source row: its 1-based line (CSV/JSONL; the row number for Parquet) and the record, or why it is unreadable. */
export interface SourceRecord {
  line: number;
  record: Record<string, unknown> | undefined;
  error?: string;
}

/** A parsed CSV record and the line it starts at. */
interface NumberedRow {
  line: number;
  cells: string[];
}

/** Line breaks inside a parsed record (quoted fields may hold some): `\r\n`, `\n` or `\r` each count once. */
function lineBreaks(cells: readonly string[]): number {
  let n = 0;
  for (const c of cells) if (c.includes('\n') || c.includes('\r')) n += c.match(/\r\n|\r|\n/g)?.length ?? 0;
  return n;
}

/**
 * RFC 4180 CSV streamed through `csv-parse` (a BOM is dropped; `\n` or `\r\n` line ends, mixed
 * too; quoted fields hold separators, `""` and line breaks). The first non-empty row is the header;
 * empty lines are skipped. A row with another number of columns than the header is returned as
 * an error with its line (it cannot be merged into another: its quotes are balanced). A quote
 * error (a quoted field never closed, a quote inside an unquoted field, text after a closing
 * quote) makes every later line ambiguous, so the file is refused: throws InvalidArgument
 * naming `name` and the line where the record holding it starts.
 */
export async function* csvRecords(input: Readable, name: string, separator = ','): AsyncGenerator<SourceRecord> {
  // Lines are counted here, as records are parsed (csv-parse counts a quoted `\r\n` twice), so a
  // parse error names the line where the record it stopped in starts.
  let next = 1;
  const options: Options<NumberedRow, string[]> = {
    bom: true,
    delimiter: separator,
    record_delimiter: ['\r\n', '\n'],
    relax_quotes: false,
    relax_column_count: true,
    skip_empty_lines: false,
    on_record: (cells) => {
      const line = next;
      next += 1 + lineBreaks(cells);
      return { line, cells };
    },
  };
  const parser = parse(options as unknown as Options); // the overloads type on_record as string[] → string[]
  const source = input.pipe(parser);
  input.once('error', (err) => parser.destroy(err));
  let header: string[] | undefined;
  try {
    for await (const { line: start, cells } of source as AsyncIterable<NumberedRow>) {
      if (cells.length === 1 && cells[0] === '') continue; // an empty line
      if (!header) {
        header = cells.map((c) => c.trim());
        continue;
      }
      if (cells.length !== header.length) {
        yield { line: start, record: undefined, error: `expected ${header.length} columns, got ${cells.length}` };
        continue;
      }
      yield { line: start, record: Object.fromEntries(header.map((c, i) => [c, cells[i]])) };
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e instanceof CsvError) {
      const detail = e.message.replace(/ at line \d+.*$/s, '');
      const why =
        e.code === 'CSV_QUOTE_NOT_CLOSED'
          ? 'a quoted field opened in the record starting here is never closed (it would swallow the rest of the file)'
          : /QUOTE/.test(e.code ?? '')
            ? `malformed quotes in the record starting here (${detail})`
            : `unreadable record starting here (${detail})`;
      throw new InvalidArgument(`${name}: line ${next}: ${why}; nothing imported`);
    }
    throw err;
  } finally {
    input.destroy();
  }
}

/** JSON lines streamed: one object per line; blank lines skipped; a BOM on the first line dropped. */
async function* jsonlRecords(input: Readable): AsyncGenerator<SourceRecord> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n += 1;
    const raw = n === 1 ? text.replace(/^\uFEFF/, '') : text;
    if (raw.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(raw);
      if (v && typeof v === 'object' && !Array.isArray(v)) yield { line: n, record: v as Record<string, unknown> };
      else yield { line: n, record: undefined, error: 'line is not a JSON object' };
    } catch (err) {
      yield { line: n, record: undefined, error: `invalid JSON: ${(err as Error).message}` };
    }
  }
}

async function* parquetRecords(file: string): AsyncGenerator<SourceRecord> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet('${file.replace(/'/g, "''")}')`)).getRowObjectsJS();
    let i = 0;
    for (const r of rows) {
      i += 1;
      yield { line: i, record: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v])) };
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/**
 * Source records of a file, streamed (CSV and JSONL are never read whole): objects keyed by
 * column name with their line (CSV/JSONL) or row number (Parquet). Throws InvalidArgument for
 * a CSV whose quotes are malformed (see `csvRecords`).
 */
export function readRecords(file: string, format: ImportFormat): AsyncGenerator<SourceRecord> {
  if (format === 'parquet') return parquetRecords(file);
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  if (format === 'jsonl') return jsonlRecords(input);
  return csvRecords(input, basename(file), file.toLowerCase().endsWith('.tsv') ? '\t' : ',');
}

/** SHA-1 of a file, streamed. */
async function hashFile(file: string): Promise<string> {
  const h = createHash('sha1');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
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
  const receivedAt = new Date().toISOString();
  const occurrence = new Map<string, number>();
  const byPartition = new Map<string, ShowroomEvent[]>();
  const rejects: { line: number; errors: string[]; record?: Record<string, unknown> }[] = [];
  let imported = 0;
  let minT = Infinity;
  let maxT = -Infinity;
  const vehicles = new Set<string>();
  let rows = 0;
  for await (const r of readRecords(o.file, format)) {
    rows += 1;
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
  const ratio = rows === 0 ? 0 : rejects.length / rows;
  if (o.maxRejectRatio !== undefined && ratio > o.maxRejectRatio) {
    throw new InvalidArgument(`${rejects.length} of ${rows} rows rejected (more than ${o.maxRejectRatio * 100}%); nothing imported${o.rejectsFile ? `, see ${o.rejectsFile}` : ''}`);
  }
  const fileHash = (await hashFile(o.file)).slice(0, 12);
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
    rows,
    imported,
    rejected: rejects.length,
    partitions: byPartition.size,
    rejects: rejects.slice(0, 20).map(({ line, errors }) => ({ line, errors })),
    ...(o.rejectsFile ? { rejectsFile: o.rejectsFile } : {}),
    ...(catalogSnapshot ? { catalogSnapshot } : {}),
    ...(imported > 0 ? { range: { from: new Date(minT).toISOString(), to: new Date(maxT).toISOString() } } : {}),
  };
}
