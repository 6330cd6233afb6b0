import { EVENT_TYPES, INVENTORY_EVENT_TYPES, MAX_EVENTS_PER_REQUEST, UNSAFE_TEXT, parseEvent, type ShowroomEvent } from './event.js';
import { ID_PATTERN } from './ids.js';

// A hand-written copy of `eventSchema` (event.ts) for the hot paths (ingest, event-log decoders).
// It accepts a subset of what the schema accepts and returns what `parseEvent` returns, key order
// included; when unsure it returns undefined and the caller asks the schema, which names the
// errors. Change it together with event.ts: test/unit/fast-event-parse.test.ts checks the two agree.

/** Returned by a field parser for a value the schema may reject. */
const BAD: unique symbol = Symbol('bad');
type FieldParser = (value: unknown) => unknown;
/** Fields in schema order (= the order of the schema's output): key, optional, parser. */
type Shape = readonly (readonly [key: string, optional: boolean, parse: FieldParser])[];

const INVENTORY_TYPES = new Set<string>(INVENTORY_EVENT_TYPES);
const TYPES = new Set<string>(EVENT_TYPES);

/** `safeText(max, min)`: length in bounds, no control character, no lone surrogate. */
function str(min: number, max: number): FieldParser {
  return (v) => (typeof v === 'string' && v.length >= min && v.length <= max && !UNSAFE_TEXT.test(v) ? v : BAD);
}

/** `z.number()` with bounds (zod 4 rejects NaN and ±Infinity). */
function num(min: number, max: number): FieldParser {
  return (v) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : BAD);
}

/** `z.number().int()` with bounds (zod 4: a safe integer). */
function int(min: number, max: number): FieldParser {
  return (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : BAD);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * `z.strictObject(shape)` on a plain object: a new object with the shape's keys in shape order;
 * a key present with value undefined is kept as undefined (as zod does). BAD on anything else.
 */
function parseObject(v: unknown, shape: Shape, keys: ReadonlySet<string>): Record<string, unknown> | typeof BAD {
  if (!isPlainObject(v)) return BAD;
  for (const k in v) if (!keys.has(k)) return BAD;
  const out: Record<string, unknown> = {};
  for (const [key, optional, parse] of shape) {
    const x = v[key];
    if (x === undefined) {
      if (!optional) return BAD;
      if (key in v) out[key] = undefined;
      continue;
    }
    const r = parse(x);
    if (r === BAD) return BAD;
    out[key] = r;
  }
  return out;
}

function objectOf(shape: Shape): FieldParser {
  const keys = new Set(shape.map(([k]) => k));
  return (v) => parseObject(v, shape, keys);
}

/** Value of `digits` decimal digits of `s` at `at`, or -1. */
function digitsAt(s: string, at: number, digits: number): number {
  let n = 0;
  for (let i = at; i < at + digits; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Exactly `z.iso.datetime({ offset: false })`: `YYYY-MM-DDTHH:MM:SS[.digits]Z` naming a real
 * Gregorian day (Feb 29 in leap years only), hours 00-23, minutes and seconds 00-59.
 */
function isIsoUtc(s: string): boolean {
  const n = s.length;
  if (n < 20 || s.charCodeAt(n - 1) !== 90 /* Z */) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false;
  if (n > 20) {
    if (n === 21 || s.charCodeAt(19) !== 46 /* . */) return false;
    for (let i = 20; i < n - 1; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return false;
    }
  }
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  const hour = digitsAt(s, 11, 2);
  const minute = digitsAt(s, 14, 2);
  const second = digitsAt(s, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!);
}

/** `new Date(s).toISOString()` for an `isIsoUtc` string; already in that form (millisecond precision), `s` itself. */
function toIso(s: string): string {
  return s.length === 24 && s.charCodeAt(19) === 46 ? s : new Date(s).toISOString();
}

/** `idSchema(...)`: the id alphabet (ID_PATTERN bounds the length too). */
const id: FieldParser = (v) => (typeof v === 'string' && ID_PATTERN.test(v) ? v : BAD);
const isoUtc: FieldParser = (v) => (typeof v === 'string' && isIsoUtc(v) ? v : BAD);
const money = num(0, 10_000_000);
const year = int(1900, 2100);

const eventShape: Shape = [
  ['eventId', false, id],
  ['type', false, (v) => (typeof v === 'string' && TYPES.has(v) ? v : BAD)],
  ['customerId', true, id],
  ['vehicleId', true, id],
  ['sessionId', true, id],
  ['occurredAt', false, isoUtc],
  ['receivedAt', true, isoUtc],
  [
    'properties',
    true,
    objectOf([
      ['price', true, money],
      ['previousPrice', true, money],
      [
        'filters',
        true,
        objectOf([
          ['make', true, str(0, 64)],
          ['model', true, str(0, 64)],
          ['bodyStyle', true, str(0, 64)],
          ['fuelType', true, str(0, 32)],
          ['priceMin', true, money],
          ['priceMax', true, money],
          ['yearMin', true, year],
          ['yearMax', true, year],
          ['mileageMax', true, num(0, 2_000_000)],
          ['location', true, str(0, 64)],
        ]),
      ],
      ['query', true, str(0, 256)],
      ['channel', true, str(0, 32)],
      ['position', true, int(0, Number.MAX_SAFE_INTEGER)],
      ['value', true, num(-1000, 1000)],
      [
        'vehicle',
        true,
        objectOf([
          ['make', false, str(1, 64)],
          ['model', false, str(1, 64)],
          ['trim', true, str(0, 64)],
          ['year', false, year],
          ['bodyStyle', false, str(1, 64)],
          ['fuelType', true, str(0, 32)],
          ['price', false, money],
          ['mileage', true, num(0, 2_000_000)],
          ['storeId', true, str(0, 64)],
        ]),
      ],
    ]),
  ],
];
const eventKeys = new Set(eventShape.map(([k]) => k));

/** The event as `parseEvent` returns it, with `receivedAt` already normalised; undefined when unsure. */
function fastEvent(raw: unknown, keepReceivedAt: boolean, receivedAt: (() => string) | undefined): ShowroomEvent | undefined {
  const e = parseObject(raw, eventShape, eventKeys);
  if (e === BAD) return undefined;
  // The schema's superRefine.
  const type = e.type as string;
  if (INVENTORY_TYPES.has(type)) {
    if (!e.vehicleId) return undefined;
    if (type === 'vehicle_price_changed' && (e.properties as { price?: unknown } | undefined)?.price === undefined) return undefined;
  } else if (!e.customerId || (type !== 'search' && !e.vehicleId)) {
    return undefined;
  }
  // parseEvent's `{ ...e, occurredAt, receivedAt }`: e is ours, so assign in place (same key order).
  let received: string;
  if (keepReceivedAt && e.receivedAt) received = toIso(e.receivedAt as string);
  else if (receivedAt) received = receivedAt();
  else return undefined; // parseEvent would stamp the current time
  e.occurredAt = toIso(e.occurredAt as string);
  e.receivedAt = received;
  return e as unknown as ShowroomEvent;
}

/**
 * `parseEvent(value, options)` for the common case, without the schema: the accepted event
 * (equal to `parseEvent`'s, key order included), or undefined when the fast path is unsure (the
 * value may be invalid, or needs the current time as `receivedAt`). Call `parseEvent` then; it
 * decides and names the errors. Never returns an event the schema rejects.
 */
export function parseEventFast(value: unknown, options: { keepReceivedAt?: boolean; receivedAt?: string } = {}): ShowroomEvent | undefined {
  const given = options.receivedAt;
  return fastEvent(value, options.keepReceivedAt === true, given === undefined ? undefined : () => new Date(given).toISOString());
}

/**
 * Fast path of `parseEventBatch` for a `{ events: [...] }` body: events are checked by hand when
 * possible, by the schema (`parseEvent`) otherwise. Returns undefined when the body is not a batch
 * or any event is invalid, so the caller runs `parseEventBatch` and reports exactly the same
 * errors. The events returned equal what `parseEventBatch(body, receivedAt)` returns.
 */
export function parseEventBatchFast(body: unknown, receivedAt: string): ShowroomEvent[] | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'events') return undefined;
  const list = (body as { events: unknown }).events;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EVENTS_PER_REQUEST) return undefined;
  const normalised = new Date(receivedAt).toISOString();
  const stamp = () => normalised;
  const out: ShowroomEvent[] = new Array<ShowroomEvent>(list.length);
  for (let i = 0; i < list.length; i++) {
    const raw: unknown = list[i];
    const fast = fastEvent(raw, false, stamp);
    if (fast) {
      out[i] = fast;
      continue;
    }
    const r = parseEvent(raw, { receivedAt, prefix: `events[${i}].`, index: i });
    if (!r.ok) return undefined;
    out[i] = r.event;
  }
  return out;
}
