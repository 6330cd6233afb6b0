/**
 * Keys of the lake layout (DESIGN.md §4). Every date is a UTC calendar day `YYYY-MM-DD`,
 * every hour a UTC hour 0..23. Keys are `/`-separated and relative to the lake root.
 */
import { InvalidArgument } from '../errors/app-error.js';

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const SAFE_SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** Digits of the sequence number in event file names, so names sort lexicographically. */
export const EVENT_FILE_SEQ_DIGITS = 8;

function checkDate(date: string): void {
  if (!DATE_RE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    throw new InvalidArgument(`lake date must be YYYY-MM-DD, got "${date}"`, [{ field: 'date', message: 'must be YYYY-MM-DD' }]);
  }
}

function checkHour(hour: number): void {
  if (!Number.isInteger(hour) || hour < 0 || hour > 23) {
    throw new InvalidArgument(`lake hour must be an integer 0..23, got ${hour}`, [{ field: 'hour', message: 'must be 0..23' }]);
  }
}

function checkSegment(field: string, value: string): void {
  if (!SAFE_SEGMENT_RE.test(value) || value === '.' || value === '..') {
    throw new InvalidArgument(`lake ${field} may only contain letters, digits, ".", "_" and "-", got "${value}"`, [
      { field, message: 'may only contain letters, digits, ".", "_" and "-"' },
    ]);
  }
}

/** `events/date=YYYY-MM-DD/hour=HH/` for a UTC day and hour. */
export function eventPartitionPrefix(date: string, hour: number): string {
  checkDate(date);
  checkHour(hour);
  return `events/date=${date}/hour=${String(hour).padStart(2, '0')}/`;
}

/** `events/date=YYYY-MM-DD/` for a UTC day (all hours). */
export function eventDatePrefix(date: string): string {
  checkDate(date);
  return `events/date=${date}/`;
}

/**
 * `events/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet`. `seq` is zero-padded to
 * {@link EVENT_FILE_SEQ_DIGITS} digits so a writer's files sort in write order.
 */
export function eventFileKey(date: string, hour: number, writer: string, seq: number): string {
  checkSegment('writer', writer);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new InvalidArgument(`lake file seq must be a non-negative integer, got ${seq}`, [{ field: 'seq', message: 'must be a non-negative integer' }]);
  }
  return `${eventPartitionPrefix(date, hour)}${writer}-${String(seq).padStart(EVENT_FILE_SEQ_DIGITS, '0')}.parquet`;
}

/** `vehicles/date=YYYY-MM-DD/vehicles.parquet`: the catalog as of that day 00:00 UTC. */
export function vehicleSnapshotKey(date: string): string {
  checkDate(date);
  return `vehicles/date=${date}/vehicles.parquet`;
}

/** `models/<model>/<runId>/`: artefacts and reports of one batch run. */
export function modelArtifactPrefix(model: string, runId: string): string {
  checkSegment('model', model);
  checkSegment('runId', runId);
  return `models/${model}/${runId}/`;
}

/**
 * `deadletter/<source>/date=YYYY-MM-DD/<name>`: records a writer could not store
 * (unparseable entries, poison messages). `date` is the UTC day they were set aside.
 */
export function deadletterKey(source: string, date: string, name: string): string {
  checkSegment('source', source);
  checkDate(date);
  checkSegment('name', name);
  return `deadletter/${source}/date=${date}/${name}`;
}

/** The UTC `{date, hour}` partition an ISO-8601 instant falls into. */
export function partitionOf(occurredAtIso: string): { date: string; hour: number } {
  const ms = Date.parse(occurredAtIso);
  if (Number.isNaN(ms)) {
    throw new InvalidArgument(`not an ISO-8601 timestamp: "${occurredAtIso}"`, [{ field: 'occurredAt', message: 'must be an ISO-8601 timestamp' }]);
  }
  return partitionOfMillis(ms);
}

/** The UTC `{date, hour}` partition of epoch milliseconds. */
export function partitionOfMillis(ms: number): { date: string; hour: number } {
  const iso = new Date(ms).toISOString();
  return { date: iso.slice(0, 10), hour: Number(iso.slice(11, 13)) };
}

/** Parses `date=YYYY-MM-DD/hour=HH` out of an event key; undefined when the key is not one. */
export function parseEventKey(key: string): { date: string; hour: number; file: string } | undefined {
  const m = /^events\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([^/]+)$/.exec(key);
  if (!m) return undefined;
  return { date: m[1]!, hour: Number(m[2]), file: m[3]! };
}
