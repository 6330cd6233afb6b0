import { TooManyRequests, errorMessage } from '../../../shared/errors/app-error.js';
import type { Redis } from '../../../shared/redis/redis-connection.js';
import type { Logger } from '../../../shared/telemetry/logger.js';

export interface FailedAuthLimitOptions {
  /** Shared count across instances; without it (or while it fails) each instance counts alone. */
  redis?: Redis;
  prefix: string;
  /** Failed authentications per client address per window; 0 = no limit. */
  limit: number;
  /** Window length, ms (default 60 s). */
  windowMs?: number;
  logger?: Logger;
  /** Addresses tracked at once before old windows are forgotten (default 10,000). */
  maxTracked?: number;
}

interface Failures {
  window: number;
  count: number;
}

/**
 * Limits failed authentications (a key that matches none, a malformed `Authorization` header)
 * per client address, in fixed windows: once an address has failed `limit` times in a window,
 * every further attempt from it is refused with 429 + `Retry-After` until the window ends —
 * correct keys included, or guessing would simply continue between the refusals.
 *
 * `check` runs before any key is compared and is synchronous (a Map lookup); only failures
 * touch Redis (`INCR` + `PEXPIRE` on `<prefix>af:<address>:<window>`), so other instances'
 * failures count here from this instance's next failure of that address on (an address gets
 * at most `limit` + one per instance). Requests that carry no credential are not counted.
 * Trust proxy is off: behind a reverse proxy every client has the proxy's address, so limit
 * failed authentications at the proxy, or set the limit to 0 and do it there.
 */
export class FailedAuthLimit {
  private readonly windowMs: number;
  private readonly failures = new Map<string, Failures>();
  private readonly maxTracked: number;

  constructor(private readonly options: FailedAuthLimitOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxTracked = options.maxTracked ?? 10_000;
  }

  /** Throws TooManyRequests when `address` has used up its failures in the current window. */
  check(address: string): void {
    if (this.options.limit === 0) return;
    const f = this.failures.get(address);
    if (f === undefined) return;
    const now = Date.now();
    const window = Math.floor(now / this.windowMs);
    if (f.window !== window || f.count < this.options.limit) return;
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
    throw new TooManyRequests(`too many failed authentications from this address (${this.options.limit} per ${this.windowMs / 1000} s); retry after the window`, retryAfter);
  }

  /** Counts one failure of `address` (here at once, in Redis in the background). */
  fail(address: string): void {
    if (this.options.limit === 0) return;
    const window = Math.floor(Date.now() / this.windowMs);
    let f = this.failures.get(address);
    if (f === undefined || f.window !== window) {
      if (f === undefined && this.failures.size >= this.maxTracked) this.forget(window);
      f = { window, count: 0 };
      this.failures.set(address, f);
    }
    f.count += 1;
    const redis = this.options.redis;
    if (!redis) return;
    const key = `${this.options.prefix}af:${address}:${window}`;
    const counted = f;
    redis
      .pipeline()
      .incr(key)
      .pexpire(key, this.windowMs * 2)
      .exec()
      .then(
        (replies) => {
          const [err, value] = replies?.[0] ?? [new Error('no reply'), 0];
          if (err) throw err;
          if (counted.window === window && Number(value) > counted.count) counted.count = Number(value);
        },
      )
      .catch((err: unknown) => this.options.logger?.warn({ err: errorMessage(err) }, 'failed-authentication limit: Redis unavailable; counting on this instance only'));
  }

  private forget(current: number): void {
    for (const [address, f] of this.failures) if (f.window < current) this.failures.delete(address);
    // Still full of current-window addresses: drop the oldest entries (insertion order).
    for (const address of this.failures.keys()) {
      if (this.failures.size < this.maxTracked) break;
      this.failures.delete(address);
    }
  }
}
