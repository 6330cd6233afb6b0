import { Unavailable, errorMessage } from '../errors/app-error.js';
import { luaScript } from '../redis/lua-script.js';
import type { Redis } from '../redis/redis-connection.js';
import { fnv1a32 } from '../random/fnv1a.js';

/** Hash-tag buckets of the claim keys (slots, were showroom to split its calls for a Redis Cluster). */
const CLAIM_BUCKETS = 16;

/** SET NX EX of every key (ARGV[1] = TTL s, ARGV[i+1] = the value of KEYS[i]); replies 1 per key claimed now, 0 per key already held. */
const CLAIM_SCRIPT = luaScript(
  'showroom claim event ids',
  `local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1], 'NX') then out[i] = 1 else out[i] = 0 end
end
return out`,
);

/** DEL of every key whose value is still ARGV[i] (the claim this caller made); replies how many. */
const RELEASE_OWN_SCRIPT = luaScript(
  'showroom release own event id claims',
  `local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then n = n + redis.call('DEL', KEYS[i]) end
end
return n`,
);

/** Most claims per script call (bounds the time one call holds Redis). */
const CLAIMS_PER_CALL = 1000;

/** FNV-1a (32 bit) of `id` mod CLAIM_BUCKETS. */
function bucketOf(id: string): number {
  return fnv1a32(id) % CLAIM_BUCKETS;
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
 * A batch's claims go in one script call (one command for 100 events instead of one each): fine
 * on the single Redis node showroom connects to. The keys carry one of CLAIM_BUCKETS hash tags,
 * so a Redis Cluster client could split the call by bucket (one slot each) without new keys.
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
    const p = this.redis.pipeline();
    for (let i = 0; i < events.length; i += CLAIMS_PER_CALL) {
      const chunk = events.slice(i, i + CLAIMS_PER_CALL);
      CLAIM_SCRIPT.run(p, chunk.map((e) => this.key(e.eventId)), [this.ttlSeconds, ...chunk.map((e) => e.receivedAt)]);
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await p.exec();
    } catch (err) {
      throw new Unavailable(`Redis: claim event ids: ${errorMessage(err)}`, err);
    }
    replies?.forEach(([err, value], k) => {
      if (err) throw new Unavailable(`Redis: claim event ids: ${errorMessage(err)}`, err);
      (value as number[]).forEach((flag, j) => (fresh[k * CLAIMS_PER_CALL + j] = flag === 1));
    });
    return fresh;
  }

  /**
   * Releases the claims `claim(events)` made, and only those: a key whose value is not the
   * event's receivedAt (claimed by another request, or by nobody) is left alone. Sent on the same
   * connection as the claims, after them, so it also undoes claims whose reply never came (a
   * frozen Redis runs both, in order, when it wakes). Resolves the number released.
   */
  async releaseOwn(events: readonly { eventId: string; receivedAt: string }[]): Promise<number> {
    if (events.length === 0) return 0;
    const p = this.redis.pipeline();
    for (let i = 0; i < events.length; i += CLAIMS_PER_CALL) {
      const chunk = events.slice(i, i + CLAIMS_PER_CALL);
      RELEASE_OWN_SCRIPT.run(p, chunk.map((e) => this.key(e.eventId)), chunk.map((e) => e.receivedAt));
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await p.exec();
    } catch (err) {
      throw new Unavailable(`Redis: release event ids: ${errorMessage(err)}`, err);
    }
    let released = 0;
    for (const [err, n] of replies ?? []) {
      if (err) throw new Unavailable(`Redis: release event ids: ${errorMessage(err)}`, err);
      released += Number(n);
    }
    return released;
  }

  /** Releases claims whatever their value (after a failed append, so a retry is not taken for a duplicate). */
  async release(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    try {
      await this.redis.del(...eventIds.map((id) => this.key(id)));
    } catch (err) {
      throw new Unavailable(`Redis: release event ids: ${errorMessage(err)}`, err);
    }
  }
}
