import { z } from 'zod';
import { InvalidArgument, type ProblemField } from '../errors/app-error.js';
import { idSchema } from './ids.js';

/** Event types a customer causes. */
export const CUSTOMER_EVENT_TYPES = ['view', 'favorite', 'unfavorite', 'search', 'lead', 'test_drive', 'purchase', 'hide'] as const;
/** Event types the inventory causes. */
export const INVENTORY_EVENT_TYPES = ['vehicle_listed', 'vehicle_sold', 'vehicle_price_changed'] as const;
export const EVENT_TYPES = [...CUSTOMER_EVENT_TYPES, ...INVENTORY_EVENT_TYPES] as const;

export type CustomerEventType = (typeof CUSTOMER_EVENT_TYPES)[number];
export type InventoryEventType = (typeof INVENTORY_EVENT_TYPES)[number];
export type EventType = (typeof EVENT_TYPES)[number];

/** Customer event types that name a vehicle. */
export const VEHICLE_ENGAGEMENT_TYPES: readonly CustomerEventType[] = ['view', 'favorite', 'unfavorite', 'lead', 'test_drive', 'purchase', 'hide'];

export function isInventoryEvent(type: EventType): type is InventoryEventType {
  return (INVENTORY_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Characters free text in an event must not hold: control characters (C0, DEL, C1; NUL included)
 * and lone UTF-16 surrogates. Neither survives the way to the lake unchanged (a lone surrogate
 * becomes U+FFFD in Parquet), so such a value is refused at the door rather than altered later.
 * A well-formed surrogate pair (an emoji) is one code point under the `u` flag and is allowed.
 */
export const UNSAFE_TEXT = /[\p{Cc}\p{Cs}]/u;

/** True when `s` holds no control character and no lone surrogate. */
export function isSafeText(s: string): boolean {
  return !UNSAFE_TEXT.test(s);
}

/** A free-text field of `min`..`max` UTF-16 code units without control characters or lone surrogates. */
export function safeText(max: number, min = 0) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine(isSafeText, 'must not contain control characters or lone UTF-16 surrogates');
}

const money = z.number().finite().nonnegative().max(10_000_000);

/** Search filters a customer applied (all optional). */
export const searchFiltersSchema = z.strictObject({
  make: safeText(64).optional(),
  model: safeText(64).optional(),
  bodyStyle: safeText(64).optional(),
  fuelType: safeText(32).optional(),
  priceMin: money.optional(),
  priceMax: money.optional(),
  yearMin: z.number().int().min(1900).max(2100).optional(),
  yearMax: z.number().int().min(1900).max(2100).optional(),
  mileageMax: z.number().nonnegative().max(2_000_000).optional(),
  location: safeText(64).optional(),
});
export type SearchFilters = z.infer<typeof searchFiltersSchema>;

/** Attributes of a vehicle, carried by `vehicle_listed` (and the catalog). */
export const vehicleAttributesSchema = z.strictObject({
  make: safeText(64, 1),
  model: safeText(64, 1),
  trim: safeText(64).optional(),
  year: z.number().int().min(1900).max(2100),
  bodyStyle: safeText(64, 1),
  fuelType: safeText(32).optional(),
  price: money,
  mileage: z.number().nonnegative().max(2_000_000).optional(),
  storeId: safeText(64).optional(),
});
export type VehicleAttributes = z.infer<typeof vehicleAttributesSchema>;

export const eventPropertiesSchema = z.strictObject({
  /** Price in USD: the listing price for `vehicle_price_changed`, the paid price for `purchase`. */
  price: money.optional(),
  previousPrice: money.optional(),
  filters: searchFiltersSchema.optional(),
  query: safeText(256).optional(),
  channel: safeText(32).optional(),
  position: z.number().int().nonnegative().optional(),
  /** Multiplies the event-type weight (imported ratings, dwell time...). */
  value: z.number().finite().min(-1000).max(1000).optional(),
  vehicle: vehicleAttributesSchema.optional(),
});
export type EventProperties = z.infer<typeof eventPropertiesSchema>;

const isoUtc = z.iso.datetime({ offset: false, message: 'must be an ISO-8601 UTC timestamp such as 2026-03-01T12:00:00Z' });

const baseEventSchema = z.strictObject({
  eventId: idSchema('eventId'),
  type: z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }),
  customerId: idSchema('customerId').optional(),
  vehicleId: idSchema('vehicleId').optional(),
  sessionId: idSchema('sessionId').optional(),
  occurredAt: isoUtc,
  receivedAt: isoUtc.optional(),
  properties: eventPropertiesSchema.optional(),
});

/** An event as clients send it (DESIGN.md §4). `receivedAt` is set by the server. */
export const eventSchema = baseEventSchema.superRefine((e, ctx) => {
  if (isInventoryEvent(e.type)) {
    if (!e.vehicleId) ctx.addIssue({ code: 'custom', path: ['vehicleId'], message: `is required for ${e.type} events` });
    if (e.type === 'vehicle_price_changed' && e.properties?.price === undefined) {
      ctx.addIssue({ code: 'custom', path: ['properties', 'price'], message: 'is required for vehicle_price_changed events' });
    }
  } else {
    if (!e.customerId) ctx.addIssue({ code: 'custom', path: ['customerId'], message: `is required for ${e.type} events` });
    if (e.type !== 'search' && !e.vehicleId) ctx.addIssue({ code: 'custom', path: ['vehicleId'], message: `is required for ${e.type} events` });
  }
});

export type EventInput = z.infer<typeof baseEventSchema>;
/** An event after acceptance: `occurredAt` normalised, `receivedAt` set. Dates are ISO-8601 UTC strings. */
export type ShowroomEvent = EventInput & { receivedAt: string };

/** Batch body of `POST /v1/events`. */
export const MAX_EVENTS_PER_REQUEST = 500;

/** Turns zod issues into problem fields, prefixed with `prefix` (e.g. `events[3].`). */
export function issuesToFields(issues: z.core.$ZodIssue[], prefix = '', index?: number): ProblemField[] {
  const out: ProblemField[] = [];
  for (const issue of issues) {
    const base = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = `${prefix}${base ? `${base}.` : ''}${key}`;
        out.push({ field, message: 'is not a known field', ...(index === undefined ? {} : { index }) });
      }
      continue;
    }
    out.push({ field: `${prefix}${base}` || '(body)', message: issue.message, ...(index === undefined ? {} : { index }) });
  }
  return out;
}

/**
 * Validates one event. Returns the accepted event (receivedAt set to `receivedAt` unless
 * `keepReceivedAt` and the event has one) or the problem fields.
 */
export function parseEvent(
  raw: unknown,
  options: { receivedAt?: string; keepReceivedAt?: boolean; prefix?: string; index?: number } = {},
): { ok: true; event: ShowroomEvent } | { ok: false; fields: ProblemField[] } {
  const r = eventSchema.safeParse(raw);
  if (!r.success) return { ok: false, fields: issuesToFields(r.error.issues, options.prefix, options.index) };
  const e = r.data;
  const receivedAt = options.keepReceivedAt && e.receivedAt ? e.receivedAt : (options.receivedAt ?? new Date().toISOString());
  return { ok: true, event: { ...e, occurredAt: new Date(e.occurredAt).toISOString(), receivedAt: new Date(receivedAt).toISOString() } };
}

/**
 * Validates a `POST /v1/events` body: one event or `{ events: [...] }` (1..500).
 * Throws InvalidArgument naming every invalid field of every event (`events[3].occurredAt`).
 */
export function parseEventBatch(body: unknown, receivedAt = new Date().toISOString()): ShowroomEvent[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidArgument('body must be an event object or {"events": [...]}', [{ field: '(body)', message: 'must be a JSON object' }]);
  }
  const isBatch = 'events' in body;
  if (!isBatch) {
    const r = parseEvent(body, { receivedAt });
    if (!r.ok) throw new InvalidArgument(`invalid event: ${describe(r.fields)}`, r.fields);
    return [r.event];
  }
  const keys = Object.keys(body).filter((k) => k !== 'events');
  if (keys.length > 0) {
    const fields = keys.map((k) => ({ field: k, message: 'is not a known field' }));
    throw new InvalidArgument(`invalid batch: ${describe(fields)}`, fields);
  }
  const list = (body as { events: unknown }).events;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_EVENTS_PER_REQUEST) {
    const fields = [{ field: 'events', message: `must be an array of 1 to ${MAX_EVENTS_PER_REQUEST} events` }];
    throw new InvalidArgument(`invalid batch: ${describe(fields)}`, fields);
  }
  const events: ShowroomEvent[] = [];
  const problems: ProblemField[] = [];
  list.forEach((raw, index) => {
    const r = parseEvent(raw, { receivedAt, prefix: `events[${index}].`, index });
    if (r.ok) events.push(r.event);
    else problems.push(...r.fields);
  });
  if (problems.length > 0) throw new InvalidArgument(`invalid events: ${describe(problems)}`, problems);
  return events;
}

function describe(fields: ProblemField[]): string {
  const shown = fields.slice(0, 10).map((f) => `${f.field} ${f.message}`).join('; ');
  return fields.length > 10 ? `${shown}; and ${fields.length - 10} more` : shown;
}

/** The event log partition key: one customer's events stay in order; inventory by vehicle. */
export function partitionKeyOf(event: Pick<ShowroomEvent, 'customerId' | 'vehicleId' | 'eventId' | 'type'>): string {
  if (isInventoryEvent(event.type)) return `v:${event.vehicleId ?? event.eventId}`;
  return `c:${event.customerId ?? event.eventId}`;
}
