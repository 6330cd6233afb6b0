import { CUSTOMER_EVENT_TYPES, MAX_EVENTS_PER_REQUEST, parseEvent, type CustomerEventType, type ShowroomEvent } from '../../shared/domain/event.js';

const CUSTOMER_TYPES = new Set<string>(CUSTOMER_EVENT_TYPES);
const FAST_KEYS = new Set(['eventId', 'type', 'customerId', 'vehicleId', 'sessionId', 'occurredAt']);
/** `YYYY-MM-DDTHH:MM:SS[.fraction]Z`: a subset of what `z.iso.datetime({ offset: false })` accepts. */
const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?Z$/;

function isId(x: unknown): x is string {
  return typeof x === 'string' && x.length >= 1 && x.length <= 128;
}

/** True when `s` is certainly a valid timestamp for the schema (days past the 28th are left to zod). */
function isPlainUtc(s: string): boolean {
  const m = ISO_UTC.exec(s);
  if (!m) return false;
  const month = Number(m[2]);
  const day = Number(m[3]);
  return month >= 1 && month <= 12 && day >= 1 && day <= 28 && Number(m[4]) <= 23 && Number(m[5]) <= 59 && Number(m[6]) <= 59;
}

/**
 * The same event `parseEvent` would return for `raw`, when `raw` has the common shape (a customer
 * event with ids and `occurredAt` only); undefined otherwise (the caller then asks the schema).
 */
function fastEvent(raw: unknown, receivedAt: string): ShowroomEvent | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  for (const k in o) if (!FAST_KEYS.has(k)) return undefined;
  const { eventId, type, customerId, vehicleId, sessionId, occurredAt } = o;
  if (!isId(eventId) || typeof type !== 'string' || !CUSTOMER_TYPES.has(type) || !isId(customerId)) return undefined;
  if (vehicleId !== undefined && !isId(vehicleId)) return undefined;
  if (vehicleId === undefined && type !== 'search') return undefined;
  if (sessionId !== undefined && !isId(sessionId)) return undefined;
  if (typeof occurredAt !== 'string' || !isPlainUtc(occurredAt)) return undefined;
  // Keys in schema order, as the schema's output.
  const e: Partial<ShowroomEvent> = { eventId, type: type as CustomerEventType, customerId };
  if (vehicleId !== undefined) e.vehicleId = vehicleId;
  if (sessionId !== undefined) e.sessionId = sessionId;
  e.occurredAt = new Date(occurredAt).toISOString();
  e.receivedAt = receivedAt;
  return e as ShowroomEvent;
}

/**
 * Fast path of `parseEventBatch` for a `{ events: [...] }` body: events of the common shape are
 * checked by hand, the others by the schema (`parseEvent`). Returns undefined when the body is
 * not a batch or any event is invalid, so the caller runs `parseEventBatch` and reports exactly
 * the same errors. The events returned equal what `parseEventBatch(body, receivedAt)` returns.
 */
export function parseEventBatchFast(body: unknown, receivedAt: string): ShowroomEvent[] | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'events') return undefined;
  const list = (body as { events: unknown }).events;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EVENTS_PER_REQUEST) return undefined;
  const normalisedReceivedAt = new Date(receivedAt).toISOString();
  const out: ShowroomEvent[] = new Array<ShowroomEvent>(list.length);
  for (let i = 0; i < list.length; i++) {
    const raw: unknown = list[i];
    const fast = fastEvent(raw, normalisedReceivedAt);
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
