import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { parseEvent, partitionKeyOf, type ShowroomEvent } from '../domain/event.js';
import { parseEventFast } from '../domain/fast-event-parse.js';
import { errorMessage, Unavailable } from '../errors/app-error.js';
import { createBlockingRedis, createRedis, pingRedis, waitForRedis, type Redis } from '../redis/redis-connection.js';
import { luaScript } from '../redis/lua-script.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { BatchHandler, EventLog, LogBatch, PartitionLag, SubscribeOptions, Subscription, UndecodableRecord } from './event-log.js';
import { EventLogMetrics } from './event-log-metrics.js';
import { fnv1a32 } from '../random/fnv1a.js';

export interface RedisStreamsEventLogOptions {
  /** Redis URL; the log opens (and closes) its own connections. Either this or `redis`. */
  redisUrl?: string;
  /**
   * An existing command connection (fail-fast, as `createRedis` builds it). The log does not
   * close it; blocking connections for subscriptions are `duplicate()`s of it.
   */
  redis?: Redis;
  /** Prefix of every key (default `showroom:`); streams are `<prefix>log:<n>`. */
  prefix?: string;
  /** Number of partitions = streams (default 4). Changing it remaps partition keys. */
  partitions?: number;
  /** Age after which acknowledged entries may be trimmed, ms (default 7 days). */
  retentionMs?: number;
  /** How often `trim()` runs in the background, ms (default 60 s; 0 = never, call `trim()` yourself). */
  trimIntervalMs?: number;
  /** A pending entry idle this long (ms) is reclaimed by another consumer of its group (default 30 s). */
  claimMinIdleMs?: number;
  /** How often a subscription looks for such entries, ms (default min(claimMinIdleMs, 5 s)). */
  claimIntervalMs?: number;
  /** `append` rejects with Unavailable when Redis has not confirmed within this time, ms (default 5 s). */
  appendTimeoutMs?: number;
  logger?: Logger;
  /** Prometheus registry for the event-log metrics (see EventLogMetrics). */
  registry?: Registry;
}

const DEFAULT_PARTITIONS = 4;
const DEFAULT_RETENTION_MS = 7 * 24 * 3600_000;
const FIELD = 'e';
/** Most events per script call (bounds how long one call holds Redis). */
const APPEND_CHUNK = 500;
/**
 * XADDs every ARGV to KEYS[1] as field `e`, in order, atomically; returns how many. One script
 * call per partition instead of one command per event halves the client's CPU per event.
 * Exported for the benchmark, which calls it bare (its ceiling of `append`).
 */
export const APPEND_SCRIPT_LUA = "for i = 1, #ARGV do redis.call('XADD', KEYS[1], '*', 'e', ARGV[i]) end return #ARGV";
/** Most events per script call of `append` (the benchmark's bare-script ceiling uses the same). */
export const APPEND_SCRIPT_CHUNK = APPEND_CHUNK;
const XADD_ALL = luaScript('showroom xadd all', APPEND_SCRIPT_LUA, 1);

/** FNV-1a (32 bit) of the UTF-16 code units of `key`, mod `partitions`. Stable across processes and versions. */
export function partitionOf(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}

type StreamEntry = [id: string, fields: string[] | null];
type StreamReply = [key: string, entries: StreamEntry[]][];

/**
 * The embedded EventLog: Redis Streams, one stream per partition (`<prefix>log:<n>`), consumer
 * groups for subscribers.
 *
 * - **Partitioning**: partition = FNV-1a(`partitionKeyOf(event)`) mod `partitions`, so one
 *   customer's (inventory: one vehicle's) events stay in one stream, in append order.
 * - **append**: each event is one stream entry `XADD <stream> * e <json>`; the XADDs of one call
 *   run as one Lua script per partition (pipelined), atomically; resolves once Redis confirmed
 *   every entry. Any error or timeout rejects with Unavailable; some events of
 *   that call may then be stored (a retry may duplicate them: consumers de-duplicate by eventId).
 *   Durability is Redis's (AOF/RDB settings of the server).
 * - **subscribe**: `XREADGROUP` on a dedicated blocking connection; every consumer of a group
 *   reads from every partition (Redis hands each entry to one consumer), batches are delivered
 *   one partition at a time, and acknowledged (`XACK`) only after the handler resolved. A failed
 *   handler is retried with backoff from the consumer's pending list. Entries pending longer
 *   than `claimMinIdleMs` (a crashed consumer) are taken over with `XAUTOCLAIM`. On start a
 *   consumer first re-reads its own pending entries. `maxWaitMs` is the XREADGROUP BLOCK
 *   time: a batch is delivered as soon as entries exist, and fills up to `maxBatchSize` while
 *   the previous handler runs. Note: with two consumers in one group, one customer's events
 *   may be processed concurrently by both (order holds per consumer, in the happy path).
 *   With `maxInFlightBatches` > 1 the loop reads on while handlers run; a rejected batch is
 *   then retried in place. Entries whose handler is still running are kept claimed (idle time
 *   reset every claimMinIdleMs/3), so only a dead consumer's entries are reclaimed.
 * - **Retention**: entries are trimmed by age only (`XTRIM MINID` at now − `retentionMs`),
 *   and never past the oldest entry some consumer group of the stream has not acknowledged
 *   (pending, or not yet delivered). A group that stops consuming therefore holds its entries
 *   indefinitely; delete abandoned groups with `XGROUP DESTROY`. Groups that never subscribed
 *   hold nothing back (a new group sees what is still retained).
 */
export class RedisStreamsEventLog implements EventLog {
  readonly partitionCount: number;
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly redisUrl?: string;
  private readonly prefix: string;
  private readonly keys: string[];
  private readonly retentionMs: number;
  private readonly claimMinIdleMs: number;
  private readonly claimIntervalMs: number;
  private readonly appendTimeoutMs: number;
  private readonly logger: Logger;
  private readonly metrics: EventLogMetrics;
  private readonly subscriptions = new Set<RedisStreamSubscription>();
  private readonly groups = new Set<string>();
  private readonly trimTimer?: NodeJS.Timeout;
  private closed = false;
  /** Set once the command connection was ready: later outages fail appends fast instead of waiting. */
  private connectedOnce = false;

  constructor(options: RedisStreamsEventLogOptions) {
    if (!options.redis && !options.redisUrl) throw new Error('RedisStreamsEventLog needs redisUrl or redis');
    this.partitionCount = options.partitions ?? DEFAULT_PARTITIONS;
    if (!Number.isInteger(this.partitionCount) || this.partitionCount < 1) throw new Error(`partitions must be a positive integer, got ${this.partitionCount}`);
    this.logger = (options.logger ?? silentLogger()).child({ component: 'redis-streams-event-log' });
    this.redisUrl = options.redisUrl;
    this.ownsRedis = !options.redis;
    this.redis = options.redis ?? createRedis(options.redisUrl as string, 'event-log');
    if (this.ownsRedis) this.redis.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'event log Redis connection error'));
    if (this.redis.status === 'ready') this.connectedOnce = true;
    else this.redis.once('ready', () => (this.connectedOnce = true));
    this.prefix = options.prefix ?? 'showroom:';
    this.keys = Array.from({ length: this.partitionCount }, (_, n) => `${this.prefix}log:${n}`);
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.claimMinIdleMs = options.claimMinIdleMs ?? 30_000;
    this.claimIntervalMs = options.claimIntervalMs ?? Math.min(this.claimMinIdleMs, 5000);
    this.appendTimeoutMs = options.appendTimeoutMs ?? 5000;
    this.metrics = new EventLogMetrics(options.registry);
    this.metrics.watchLag(this);
    const trimIntervalMs = options.trimIntervalMs ?? 60_000;
    if (trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => {
        this.trim().catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'event log trim failed; will retry'));
      }, trimIntervalMs);
      this.trimTimer.unref();
    }
  }

  /** Just built: waits for the first connection rather than failing the first commands. */
  private async firstConnection(): Promise<void> {
    if (!this.connectedOnce) await waitForRedis(this.redis, this.appendTimeoutMs);
  }

  /** Stream key of partition `n` (for tools and tests). */
  streamKey(partition: number): string {
    return this.keys[partition];
  }

  /** Partition (0-based) an event goes to. */
  partitionOfEvent(event: ShowroomEvent): number {
    return partitionOf(partitionKeyOf(event), this.partitionCount);
  }

  /**
   * Appends `events` (each to its partition, in array order). Resolves once Redis stored all;
   * rejects with Unavailable otherwise (see class doc). Not idempotent: a retried call may store
   * an event twice.
   */
  async append(events: ShowroomEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.closed) throw new Unavailable('event log is closed');
    await this.firstConnection();
    const byPartition: string[][] = this.keys.map(() => []);
    for (const event of events) byPartition[partitionOf(partitionKeyOf(event), this.partitionCount)].push(JSON.stringify(event));
    const pipeline = this.redis.pipeline();
    const expected: number[] = [];
    byPartition.forEach((payloads, n) => {
      for (let i = 0; i < payloads.length; i += APPEND_CHUNK) {
        const chunk = payloads.slice(i, i + APPEND_CHUNK);
        XADD_ALL.run(pipeline, [this.keys[n]], chunk);
        expected.push(chunk.length);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    let results: [Error | null, unknown][] | null;
    try {
      results = await Promise.race([
        pipeline.exec(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no reply within ${this.appendTimeoutMs} ms`)), this.appendTimeoutMs);
        }),
      ]);
    } catch (err) {
      throw new Unavailable(`event log append failed: ${errorMessage(err)}`, err);
    } finally {
      clearTimeout(timer);
    }
    if (!results || results.length !== expected.length) throw new Unavailable('event log append failed: incomplete reply from Redis');
    results.forEach(([err, stored], i) => {
      if (err || stored !== expected[i]) {
        throw new Unavailable(`event log append failed: ${err ? errorMessage(err) : `stored ${String(stored)} of ${expected[i]}`}`, err ?? undefined);
      }
    });
    this.metrics.appendedEvents(events.length);
  }

  /**
   * Appends a raw stream entry (field `e` = `raw`) to partition `partition`, bypassing the
   * schema. For tests and tools that need an undecodable entry.
   */
  async appendRaw(partition: number, raw: string): Promise<string> {
    await this.firstConnection();
    const id = await this.redis.xadd(this.keys[partition], '*', FIELD, raw);
    if (!id) throw new Unavailable('XADD returned no id');
    return id;
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.closed) throw new Unavailable('event log is closed');
    await this.ensureGroup(options.group, options.startFrom ?? 'earliest');
    this.groups.add(options.group);
    const blocking = this.redisUrl
      ? createBlockingRedis(this.redisUrl, `event-log:${options.group}`)
      : this.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, connectionName: `showroom:event-log:${options.group}` });
    blocking.on('error', (err: Error) => this.logger.debug({ err: err.message, group: options.group }, 'event log subscription connection error'));
    const sub = new RedisStreamSubscription({
      log: this,
      blocking,
      group: options.group,
      consumer: options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      maxBatchSize: options.maxBatchSize ?? 1000,
      maxWaitMs: options.maxWaitMs ?? 100,
      maxInFlightBatches: Math.max(1, options.maxInFlightBatches ?? 1),
      handler,
      onClosed: (s) => this.subscriptions.delete(s),
    });
    this.subscriptions.add(sub);
    sub.start();
    return sub;
  }

  /** Creates `group` on every partition stream (and the streams), ignoring existing groups. */
  async ensureGroup(group: string, startFrom: 'earliest' | 'latest'): Promise<void> {
    try {
      await this.firstConnection();
      await Promise.all(
        this.keys.map((key) =>
          this.redis.xgroup('CREATE', key, group, startFrom === 'earliest' ? '0' : '$', 'MKSTREAM').catch((err: unknown) => {
            if (!errorMessage(err).startsWith('BUSYGROUP')) throw err;
          }),
        ),
      );
    } catch (err) {
      throw new Unavailable(`cannot create consumer group ${group}: ${errorMessage(err)}`, err);
    }
  }

  /**
   * Events of each partition not yet acknowledged by `group`: entries not yet delivered (XINFO
   * GROUPS `lag`) plus delivered-but-pending ones. A group that does not exist (yet) lags by
   * the whole stream.
   */
  async lag(group: string): Promise<PartitionLag[]> {
    await this.firstConnection();
    return Promise.all(
      this.keys.map(async (key, n) => {
        const partition = String(n);
        let infos: unknown[];
        try {
          infos = (await this.redis.call('XINFO', 'GROUPS', key)) as unknown[];
        } catch (err) {
          if (/no such key/i.test(errorMessage(err))) return { partition, lag: 0 };
          throw new Unavailable(`cannot read event log lag: ${errorMessage(err)}`, err);
        }
        const info = infos.map(toRecord).find((g) => g.name === group);
        if (!info) return { partition, lag: await this.redis.xlen(key) };
        const pending = Number(info.pending ?? 0);
        let undelivered = info.lag === null || info.lag === undefined ? NaN : Number(info.lag);
        if (!Number.isFinite(undelivered)) undelivered = await this.countAfter(key, String(info['last-delivered-id'] ?? '0-0'));
        return { partition, lag: undelivered + pending };
      }),
    );
  }

  /** Entries after `id` (when Redis cannot tell the lag itself), counted up to 100,000. */
  private async countAfter(key: string, id: string): Promise<number> {
    if (id === '0-0') return this.redis.xlen(key);
    const entries = await this.redis.xrange(key, `(${id}`, '+', 'COUNT', 100_000);
    return entries.length;
  }

  /**
   * Trims every partition by age: removes entries older than now − retentionMs, but never an
   * entry a consumer group still holds pending or has not been delivered yet. Returns the
   * number of entries removed. Safe to run from any number of instances.
   */
  async trim(now = Date.now()): Promise<number> {
    await this.firstConnection();
    let removed = 0;
    for (const key of this.keys) {
      let floor = `${Math.max(0, now - this.retentionMs)}-0`;
      let infos: unknown[];
      try {
        infos = (await this.redis.call('XINFO', 'GROUPS', key)) as unknown[];
      } catch (err) {
        if (/no such key/i.test(errorMessage(err))) continue;
        throw err;
      }
      for (const info of infos.map(toRecord)) {
        const lastDelivered = String(info['last-delivered-id'] ?? '0-0');
        floor = minId(floor, lastDelivered);
        if (Number(info.pending ?? 0) > 0) {
          const summary = (await this.redis.call('XPENDING', key, String(info.name))) as unknown[];
          const oldest = summary[1];
          if (typeof oldest === 'string') floor = minId(floor, oldest);
        }
      }
      if (floor === '0-0') continue;
      removed += Number(await this.redis.call('XTRIM', key, 'MINID', floor));
    }
    if (removed > 0) this.logger.debug({ removed }, 'trimmed event log');
    return removed;
  }

  async ping(): Promise<void> {
    try {
      await this.firstConnection();
      await pingRedis(this.redis);
    } catch (err) {
      throw err instanceof Unavailable ? err : new Unavailable(`event log Redis unreachable: ${errorMessage(err)}`, err);
    }
  }

  /** Closes every subscription (waiting for handlers in flight), then the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.trimTimer) clearInterval(this.trimTimer);
    this.metrics.unwatchLag(this);
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    if (this.ownsRedis) await quietQuit(this.redis);
  }

  /** Groups subscribed through this instance (reported by the lag gauge). */
  lagGroups(): string[] {
    return [...this.groups];
  }

  /** @internal */
  get internals() {
    return {
      redis: this.redis,
      keys: this.keys,
      claimMinIdleMs: this.claimMinIdleMs,
      claimIntervalMs: this.claimIntervalMs,
      logger: this.logger,
      metrics: this.metrics,
      ensureGroup: (group: string) => this.ensureGroup(group, 'earliest'),
    };
  }
}

interface SubscriptionParams {
  log: RedisStreamsEventLog;
  blocking: Redis;
  group: string;
  consumer: string;
  maxBatchSize: number;
  maxWaitMs: number;
  maxInFlightBatches: number;
  handler: BatchHandler;
  onClosed: (s: RedisStreamSubscription) => void;
}

class RedisStreamSubscription implements Subscription {
  private closing = false;
  private loop?: Promise<void>;
  private readonly wakers = new Set<() => void>();
  private readonly p: SubscriptionParams;
  private readonly redis: Redis;
  private readonly keys: string[];
  private readonly logger: Logger;
  private readonly claimCursors: string[];
  private lastClaimAt = 0;
  private readonly acks = new Set<Promise<void>>();
  /** Batches handed to the handler and not yet resolved (pipelined mode). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Entry ids of batches in the handler, per stream: kept claimed (idle time reset) while held. */
  private readonly held = new Set<{ key: string; ids: string[] }>();
  private heartbeat?: NodeJS.Timeout;

  constructor(params: SubscriptionParams) {
    this.p = params;
    const internals = params.log.internals;
    this.redis = internals.redis;
    this.keys = internals.keys;
    this.logger = internals.logger.child({ group: params.group, consumer: params.consumer });
    this.claimCursors = this.keys.map(() => '0-0');
  }

  start(): void {
    const { claimMinIdleMs } = this.p.log.internals;
    this.heartbeat = setInterval(() => void this.keepClaimed(), Math.max(50, Math.floor(claimMinIdleMs / 3)));
    this.heartbeat.unref();
    this.loop = this.run();
  }

  /**
   * Resets the idle time of entries whose handler is still running (`XCLAIM ... 0 JUSTID` to
   * ourselves), so a slow handler or a long-held batch is not reclaimed by another consumer.
   */
  private async keepClaimed(): Promise<void> {
    for (const { key, ids } of this.held) {
      try {
        await this.redis.call('XCLAIM', key, this.p.group, this.p.consumer, 0, ...ids, 'JUSTID');
      } catch (err) {
        this.logger.debug({ err: errorMessage(err) }, 'could not refresh held entries');
      }
    }
  }

  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      for (const wake of this.wakers) wake();
      // Interrupts a blocking XREADGROUP; entries it may have taken stay pending (reclaimed later).
      this.p.blocking.disconnect();
    }
    await this.loop;
    this.p.onClosed(this);
  }

  private async run(): Promise<void> {
    let readPending = true; // first re-read this consumer's own pending entries
    // Per stream: the pending list is re-read after this id ('0' = from its start).
    let cursors = this.keys.map(() => '0');
    let failures = 0;
    while (!this.closing) {
      try {
        let reply: StreamReply | null;
        if (readPending) {
          await this.settleAcks(); // else a pending read could return entries whose XACK is in flight
          reply = await this.read(cursors);
          if (!reply || reply.every(([, entries]) => entries.length === 0)) {
            readPending = false;
            continue;
          }
          for (const [key, entries] of reply) {
            if (entries.length > 0) cursors[this.keys.indexOf(key)] = entries[entries.length - 1][0];
          }
        } else {
          const claimed = await this.claim();
          reply = claimed ?? (await this.read(null));
        }
        if (!reply) continue;
        for (const [key, entries] of reply) {
          if (entries.length === 0 || this.closing) continue;
          const partition = this.keys.indexOf(key);
          const batch = decodeBatch(String(partition), entries);
          if (this.p.maxInFlightBatches > 1) {
            while (this.inFlight.size >= this.p.maxInFlightBatches) await Promise.race(this.inFlight);
            const done: Promise<void> = this.deliverPipelined(key, entries, batch).finally(() => this.inFlight.delete(done));
            this.inFlight.add(done);
            continue;
          }
          const hold = { key, ids: entries.map(([id]) => id) };
          this.held.add(hold);
          try {
            await this.p.handler(batch);
          } catch (err) {
            failures++;
            this.logger.warn({ err: errorMessage(err), partition, events: batch.events.length, attempt: failures }, 'event batch handler failed; will redeliver');
            readPending = true;
            cursors = this.keys.map(() => '0');
            await this.sleep(backoffMs(failures));
            break;
          } finally {
            this.held.delete(hold);
          }
          failures = 0;
          this.ack(key, entries, batch.events.length);
        }
      } catch (err) {
        if (this.closing) break;
        failures++;
        const message = errorMessage(err);
        if (message.includes('NOGROUP')) {
          this.logger.warn('consumer group or stream missing (Redis restarted without data?); recreating');
          await this.p.log.internals.ensureGroup(this.p.group).catch(() => undefined);
        } else {
          this.logger.warn({ err: message, attempt: failures }, 'event log read failed; retrying');
        }
        await this.sleep(backoffMs(failures));
      }
    }
    await quietQuit(this.p.blocking);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    clearInterval(this.heartbeat);
    await this.settleAcks();
    await this.forgetConsumer();
  }

  /**
   * XACKs a handled batch without waiting (the next read overlaps it). A failed XACK leaves
   * the entries pending: they are redelivered (at least once).
   */
  private ack(key: string, entries: StreamEntry[], events: number): void {
    const done: Promise<void> = this.redis
      .xack(key, this.p.group, ...entries.map(([id]) => id))
      .then(
        () => this.p.log.internals.metrics.deliveredEvents(this.p.group, events),
        (err: unknown) => this.logger.warn({ err: errorMessage(err), partition: this.keys.indexOf(key) }, 'XACK failed; batch will be redelivered'),
      )
      .finally(() => this.acks.delete(done));
    this.acks.add(done);
  }

  private async settleAcks(): Promise<void> {
    while (this.acks.size > 0) await Promise.all([...this.acks]);
  }

  /** Removes this consumer from the group where it holds no pending entries (keeps XINFO tidy). */
  private async forgetConsumer(): Promise<void> {
    try {
      for (const key of this.keys) {
        const mine = (await this.redis.call('XPENDING', key, this.p.group, '-', '+', 1, this.p.consumer)) as unknown[];
        if (mine.length === 0) await this.redis.call('XGROUP', 'DELCONSUMER', key, this.p.group, this.p.consumer);
      }
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'could not remove consumer from group');
    }
  }

  /** XREADGROUP from every partition: own pending entries after the given ids, or (null) new entries, blocking. */
  private async read(pendingAfter: string[] | null): Promise<StreamReply | null> {
    const args: (string | number)[] = ['GROUP', this.p.group, this.p.consumer, 'COUNT', this.p.maxBatchSize];
    if (!pendingAfter) args.push('BLOCK', this.p.maxWaitMs);
    args.push('STREAMS', ...this.keys, ...(pendingAfter ?? this.keys.map(() => '>')));
    return (await this.p.blocking.call('XREADGROUP', ...args)) as StreamReply | null;
  }

  /** Every claimIntervalMs: takes over entries idle longer than claimMinIdleMs (crashed consumers). */
  private async claim(): Promise<StreamReply | null> {
    const { claimIntervalMs, claimMinIdleMs } = this.p.log.internals;
    if (Date.now() - this.lastClaimAt < claimIntervalMs) return null;
    const out: StreamReply = [];
    for (let n = 0; n < this.keys.length; n++) {
      const key = this.keys[n];
      const reply = (await this.redis.call(
        'XAUTOCLAIM', key, this.p.group, this.p.consumer, claimMinIdleMs, this.claimCursors[n], 'COUNT', this.p.maxBatchSize,
      )) as [string, StreamEntry[], string[]?];
      this.claimCursors[n] = reply[0];
      const entries = reply[1].filter(([, fields]) => fields !== null);
      if (entries.length > 0) {
        this.logger.info({ partition: n, entries: entries.length }, 'reclaimed pending entries of another consumer');
        out.push([key, entries]);
      }
    }
    // Scan the whole pending list before waiting for the next interval.
    if (this.claimCursors.every((c) => c === '0-0')) this.lastClaimAt = Date.now();
    return out.length > 0 ? out : null;
  }

  /**
   * Pipelined mode: runs the handler for one batch while the loop reads on; acknowledges when
   * it resolves, retries it in place with backoff when it rejects (until closed: then the
   * entries stay pending and are redelivered).
   */
  private async deliverPipelined(key: string, entries: StreamEntry[], batch: LogBatch): Promise<void> {
    const hold = { key, ids: entries.map(([id]) => id) };
    this.held.add(hold);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.p.handler(batch);
          this.ack(key, entries, batch.events.length);
          return;
        } catch (err) {
          this.logger.warn({ err: errorMessage(err), partition: batch.partition, events: batch.events.length, attempt }, 'event batch handler failed; will redeliver');
          if (this.closing) return;
          await this.sleep(backoffMs(attempt));
          if (this.closing) return;
        }
      }
    } finally {
      this.held.delete(hold);
    }
  }

  /** Waits `ms`, or less when the subscription closes. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}

const KEEP_RECEIVED_AT = { keepReceivedAt: true } as const;

function decodeBatch(partition: string, entries: StreamEntry[]): LogBatch {
  const events: ShowroomEvent[] = [];
  const positions: string[] = [];
  const undecodable: UndecodableRecord[] = [];
  for (const [id, fields] of entries) {
    if (fields === null) {
      undecodable.push({ partition, position: id, raw: '', reason: 'entry was deleted from the stream before delivery' });
      continue;
    }
    let raw: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === FIELD) raw = fields[i + 1];
    if (raw === undefined) {
      undecodable.push({ partition, position: id, raw: JSON.stringify(fields), reason: `entry has no "${FIELD}" field` });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      undecodable.push({ partition, position: id, raw, reason: `invalid JSON: ${errorMessage(err)}` });
      continue;
    }
    // The hand-checked fast path when it is sure, else the schema (which names the errors).
    const fast = parseEventFast(value, KEEP_RECEIVED_AT);
    if (fast) {
      events.push(fast);
      positions.push(id);
      continue;
    }
    const r = parseEvent(value, KEEP_RECEIVED_AT);
    if (r.ok) {
      events.push(r.event);
      positions.push(id);
    } else {
      undecodable.push({ partition, position: id, raw, reason: `invalid event: ${r.fields.map((f) => `${f.field} ${f.message}`).join('; ')}` });
    }
  }
  return { partition, events, positions, undecodable };
}

/** Backoff for retries: 100 ms doubling to 5 s. */
function backoffMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 6), 5000);
}

/** Compares stream ids `ms-seq`; returns the smaller. */
function minId(a: string, b: string): string {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  if (am !== bm) return BigInt(am) < BigInt(bm) ? a : b;
  return BigInt(as ?? '0') <= BigInt(bs ?? '0') ? a : b;
}

/** Turns a flat `[k1, v1, k2, v2]` Redis reply into a record. */
function toRecord(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}

async function quietQuit(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await Promise.race([redis.quit(), new Promise((r) => setTimeout(r, 1000))]);
  } catch {
    // already gone
  }
  redis.disconnect();
}
