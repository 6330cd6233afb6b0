import type { ShowroomEvent, VehicleAttributes } from '../domain/event.js';
import type { InventoryView, SessionSignals } from '../rerank/rerank.js';

export type { RecentEngagement, RecentSearch } from '../rerank/rerank.js';

/** Bounds of a live profile. */
export const PROFILE_LIMITS = {
  /** Engaged vehicles kept per customer (newest by occurredAt). */
  recent: 50,
  /** Searches kept per customer. */
  searches: 20,
  /** Hidden / purchased vehicles kept per customer. */
  hidden: 500,
  purchased: 200,
  /** Seconds a profile lives after its last event: 30 days. */
  ttlSeconds: 30 * 24 * 3600,
} as const;

/**
 * A customer's live profile: what the re-ranker needs (SessionSignals). Times are epoch ms (UTC),
 * lists are newest first. A customer without events has an empty profile, not an error.
 */
export interface CustomerProfile extends SessionSignals {
  customerId: string;
}

/** Live inventory state: sold / unavailable vehicles, current prices, attributes of new listings. */
export interface InventoryState extends InventoryView {
  /** Attributes from `vehicle_listed` events (vehicles newer than the nightly catalog). */
  listed(vehicleId: string): VehicleAttributes | undefined;
  /** Number of vehicles currently marked sold. */
  readonly soldCount: number;
}

export interface ApplyResult {
  /**
   * Events that changed state. (A replayed customer event older than the kept window is
   * re-added and trimmed in the same call: it counts as applied, the state does not change.)
   */
  applied: number;
  /** Events already applied before (idempotency), or that carry nothing to apply. */
  skipped: number;
}

/**
 * Live customer profiles and inventory state (Redis in every deployment).
 *
 * - `applyEvents` is idempotent per `eventId`: applying the same events again (the API applies
 *   them for read-your-writes, the profile consumer applies them again from the log) changes nothing.
 * - `getProfile` costs at most one round trip (none for a profile the store may keep: it must then
 *   learn of every change to it, e.g. from Redis client tracking, and reflect this process's own
 *   writes at once); it also refreshes the process-local inventory cache when it is older than the
 *   store's refresh interval (so "sold" propagates well within 1 s).
 * - Every method rejects with Unavailable when the store cannot be reached.
 */
export interface ProfileStore {
  applyEvents(events: readonly ShowroomEvent[]): Promise<ApplyResult>;
  getProfile(customerId: string): Promise<CustomerProfile>;
  /** Live inventory, refreshed if older than the refresh interval. */
  getInventory(): Promise<InventoryState>;
  /** The last inventory state read, without I/O (may be stale, for degraded serving). */
  cachedInventory(): InventoryState;
  ping(): Promise<void>;
  /** Releases timers; does not close a Redis connection passed in. */
  close(): Promise<void>;
}
