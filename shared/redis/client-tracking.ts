import { errorMessage } from '../errors/app-error.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { Redis } from './redis-connection.js';

const CHANNEL = '__redis__:invalidate';

export interface ClientTrackingOptions {
  /** What is cached (`profile`): names the connections (`<name>-reads`, `<name>-invalidations`) and the log lines. */
  name: string;
  /** Opens a connection (`createRedis(url, purpose, options)`); called twice, for the reader and the subscriber. */
  connect: (purpose: string, options?: { autoResubscribe?: boolean }) => Redis;
  /** Keys Redis says changed (or expired, or were evicted) since this process read them through `reader`. */
  onInvalidate: (keys: string[]) => void;
  /** Interval of the subscriber's heartbeat, ms (default 1000); a missed beat ends tracking until it is re-established. */
  heartbeatMs?: number;
  logger?: Logger;
}

/**
 * Server-assisted client-side caching (Redis `CLIENT TRACKING`, RESP2 redirect mode): Redis
 * remembers the keys this process read through `reader` and, when one of them changes, sends
 * its name to this process's subscriber (channel `__redis__:invalidate`), once.
 *
 * What a caller may cache is what it read through `reader` while `epoch` stayed the same
 * non-zero value (take `epoch` before the read, compare after the reply): the epoch changes
 * whenever an invalidation may have been missed — either connection closed or reconnected, the
 * heartbeat went unanswered, or Redis asked to flush everything (FLUSHALL, tracking table
 * full) — and is 0 while tracking is not established (then nothing may be served from a cache).
 * After a reconnect tracking is re-established on its own. Owns both connections.
 */
export class ClientTracking {
  /** Reads whose keys Redis tracks for this process. */
  readonly reader: Redis;
  private readonly sub: Redis;
  private readonly logger: Logger;
  private current = 0;
  private counter = 0;
  /** Client id of the subscriber's current connection, once it is subscribed. */
  private subId: string | undefined;
  /** Bumped by every loss: an establishment started before it does not count. */
  private attempt = 0;
  /** Bumped whenever the subscriber's connection closes. */
  private subGen = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private beating = false;
  private closed = false;
  private unsupported = false;

  constructor(private readonly options: ClientTrackingOptions) {
    this.logger = options.logger ?? silentLogger();
    this.reader = options.connect(`${options.name}-reads`);
    // Subscribed by hand on every connect: the subscriber's client id must be read first.
    this.sub = options.connect(`${options.name}-invalidations`, { autoResubscribe: false });
    this.reader.on('ready', () => void this.enable());
    this.reader.on('close', () => this.lost('reader connection closed'));
    this.sub.on('ready', () => void this.subscribe());
    this.sub.on('close', () => {
      this.subGen += 1;
      this.subId = undefined;
      this.lost('invalidation connection closed');
    });
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer[] | Buffer | null) => this.message(channel, message));
    // Errors surface as close/reconnect; without a listener ioredis would print them.
    this.reader.on('error', () => undefined);
    this.sub.on('error', () => undefined);
    const ms = options.heartbeatMs ?? 1000;
    this.heartbeat = setInterval(() => void this.beat(ms), ms).unref();
    if (this.sub.status === 'ready') void this.subscribe();
  }

  /** Non-zero while tracking is established; a new value whenever an invalidation may have been missed. */
  get epoch(): number {
    return this.current;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.attempt += 1;
    this.current = 0;
    this.reader.disconnect();
    this.sub.disconnect();
  }

  private lost(why: string): void {
    this.attempt += 1;
    if (this.current !== 0) this.logger.warn({ cache: this.options.name, why }, 'cache off until Redis client tracking is re-established');
    this.current = 0;
  }

  private async subscribe(): Promise<void> {
    if (this.closed) return;
    const gen = this.subGen;
    try {
      const id = String(await this.sub.client('ID'));
      await this.sub.subscribe(CHANNEL);
      if (gen !== this.subGen) return;
      this.subId = id;
      await this.enable();
    } catch (err) {
      this.logger.warn({ cache: this.options.name, err: errorMessage(err) }, 'subscribing to Redis invalidations failed; reading from Redis every time');
    }
  }

  /** Points the reader's tracking at the subscriber; the epoch starts once Redis confirms. */
  private async enable(): Promise<void> {
    const subId = this.subId;
    if (this.closed || this.unsupported || subId === undefined || this.reader.status !== 'ready') return;
    const attempt = this.attempt;
    try {
      await this.reader.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', subId);
    } catch (err) {
      const message = errorMessage(err);
      // A server without client tracking (Redis < 6, some proxies): stay off, say so once.
      if (/unknown (sub)?command|wrong number of arguments|syntax/i.test(message)) this.unsupported = true;
      this.logger.warn({ cache: this.options.name, err: message }, 'Redis client tracking unavailable; reading from Redis every time');
      return;
    }
    if (attempt !== this.attempt || this.subId !== subId) return;
    this.current = ++this.counter;
    this.logger.debug({ cache: this.options.name, epoch: this.current }, 'Redis client tracking established');
  }

  private message(channel: Buffer, message: Buffer[] | Buffer | null): void {
    if (channel.toString() !== CHANNEL) return;
    if (message === null) {
      // Redis flushed (FLUSHALL / FLUSHDB) or dropped its tracking table: everything read is stale.
      if (this.current !== 0) this.current = ++this.counter;
      return;
    }
    const keys = Array.isArray(message) ? message.map((k) => k.toString()) : [message.toString()];
    this.options.onInvalidate(keys);
  }

  /** PING on the subscriber; no answer within `ms` counts as a lost connection (reconnected at once). */
  private async beat(ms: number): Promise<void> {
    if (this.closed || this.beating || this.current === 0) return;
    this.beating = true;
    const epoch = this.current;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.sub.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
        }),
      ]);
    } catch (err) {
      if (this.current === epoch) {
        this.lost(`invalidation connection heartbeat: ${errorMessage(err)}`);
        this.sub.disconnect(true);
      }
    } finally {
      clearTimeout(timer);
      this.beating = false;
    }
  }
}
