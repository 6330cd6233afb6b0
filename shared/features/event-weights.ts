import type { CustomerEventType } from '../domain/event.js';

/**
 * The one definition of how much each customer event says about interest in a vehicle.
 * The batch model (item-knn co-engagement, customer affinity) and the online re-ranker
 * (session affinity) both use these numbers, so offline and online never drift apart.
 * Negative weights express disinterest; `search` names no vehicle and weighs 0 here
 * (searches count through their filters, see attribute affinity).
 */
export const EVENT_WEIGHTS: Readonly<Record<CustomerEventType, number>> = {
  view: 1,
  search: 0,
  favorite: 4,
  unfavorite: -2,
  lead: 6,
  test_drive: 8,
  purchase: 10,
  hide: -6,
};

/** Events that count as "engaged" for evaluation (a stronger signal than a view). */
export const ENGAGED_EVENT_TYPES: readonly CustomerEventType[] = ['favorite', 'lead', 'test_drive', 'purchase'];

/** Half-life of interest for the offline model: 14 days. */
export const OFFLINE_HALF_LIFE_MS = 14 * 24 * 3600 * 1000;
/** Half-life of interest for the online session signal: 1 day (minutes-old events count most). */
export const ONLINE_HALF_LIFE_MS = 24 * 3600 * 1000;

/** exp(-ln2 · age / halfLife); ages ≤ 0 give 1. Ages and half-life in milliseconds. */
export function timeDecay(ageMs: number, halfLifeMs: number): number {
  if (ageMs <= 0) return 1;
  return Math.pow(0.5, ageMs / halfLifeMs);
}

/**
 * Weight of one interaction: event-type weight × optional `properties.value` × time decay.
 * `value` defaults to 1.
 */
export function interactionWeight(type: CustomerEventType, ageMs: number, halfLifeMs: number, value = 1): number {
  return EVENT_WEIGHTS[type] * value * timeDecay(ageMs, halfLifeMs);
}

/** Price bands (USD), used by popularity lists, attribute affinity and the generator. */
export const PRICE_BANDS = [
  { band: 'under-15k', min: 0, max: 15_000 },
  { band: '15k-25k', min: 15_000, max: 25_000 },
  { band: '25k-35k', min: 25_000, max: 35_000 },
  { band: '35k-50k', min: 35_000, max: 50_000 },
  { band: '50k-plus', min: 50_000, max: Number.POSITIVE_INFINITY },
] as const;
export type PriceBand = (typeof PRICE_BANDS)[number]['band'];

export function priceBand(price: number): PriceBand {
  for (const b of PRICE_BANDS) if (price < b.max) return b.band;
  return '50k-plus';
}
