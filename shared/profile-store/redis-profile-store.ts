import type { ChainableCommander } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { ShowroomEvent, VehicleAttributes } from '../domain/event.js';
import { isInventoryEvent } from '../domain/event.js';
import { Unavailable, errorMessage } from '../errors/app-error.js';
import { ClientTracking, type ClientTrackingOptions } from '../redis/client-tracking.js';
import { luaScript } from '../redis/lua-script.js';
import { pingRedis, type Redis } from '../redis/redis-connection.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import { getOrCreate } from '../telemetry/metrics.js';
import { parseJoined, parseRecent, parseSearches } from './profile-entries.js';
import {
  PROFILE_LIMITS,
  type ApplyResult,
  type CustomerProfile,
  type InventoryState,
  type ProfileStore,
  type RecentEngagement,
  type RecentSearch,
} from './profile-store.js';

export interface RedisProfileStoreOptions {
  /** A fail-fast command connection (`createRedis`); the store does not close it. */
  redis: Redis;
  /** Prefix of every key (default `showroom:`). */
  prefix?: string;
  /** Age after which the local inventory cache is refreshed on the next read, ms (default 100). */
  inventoryRefreshMs?: number;
  /** Seconds an inventory event's "applied" marker lives (default 8 days, longer than log retention). */
  inventoryMarkerTtlSeconds?: number;
  /** Customers whose last read profiles are kept (default 20,000; 0 = none): to skip parsing a text that did not change, and with `tracking` to skip the read. */
  parsedProfiles?: number;
  /**
   * Client-side caching (Redis `CLIENT TRACKING`): with it the store opens two connections of its
   * own (reads Redis tracks, invalidations), and answers a kept profile without a round trip
   * while Redis has not said that any of its keys changed (see `getProfile`).
   */
  tracking?: Pick<ClientTrackingOptions, 'connect' | 'heartbeatMs'>;
  logger?: Logger;
  /** Counts profile reads by where they were answered from (`showroom_profile_reads_total`). */
  registry?: Registry;
}

/** A customer's last read profile, with the texts its lists were parsed from. */
interface ParsedSets {
  recentText: string;
  recent: RecentEngagement[];
  searchText: string;
  searches: RecentSearch[];
  profile: CustomerProfile;
  /** The tracking epoch the profile was read in (served without a read while it is current), 0 when it must be read. */
  epoch: number;
}

/** Reads of one customer in flight, and whether Redis invalidated the customer's keys meanwhile. */
interface PendingReads {
  reads: number;
  invalidations: number;
}

/** Resolves `value` in the check phase of this loop turn (after the I/O callbacks that are due). */
const nextTurn = <T>(value: T): Promise<T> => new Promise((resolve) => setImmediate(resolve, value));

const INVENTORY_SCRIPT = luaScript('showroom inventory apply', `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[6]) then return 0 end
local t = ARGV[1]
if t == 'vehicle_sold' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
elseif t == 'vehicle_listed' then
  redis.call('HDEL', KEYS[2], ARGV[2])
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[4], ARGV[2], ARGV[5]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[4]) end
elseif t == 'vehicle_price_changed' then
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[4]) end
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 't', t, 'v', ARGV[2], 'p', ARGV[4], 'a', ARGV[5])
return 1
`, 5);

/**
 * Bounded sorted-set adds for many keys in one call. ARGV[1] = TTL (s); then per key: keep,
 * NX flag (1 = add new members only, 0 = also move existing ones), pair count n, n score/member
 * pairs. Each set gets its members, is trimmed to its newest `keep` and its TTL refreshed.
 * Returns, per key, the members added.
 */
const BOUNDED_ADD_SCRIPT = luaScript('showroom bounded add many', `
local ttl = ARGV[1]
local a = 2
local out = {}
for k = 1, #KEYS do
  local keep = tonumber(ARGV[a])
  local nx = ARGV[a + 1] == '1'
  local n = tonumber(ARGV[a + 2])
  a = a + 3
  local added
  if nx then
    added = redis.call('ZADD', KEYS[k], 'NX', unpack(ARGV, a, a + 2 * n - 1))
  else
    added = redis.call('ZADD', KEYS[k], unpack(ARGV, a, a + 2 * n - 1))
  end
  a = a + 2 * n
  redis.call('ZREMRANGEBYRANK', KEYS[k], 0, -(keep + 1))
  redis.call('EXPIRE', KEYS[k], ttl)
  out[k] = added
end
return out
`);

/** Most sorted sets per call of BOUNDED_ADD_SCRIPT (bounds the time one script holds Redis). */
const BOUNDED_ADD_KEYS_PER_CALL = 500;

/**
 * The four profile sets of one customer in one command: engagements and searches newest first,
 * each as its `WITHSCORES` reply joined with commas (members are JSON and scores numbers, so
 * `[<text>]` is one JSON array to parse instead of two strings per member), then hidden and purchased.
 */
const READ_PROFILE_SCRIPT = luaScript('showroom read profile', `
return {
  table.concat(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES'), ','),
  table.concat(redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES'), ','),
  redis.call('ZRANGE', KEYS[3], 0, -1),
  redis.call('ZRANGE', KEYS[4], 0, -1)
}
`, 4);

const CHANGES_MAXLEN = 100_000;
const SYNC_BATCH = 5_000;

type Reply = [Error | null, unknown][] | null;
type StreamEntry = [string, string[]];

/** Compares Redis stream ids ("ms-seq"). */
function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const d = Number(am) - Number(bm);
  return d !== 0 ? d : Number(as) - Number(bs);
}

class LocalInventory implements InventoryState {
  sold = new Set<string>();
  prices = new Map<string, number>();
  listedAttrs = new Map<string, VehicleAttributes>();
  /** Bumped by every change (the re-ranker indexes sold vehicles and prices by catalog slot once per revision). */
  revision = 0;
  soldIds(): Iterable<string> {
    return this.sold;
  }
  pricedIds(): Iterable<[string, number]> {
    return this.prices;
  }
  isSold(vehicleId: string): boolean {
    return this.sold.has(vehicleId);
  }
  price(vehicleId: string): number | undefined {
    return this.prices.get(vehicleId);
  }
  listed(vehicleId: string): VehicleAttributes | undefined {
    return this.listedAttrs.get(vehicleId);
  }
  get soldCount(): number {
    return this.sold.size;
  }
}

/**
 * ProfileStore on Redis. Keys (`P` = prefix; `{…}` hash tags keep one customer's keys in one
 * cluster slot):
 * - `P c:{customerId}:r` sorted set of engagements (score = occurredAt ms, member = JSON
 *   `[eventId, type, vehicleId, value]`), newest 50 kept;
 * - `P c:{customerId}:s` searches (member `[eventId, filters, query]`), newest 20;
 * - `P c:{customerId}:h` / `:b` hidden / purchased vehicles (member vehicleId);
 *   all expire 30 days after the customer's last event.
 * - `P {inv}:sold` / `:price` / `:listed` hashes, `P {inv}:changes` stream of inventory changes
 *   (the process-local cache follows it incrementally), `P {inv}:ap:<eventId>` applied markers.
 *
 * Idempotency: customer events are members of sorted sets keyed by eventId (`ZADD NX`), so
 * re-applying is a no-op; inventory events are applied by a Lua script guarded by a marker.
 */
export class RedisProfileStore implements ProfileStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly refreshMs: number;
  private readonly markerTtl: number;
  private readonly logger: Logger;
  private inventory = new LocalInventory();
  /** Last change-stream id folded into `inventory`; undefined until the first full load. */
  private lastChangeId: string | undefined;
  private syncedAt = 0;
  private fullLoad: Promise<void> | undefined;
  /**
   * Last parsed engagements and searches per customer with their texts: a read whose texts equal
   * them (a string compare) reuses the parsed lists instead of parsing again. Always checked
   * against what Redis just returned, so never stale. (The lists are shared: callers treat them
   * as read-only, as the profile type says.)
   */
  private readonly parsed: LRUCache<string, ParsedSets> | undefined;
  private readonly tracking: ClientTracking | undefined;
  /** Customers with a read in flight (tracking only): an invalidation meanwhile keeps the read's answer out of the cache. */
  private readonly pending = new Map<string, PendingReads>();
  private readonly reads: Counter<'source'> | undefined;

  constructor(options: RedisProfileStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'showroom:';
    this.refreshMs = options.inventoryRefreshMs ?? 100;
    this.markerTtl = options.inventoryMarkerTtlSeconds ?? 8 * 24 * 3600;
    this.logger = options.logger ?? silentLogger();
    const parsed = options.parsedProfiles ?? 20_000;
    this.parsed = parsed > 0 ? new LRUCache({ max: parsed }) : undefined;
    if (this.parsed && options.tracking) {
      this.tracking = new ClientTracking({ ...options.tracking, name: 'profile', logger: this.logger, onInvalidate: (keys) => this.invalidated(keys) });
    }
    const registry = options.registry;
    if (registry) {
      this.reads = getOrCreate(registry, 'showroom_profile_reads_total', () => new Counter({ name: 'showroom_profile_reads_total', help: 'Live profile reads, by where they were answered from (cache: kept and not invalidated by Redis)', labelNames: ['source'], registers: [registry] }));
    }
  }

  /** Whether profiles are currently answered from the process (client tracking established). */
  get caching(): boolean {
    return (this.tracking?.epoch ?? 0) !== 0;
  }

  private key(customerId: string, kind: 'r' | 's' | 'h' | 'b'): string {
    return `${this.prefix}c:{${customerId}}:${kind}`;
  }

  private inv(kind: 'sold' | 'price' | 'listed' | 'changes'): string {
    return `${this.prefix}{inv}:${kind}`;
  }

  /** Applies events (any mix of customer and inventory events) in one pipelined round trip. */
  async applyEvents(events: readonly ShowroomEvent[]): Promise<ApplyResult> {
    if (events.length === 0) return { applied: 0, skipped: 0 };
    // Read-your-writes: kept profiles of these customers are read again, and reads in flight are not kept.
    this.invalidateCustomers(events);
    const p = this.redis.pipeline();
    const counted: number[] = []; // pipeline index of a reply that says "applied" (1 or 0)
    const ttl = PROFILE_LIMITS.ttlSeconds;
    let skipped = 0;
    // Customer engagements, searches, hidden and purchased vehicles, grouped per sorted set: the
    // sets of all customers of the batch go in one script call (ZADD NX: idempotent per eventId),
    // which trims them and refreshes their TTL. One call spans many customers' keys: fine on the
    // single Redis node showroom connects to (a Redis Cluster client would have to split it by slot).
    const groups = new Map<string, { keep: number; nx: boolean; args: (string | number)[]; events: number; counted: boolean }>();
    const add = (key: string, score: number, member: string, keep: number, nx: boolean, counted: boolean) => {
      let g = groups.get(key);
      if (!g) {
        g = { keep, nx, args: [], events: 0, counted };
        groups.set(key, g);
      }
      g.args.push(score, member);
      g.events += 1;
    };
    const zaddBounded = (key: string, score: number, member: string, keep: number) => add(key, score, member, keep, true, true);
    const bounded = (key: string, score: number, member: string, keep: number) => add(key, score, member, keep, false, false);
    for (const e of events) {
      const at = Date.parse(e.occurredAt);
      if (isInventoryEvent(e.type)) {
        if (!e.vehicleId) {
          skipped += 1;
          continue;
        }
        const price = e.properties?.price ?? (e.type === 'vehicle_listed' ? e.properties?.vehicle?.price : undefined);
        const attrs = e.type === 'vehicle_listed' && e.properties?.vehicle ? JSON.stringify(e.properties.vehicle) : '';
        counted.push(p.length);
        INVENTORY_SCRIPT.run(
          p,
          [`${this.prefix}{inv}:ap:${e.eventId}`, this.inv('sold'), this.inv('price'), this.inv('listed'), this.inv('changes')],
          [e.type, e.vehicleId, e.occurredAt, price === undefined ? '' : String(price), attrs, String(this.markerTtl), String(CHANGES_MAXLEN)],
        );
        continue;
      }
      if (!e.customerId) {
        skipped += 1;
        continue;
      }
      if (e.type === 'search') {
        zaddBounded(this.key(e.customerId, 's'), at, JSON.stringify([e.eventId, e.properties?.filters ?? {}, e.properties?.query ?? null]), PROFILE_LIMITS.searches);
        continue;
      }
      if (!e.vehicleId) {
        skipped += 1;
        continue;
      }
      zaddBounded(this.key(e.customerId, 'r'), at, JSON.stringify([e.eventId, e.type, e.vehicleId, e.properties?.value ?? null]), PROFILE_LIMITS.recent);
      if (e.type === 'hide') bounded(this.key(e.customerId, 'h'), at, e.vehicleId, PROFILE_LIMITS.hidden);
      if (e.type === 'purchase') bounded(this.key(e.customerId, 'b'), at, e.vehicleId, PROFILE_LIMITS.purchased);
    }
    const calls: { index: number; groups: { events: number; counted: boolean }[] }[] = [];
    const all = [...groups];
    for (let i = 0; i < all.length; i += BOUNDED_ADD_KEYS_PER_CALL) {
      const chunk = all.slice(i, i + BOUNDED_ADD_KEYS_PER_CALL);
      const args: (string | number)[] = [ttl];
      for (const [, g] of chunk) args.push(g.keep, g.nx ? 1 : 0, g.events, ...g.args);
      calls.push({ index: p.length, groups: chunk.map(([, g]) => g) });
      BOUNDED_ADD_SCRIPT.run(
        p,
        chunk.map(([key]) => key),
        args,
      );
    }
    let replies: unknown[];
    try {
      replies = await this.exec(p, 'apply events');
    } finally {
      // Again once the write is done: a read that began after the first marks and ran before the write is not kept either.
      this.invalidateCustomers(events);
    }
    let applied = 0;
    for (const i of counted) {
      if (Number(replies[i]) === 1) applied += 1;
      else skipped += 1;
    }
    for (const call of calls) {
      const added = replies[call.index] as number[];
      call.groups.forEach((g, k) => {
        if (!g.counted) return;
        applied += Number(added[k]);
        skipped += g.events - Number(added[k]);
      });
    }
    // Fold our own inventory writes in at once (read-your-writes in this process).
    if (events.some((e) => isInventoryEvent(e.type))) this.syncedAt = 0;
    return { applied, skipped };
  }

  /**
   * One round trip: the four profile sets, plus the inventory change feed when the cache is stale.
   * With tracking, a kept profile whose keys Redis has not invalidated is answered without one,
   * in the check phase of the loop turn (`setImmediate`): requests that arrived together are then
   * re-ranked back to back, as they are after a shared round trip (measured: 30 µs less CPU per
   * request than answering each at once).
   */
  async getProfile(customerId: string): Promise<CustomerProfile> {
    if (this.lastChangeId === undefined) await this.loadInventory();
    const known = this.parsed?.get(customerId);
    const epoch = this.tracking?.epoch ?? 0;
    if (known !== undefined && epoch !== 0 && known.epoch === epoch) {
      this.reads?.inc({ source: 'cache' });
      const from = this.staleFrom();
      if (from !== undefined) await this.syncInventory(from);
      return nextTurn(known.profile);
    }
    this.reads?.inc({ source: 'redis' });
    const keys = [this.key(customerId, 'r'), this.key(customerId, 's'), this.key(customerId, 'h'), this.key(customerId, 'b')];
    const limits = [PROFILE_LIMITS.recent, PROFILE_LIMITS.searches];
    // Tracked reads go through the connection whose reads Redis tracks.
    const reader = epoch !== 0 ? this.tracking!.reader : this.redis;
    let pending: PendingReads | undefined;
    let invalidations = 0;
    if (epoch !== 0) {
      pending = this.pending.get(customerId);
      if (!pending) {
        pending = { reads: 0, invalidations: 0 };
        this.pending.set(customerId, pending);
      }
      pending.reads += 1;
      invalidations = pending.invalidations;
    }
    let sets: [string, string, string[], string[]];
    try {
      sets = await this.readSets(reader, keys, limits);
    } finally {
      if (pending && --pending.reads === 0) this.pending.delete(customerId);
    }
    const [recentText, searchText, hidden, purchased] = sets;
    let recent = known?.recentText === recentText ? known.recent : undefined;
    let searches = known?.searchText === searchText ? known.searches : undefined;
    let whole = true;
    if (!recent || !searches) {
      const recentFlat = recent ? undefined : parseJoined(recentText);
      const searchFlat = searches ? undefined : parseJoined(searchText);
      recent ??= parseRecent(recentFlat ?? (await this.readFlat(keys[0], limits[0])));
      searches ??= parseSearches(searchFlat ?? (await this.readFlat(keys[1], limits[1])));
      // Only texts that parsed whole are remembered (a set read member by member is read so again).
      whole = (known?.recentText === recentText || recentFlat !== undefined) && (known?.searchText === searchText || searchFlat !== undefined);
    }
    const profile: CustomerProfile = { customerId, recent, searches, hidden: new Set(hidden), purchased: new Set(purchased) };
    if (whole) {
      // Kept for reads without a round trip only if tracking held and no invalidation came while the read was out.
      const tracked = epoch !== 0 && this.tracking!.epoch === epoch && pending!.invalidations === invalidations;
      this.parsed?.set(customerId, { recentText, recent, searchText, searches, profile, epoch: tracked ? epoch : 0 });
    }
    return profile;
  }

  /** The four sets in one command, with the stale inventory feed folded in (one pipeline) when due. */
  private async readSets(reader: Redis, keys: string[], limits: number[]): Promise<[string, string, string[], string[]]> {
    const from = this.staleFrom();
    if (from === undefined) {
      // The common case: one command, no pipeline.
      try {
        return (await READ_PROFILE_SCRIPT.call(reader, keys, limits)) as [string, string, string[], string[]];
      } catch (err) {
        throw new Unavailable(`Redis: read profile: ${errorMessage(err)}`, err);
      }
    }
    // One command for the customer's keys (one cluster slot), one for the stale inventory feed.
    const p = reader.pipeline();
    READ_PROFILE_SCRIPT.run(p, keys, limits);
    p.xrange(this.inv('changes'), from, '+', 'COUNT', SYNC_BATCH);
    const replies = await this.exec(p, 'read profile');
    this.foldChanges(from, replies[1] as StreamEntry[]);
    return replies[0] as [string, string, string[], string[]];
  }

  /** Marks the kept profiles and reads in flight of the events' customers as out of date (with tracking). */
  private invalidateCustomers(events: readonly ShowroomEvent[]): void {
    if (!this.tracking) return;
    for (const e of events) if (e.customerId !== undefined) this.invalidate(e.customerId);
  }

  /** Marks a customer's kept profile and reads in flight as out of date. */
  private invalidate(customerId: string): void {
    const known = this.parsed?.peek(customerId);
    if (known) known.epoch = 0;
    const pending = this.pending.get(customerId);
    if (pending) pending.invalidations += 1;
  }

  /** Keys Redis invalidated: the customers' profiles are read again (other keys are not cached). */
  private invalidated(keys: readonly string[]): void {
    const head = `${this.prefix}c:{`;
    for (const key of keys) {
      // `P c:{customerId}:k`, the customer id being anything between the braces.
      if (key.length > head.length + 3 && key.startsWith(head) && key[key.length - 3] === '}' && key[key.length - 2] === ':') {
        this.invalidate(key.slice(head.length, -3));
      }
    }
  }

  /** A set's newest `n` entries read member by member (one that is not JSON becomes undefined): when the joined text does not parse. */
  private async readFlat(key: string, n: number): Promise<unknown[]> {
    let flat: string[];
    try {
      flat = await this.redis.zrevrange(key, 0, n - 1, 'WITHSCORES');
    } catch (err) {
      throw new Unavailable(`Redis: read profile: ${errorMessage(err)}`, err);
    }
    const out: unknown[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      let member: unknown;
      try {
        member = JSON.parse(flat[i]) as unknown;
      } catch {
        member = undefined;
      }
      out.push(member, Number(flat[i + 1]));
    }
    return out;
  }

  async getInventory(): Promise<InventoryState> {
    if (this.lastChangeId === undefined) {
      await this.loadInventory();
      return this.inventory;
    }
    const from = this.staleFrom();
    if (from !== undefined) await this.syncInventory(from);
    return this.inventory;
  }

  /** Reads the inventory change feed from `from` and folds it into the local state. */
  private async syncInventory(from: string): Promise<void> {
    let entries: StreamEntry[];
    try {
      entries = (await this.redis.xrange(this.inv('changes'), from, '+', 'COUNT', SYNC_BATCH)) as StreamEntry[];
    } catch (err) {
      throw new Unavailable(`Redis: read inventory changes: ${errorMessage(err)}`, err);
    }
    this.foldChanges(from, entries);
  }

  cachedInventory(): InventoryState {
    return this.inventory;
  }

  async ping(): Promise<void> {
    await pingRedis(this.redis);
  }

  /** Closes the store's own connections (tracking); not the one passed in. */
  async close(): Promise<void> {
    await this.tracking?.close();
  }

  /** The change id to read from when the cache is stale, else undefined. Marks the read as started. */
  private staleFrom(): string | undefined {
    if (this.lastChangeId === undefined || this.fullLoad) return undefined;
    const now = Date.now();
    if (now - this.syncedAt < this.refreshMs) return undefined;
    this.syncedAt = now;
    return this.lastChangeId;
  }

  /** Applies change-stream entries read inclusively from `from`; reloads fully when the stream was trimmed past it. */
  private foldChanges(from: string, entries: StreamEntry[]): void {
    if (from !== '0-0' && (entries.length === 0 || entries[0][0] !== from)) {
      this.logger.warn({ from }, 'inventory change feed trimmed past the cache position; reloading');
      void this.loadInventory(true).catch(() => undefined);
      return;
    }
    for (const [id, fields] of entries) {
      if (this.lastChangeId !== undefined && compareStreamIds(id, this.lastChangeId) <= 0) continue;
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      this.applyChange(f.t, f.v, f.p, f.a);
      this.lastChangeId = id;
    }
    if (entries.length >= SYNC_BATCH) this.syncedAt = 0; // more to read
  }

  private applyChange(type: string | undefined, vehicleId: string | undefined, price: string | undefined, attrs: string | undefined): void {
    if (!vehicleId) return;
    const inv = this.inventory;
    inv.revision += 1;
    if (type === 'vehicle_sold') inv.sold.add(vehicleId);
    else if (type === 'vehicle_listed') {
      inv.sold.delete(vehicleId);
      if (attrs) {
        try {
          inv.listedAttrs.set(vehicleId, JSON.parse(attrs) as VehicleAttributes);
        } catch {
          // ignore a malformed entry
        }
      }
    }
    if ((type === 'vehicle_listed' || type === 'vehicle_price_changed') && price) {
      const n = Number(price);
      if (Number.isFinite(n)) inv.prices.set(vehicleId, n);
    }
  }

  /** Loads the whole inventory state consistently with the change-feed position (MULTI). */
  private loadInventory(force = false): Promise<void> {
    if (this.fullLoad) return this.fullLoad;
    if (!force && this.lastChangeId !== undefined) return Promise.resolve();
    this.fullLoad = (async () => {
      const m = this.redis.multi();
      m.xrevrange(this.inv('changes'), '+', '-', 'COUNT', 1);
      m.hgetall(this.inv('sold'));
      m.hgetall(this.inv('price'));
      m.hgetall(this.inv('listed'));
      const replies = await this.exec(m, 'load inventory');
      const last = replies[0] as StreamEntry[];
      const inv = new LocalInventory();
      for (const id of Object.keys(replies[1] as Record<string, string>)) inv.sold.add(id);
      for (const [id, p] of Object.entries(replies[2] as Record<string, string>)) {
        const n = Number(p);
        if (Number.isFinite(n)) inv.prices.set(id, n);
      }
      for (const [id, a] of Object.entries(replies[3] as Record<string, string>)) {
        try {
          inv.listedAttrs.set(id, JSON.parse(a) as VehicleAttributes);
        } catch {
          // ignore
        }
      }
      this.inventory = inv;
      this.lastChangeId = last.length > 0 ? last[0][0] : '0-0';
      this.syncedAt = Date.now();
    })().finally(() => {
      this.fullLoad = undefined;
    });
    return this.fullLoad;
  }

  private async exec(p: ChainableCommander, what: string): Promise<unknown[]> {
    let replies: Reply;
    try {
      replies = await p.exec();
    } catch (err) {
      throw new Unavailable(`Redis: ${what}: ${errorMessage(err)}`, err);
    }
    if (!replies) throw new Unavailable(`Redis: ${what}: transaction aborted`);
    const out: unknown[] = [];
    for (const [err, value] of replies) {
      if (err) throw new Unavailable(`Redis: ${what}: ${errorMessage(err)}`, err);
      out.push(value);
    }
    return out;
  }
}
