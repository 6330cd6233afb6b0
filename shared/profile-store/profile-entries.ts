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

/** Engagements of the recent set (member, score pairs); members that are not `[id, type, vehicleId, value]` arrays are skipped. */
export function parseRecent(flat: readonly unknown[]): RecentEngagement[] {
  const out: RecentEngagement[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const m = flat[i];
    if (!Array.isArray(m)) continue;
    const [, type, vehicleId, value] = m as [string, CustomerEventType, string, number | null];
    const e: RecentEngagement = { vehicleId, type, at: flat[i + 1] as number };
    if (value !== null && value !== undefined) e.value = value;
    out.push(e);
  }
  return out;
}

/** Searches of the search set (member, score pairs); members that are not `[id, filters, query]` arrays are skipped. */
export function parseSearches(flat: readonly unknown[]): RecentSearch[] {
  const out: RecentSearch[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const m = flat[i];
    if (!Array.isArray(m)) continue;
    const [, filters, query] = m as [string, SearchFilters, string | null];
    const s: RecentSearch = { filters: filters ?? {}, at: flat[i + 1] as number };
    if (query !== null && query !== undefined) s.query = query;
    out.push(s);
  }
  return out;
}

const QUOTE = 34;
const COMMA = 44;
const OPEN = 91;

/**
 * Engagements of a joined recent set read without JSON.parse (which would also build the unused
 * event id of every member): for text without backslashes, where every member is
 * `["<eventId>","<type>","<vehicleId>",<number|null>]` and every score a number. Undefined for
 * anything else — then `parseRecent(parseJoined(text))` decides. Same result as that path
 * whenever it answers (property-tested).
 */
export function parseRecentJoined(text: string): RecentEngagement[] | undefined {
  if (text.indexOf('\\') >= 0 || hasControlCharacter(text)) return undefined;
  const out: RecentEngagement[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (text.charCodeAt(i) !== OPEN || text.charCodeAt(i + 1) !== QUOTE) return undefined;
    const idEnd = text.indexOf('"', i + 2);
    if (idEnd < 0 || text.charCodeAt(idEnd + 1) !== COMMA || text.charCodeAt(idEnd + 2) !== QUOTE) return undefined;
    const typeEnd = text.indexOf('"', idEnd + 3);
    if (typeEnd < 0 || text.charCodeAt(typeEnd + 1) !== COMMA || text.charCodeAt(typeEnd + 2) !== QUOTE) return undefined;
    const vehicleEnd = text.indexOf('"', typeEnd + 3);
    if (vehicleEnd < 0 || text.charCodeAt(vehicleEnd + 1) !== COMMA) return undefined;
    const close = text.indexOf(']', vehicleEnd + 2);
    if (close < 0 || text.charCodeAt(close + 1) !== COMMA) return undefined;
    let end = text.indexOf(',', close + 2);
    if (end < 0) end = n;
    const valueText = text.slice(vehicleEnd + 2, close);
    const scoreText = text.slice(close + 2, end);
    if (!NUMBER.test(scoreText) || (valueText !== 'null' && !NUMBER.test(valueText))) return undefined;
    const e: RecentEngagement = { vehicleId: text.slice(typeEnd + 3, vehicleEnd), type: text.slice(idEnd + 3, typeEnd) as CustomerEventType, at: Number(scoreText) };
    if (valueText !== 'null') e.value = Number(valueText);
    out.push(e);
    i = end + 1;
  }
  return out;
}

/** Whether `text` holds a character JSON does not allow raw inside strings (below U+0020). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

/** A JSON number. */
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
