import type { CustomerEventType, SearchFilters } from '../domain/event.js';
import type { RecentEngagement, RecentSearch } from './profile-store.js';

// Profile sets as RedisProfileStore reads them: members are JSON arrays — engagements
// `[eventId, type, vehicleId, value|null]`, searches `[eventId, filters, query|null]` — scored
// by time (epoch ms), and a set comes back as its WITHSCORES reply joined with commas.

/**
 * A joined `WITHSCORES` reply (READ_PROFILE_SCRIPT) parsed: member, score, member, score, ...;
 * undefined when it does not parse (some member is not JSON) or a score is not a number.
 */
export function parseJoined(text: string): unknown[] | undefined {
  if (text === '') return [];
  try {
    const all = JSON.parse(`[${text}]`) as unknown[];
    if (all.length % 2 !== 0) return undefined;
    for (let i = 1; i < all.length; i += 2) if (typeof all[i] !== 'number') return undefined;
    return all;
  } catch {
    return undefined;
  }
}

/** Maps the member/score pairs of a parsed set, skipping members that are not arrays. */
function entries<T>(flat: readonly unknown[], read: (member: unknown[], score: number) => T): T[] {
  const out: T[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const m = flat[i];
    if (Array.isArray(m)) out.push(read(m, flat[i + 1] as number));
  }
  return out;
}

/** Engagements of the recent set (member, score pairs); members that are not `[id, type, vehicleId, value]` arrays are skipped. */
export function parseRecent(flat: readonly unknown[]): RecentEngagement[] {
  return entries(flat, (m, at) => {
    const [, type, vehicleId, value] = m as [string, CustomerEventType, string, number | null];
    const e: RecentEngagement = { vehicleId, type, at };
    if (value !== null && value !== undefined) e.value = value;
    return e;
  });
}

/** Searches of the search set (member, score pairs); members that are not `[id, filters, query]` arrays are skipped. */
export function parseSearches(flat: readonly unknown[]): RecentSearch[] {
  return entries(flat, (m, at) => {
    const [, filters, query] = m as [string, SearchFilters, string | null];
    const s: RecentSearch = { filters: filters ?? {}, at };
    if (query !== null && query !== undefined) s.query = query;
    return s;
  });
}
