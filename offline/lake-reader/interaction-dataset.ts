import { CUSTOMER_EVENT_TYPES, type CustomerEventType } from '../../shared/domain/event.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { EVENT_WEIGHTS } from '../../shared/features/event-weights.js';

/** Customer event type codes stored in `InteractionDataset.type` (index into CUSTOMER_EVENT_TYPES). */
export const TYPE_CODES: Readonly<Record<CustomerEventType, number>> = Object.fromEntries(
  CUSTOMER_EVENT_TYPES.map((t, i) => [t, i]),
) as Record<CustomerEventType, number>;
/** EVENT_WEIGHTS indexed by type code (hot loops use this instead of the record). */
export const WEIGHT_BY_CODE: Float64Array = Float64Array.from(CUSTOMER_EVENT_TYPES.map((t) => EVENT_WEIGHTS[t]));
export const PURCHASE_CODE = TYPE_CODES.purchase;
export const HIDE_CODE = TYPE_CODES.hide;

/** The catalog as of an instant: every known vehicle, its attributes and whether it is for sale. */
export interface Catalog {
  /** ISO-8601 UTC instant the catalog describes. */
  asOf: string;
  /** Date (YYYY-MM-DD) of the snapshot the catalog was built from. */
  snapshotDate: string;
  vehicles: Map<string, Vehicle>;
  /** Vehicle ids for sale at `asOf` (not sold, listed). */
  forSale: Set<string>;
  /** Inventory events applied on top of the snapshot. */
  inventoryEventsApplied: number;
  /** Snapshot rows and inventory events left out for a vehicleId outside the id alphabet. */
  skippedVehicleIds?: { count: number; examples: string[] };
}

/**
 * Rows the lake reader left out because an id is outside the id alphabet (`shared/domain/ids.ts`):
 * such rows reach the lake from before the event schema enforced it, or from other producers, and
 * Cosmos DB cannot hold a document for them. Each skipped event is counted once, under the first
 * bad field (eventId, then customerId, then vehicleId); `catalogVehicleId` counts catalog rows
 * (snapshot or inventory events) with a bad vehicleId. `examples` holds a few of the bad ids.
 */
export interface SkippedRows {
  eventId: number;
  customerId: number;
  vehicleId: number;
  catalogVehicleId: number;
  examples: string[];
}

/** The skipped-row counts as flat run-record counts (`skippedInvalidCustomerId`, ...). */
export function skippedRowCounts(skipped: SkippedRows | undefined): Record<string, number> {
  return {
    skippedInvalidEventId: skipped?.eventId ?? 0,
    skippedInvalidCustomerId: skipped?.customerId ?? 0,
    skippedInvalidVehicleId: skipped?.vehicleId ?? 0,
    skippedInvalidCatalogVehicleId: skipped?.catalogVehicleId ?? 0,
  };
}

/** Total rows skipped for an invalid id. */
export function skippedRowTotal(skipped: SkippedRows | undefined): number {
  return skipped ? skipped.eventId + skipped.customerId + skipped.vehicleId + skipped.catalogVehicleId : 0;
}

/**
 * Customer-vehicle interactions of a window in compact typed arrays, sorted by customer then
 * time. Indices refer to `customerIds` / `vehicleIds`. Times are epoch milliseconds (UTC).
 * Only events naming a vehicle are kept (search events name none and weigh 0).
 */
export interface InteractionDataset {
  /** Window `[startMs, asOfMs)`, epoch ms. */
  startMs: number;
  asOfMs: number;
  customerIds: string[];
  vehicleIds: string[];
  /** Attributes by vehicle index; undefined for a vehicle seen in events but absent from the catalog. */
  vehicles: (Vehicle | undefined)[];
  /** 1 when the vehicle is for sale at `asOfMs`. */
  forSale: Uint8Array;
  /** Number of interactions. */
  n: number;
  customer: Int32Array;
  vehicle: Int32Array;
  /** Type code (TYPE_CODES). */
  type: Uint8Array;
  time: Float64Array;
  /** `properties.value` (1 when absent). */
  value: Float32Array;
  /** CSR offsets: interactions of customer c are `[customerStart[c], customerStart[c+1])`. */
  customerStart: Int32Array;
  stats: {
    events: number;
    duplicates: number;
    inventoryEvents: number;
    snapshotDate: string;
    /** Event files read (lake reader only). */
    files?: number;
    /** Milliseconds per reader step (lake reader only). */
    steps?: Record<string, number>;
    /** Rows left out for an id outside the id alphabet (lake reader only). */
    skipped?: SkippedRows;
  };
}

/** Builds `customerStart` from a customer column sorted ascending. */
export function customerOffsets(customer: Int32Array, n: number, customers: number): Int32Array {
  const start = new Int32Array(customers + 1);
  for (let i = 0; i < n; i++) start[customer[i]! + 1]! += 1;
  for (let c = 0; c < customers; c++) start[c + 1]! += start[c]!;
  return start;
}

/**
 * A dataset holding the interactions for which `keep(i)` is true (same customer/vehicle indices,
 * catalog and window unless overridden). Used to split train/test.
 */
export function subsetDataset(
  data: InteractionDataset,
  keep: (i: number) => boolean,
  overrides: Partial<Pick<InteractionDataset, 'asOfMs' | 'startMs' | 'forSale'>> = {},
): InteractionDataset {
  const idx: number[] = [];
  for (let i = 0; i < data.n; i++) if (keep(i)) idx.push(i);
  const n = idx.length;
  const customer = new Int32Array(n);
  const vehicle = new Int32Array(n);
  const type = new Uint8Array(n);
  const time = new Float64Array(n);
  const value = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const i = idx[j]!;
    customer[j] = data.customer[i]!;
    vehicle[j] = data.vehicle[i]!;
    type[j] = data.type[i]!;
    time[j] = data.time[i]!;
    value[j] = data.value[i]!;
  }
  return {
    ...data,
    ...overrides,
    n,
    customer,
    vehicle,
    type,
    time,
    value,
    customerStart: customerOffsets(customer, n, data.customerIds.length),
  };
}

/** Builds a dataset from plain interaction records (tests, imports, small tools). */
export function datasetFromInteractions(
  rows: { customerId: string; vehicleId: string; type: CustomerEventType; occurredAt: string | number; value?: number }[],
  options: { asOf: string | number; startMs?: number; catalog?: Vehicle[]; forSale?: string[] },
): InteractionDataset {
  const asOfMs = typeof options.asOf === 'number' ? options.asOf : Date.parse(options.asOf);
  const customerIds = [...new Set(rows.map((r) => r.customerId))].sort();
  const vehicleSet = new Set<string>(rows.map((r) => r.vehicleId));
  for (const v of options.catalog ?? []) vehicleSet.add(v.vehicleId);
  const vehicleIds = [...vehicleSet].sort();
  const cIdx = new Map(customerIds.map((c, i) => [c, i]));
  const vIdx = new Map(vehicleIds.map((v, i) => [v, i]));
  const catalog = new Map((options.catalog ?? []).map((v) => [v.vehicleId, v]));
  const forSaleIds = new Set(options.forSale ?? (options.catalog ? options.catalog.filter((v) => !v.soldAt).map((v) => v.vehicleId) : vehicleIds));
  const sorted = rows
    .map((r) => ({ ...r, t: typeof r.occurredAt === 'number' ? r.occurredAt : Date.parse(r.occurredAt) }))
    .filter((r) => r.t < asOfMs && (options.startMs === undefined || r.t >= options.startMs))
    .sort((a, b) => cIdx.get(a.customerId)! - cIdx.get(b.customerId)! || a.t - b.t);
  const n = sorted.length;
  const customer = new Int32Array(n);
  const vehicle = new Int32Array(n);
  const type = new Uint8Array(n);
  const time = new Float64Array(n);
  const value = new Float32Array(n);
  sorted.forEach((r, i) => {
    customer[i] = cIdx.get(r.customerId)!;
    vehicle[i] = vIdx.get(r.vehicleId)!;
    type[i] = TYPE_CODES[r.type];
    time[i] = r.t;
    value[i] = r.value ?? 1;
  });
  return {
    startMs: options.startMs ?? (n > 0 ? time.reduce((m, t) => Math.min(m, t), Infinity) : asOfMs),
    asOfMs,
    customerIds,
    vehicleIds,
    vehicles: vehicleIds.map((v) => catalog.get(v)),
    forSale: Uint8Array.from(vehicleIds.map((v) => (forSaleIds.has(v) ? 1 : 0))),
    n,
    customer,
    vehicle,
    type,
    time,
    value,
    customerStart: customerOffsets(customer, n, customerIds.length),
    stats: { events: n, duplicates: 0, inventoryEvents: 0, snapshotDate: '' },
  };
}
