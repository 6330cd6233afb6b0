import { Unavailable, errorMessage } from '../errors/app-error.js';
import { luaScript } from '../redis/lua-script.js';
import type { Redis } from '../redis/redis-connection.js';

/** Slot buckets of the claim keys: a batch's claims take at most this many script calls. */
export const CLAIM_BUCKETS = 16;

/** SET NX EX of every key (ARGV[1] = TTL s, ARGV[i+1] = the value of KEYS[i]); replies 1 per key claimed now, 0 per key already held. */
const CLAIM_SCRIPT = luaScript(
  'showroom claim event ids',
  `local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1], 'NX') then out[i] = 1 else out[i] = 0 end
end
return out`,
);

/** FNV-1a (32 bit) of `id` mod CLAIM_BUCKETS. */
function bucketOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % CLAIM_BUCKETS;
}

export interface EventIdClaimsOptions {
  redis: Redis;
  /** The service's key prefix (SHOWROOM_REDIS_PREFIX): the API and replays share the keys. */
  prefix: string;
  /** Seconds an eventId is remembered (default 48 h). */
  ttlSeconds?: number;
}

/**
 * Event-id de-duplication shared by `POST /v1/events` and `showroom replay --dedupe`: an event
 * is fresh when its claim key `<prefix>dedupe:{d<bucket>}:<eventId>` did not exist (`SET NX EX`).
 * Keys carry a hash tag of one of CLAIM_BUCKETS buckets, so the claims of a batch go in one
 * script call per bucket (a handful of commands for 100 events instead of one per event) and
 * stay valid in a Redis cluster (each call touches one slot).
 */
export class EventIdClaims {
  private readonly redis: Redis;
  private readonly prefix: string;
  readonly ttlSeconds: number;

  constructor(options: EventIdClaimsOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.ttlSeconds = options.ttlSeconds ?? 48 * 3600;
  }

  /** The claim key of an event id. */
  key(eventId: string): string {
    return `${this.prefix}dedupe:{d${bucketOf(eventId)}}:${eventId}`;
  }

  /**
   * Claims the ids of `events` (value: the event's receivedAt); resolves, per event, whether it
   * is fresh (claimed now). Ids must be distinct. Rejects with Unavailable when Redis fails.
   */
  async claim(events: readonly { eventId: string; receivedAt: string }[]): Promise<boolean[]> {
    const fresh = new Array<boolean>(events.length).fill(false);
    if (events.length === 0) return fresh;
    const buckets = this.group(events.map((e, i) => ({ id: e.eventId, value: e.receivedAt, i })));
    const p = this.redis.pipeline();
    for (const b of buckets) CLAIM_SCRIPT.run(p, b.map((x) => this.key(x.id)), [this.ttlSeconds, ...b.map((x) => x.value)]);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await p.exec();
    } catch (err) {
      throw new Unavailable(`Redis: claim event ids: ${errorMessage(err)}`, err);
    }
    buckets.forEach((b, k) => {
      const [err, value] = replies?.[k] ?? [new Error('no reply'), null];
      if (err) throw new Unavailable(`Redis: claim event ids: ${errorMessage(err)}`, err);
      const flags = value as number[];
      b.forEach((x, j) => (fresh[x.i] = flags[j] === 1));
    });
    return fresh;
  }

  /** Releases claims (after a failed append, so a retry is not taken for a duplicate). */
  async release(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const p = this.redis.pipeline();
    for (const b of this.group(eventIds.map((id, i) => ({ id, value: '', i })))) p.del(...b.map((x) => this.key(x.id)));
    try {
      await p.exec();
    } catch (err) {
      throw new Unavailable(`Redis: release event ids: ${errorMessage(err)}`, err);
    }
  }

  private group<T extends { id: string }>(items: T[]): T[][] {
    const by = new Map<number, T[]>();
    for (const x of items) {
      const b = bucketOf(x.id);
      let list = by.get(b);
      if (!list) by.set(b, (list = []));
      list.push(x);
    }
    return [...by.values()];
  }
}
