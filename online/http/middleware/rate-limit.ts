import type { NextFunction, Request, Response } from 'express';
import { TooManyRequests, errorMessage } from '../../../shared/errors/app-error.js';
import type { Redis } from '../../../shared/redis/redis-connection.js';
import { withDeadline } from '../../../shared/resilience/with-deadline.js';
import { locals } from './request-context.js';

export interface RateLimitOptions {
  redis: Redis;
  prefix: string;
  /** Requests per principal per window. */
  limit: number;
  /** Window length, ms (default 60 s). */
  windowMs?: number;
  /**
   * Longest that requests counted locally wait before they are added to the shared count, ms
   * (default 50). Far from the limit a request does not wait for Redis; see `rateLimit`.
   */
  flushMs?: number;
  /** Fraction of the limit above which every request waits for the shared count (default 0.8). */
  exactAbove?: number;
  /** Longest a request waits for the shared count, ms (SHOWROOM_REDIS_DEADLINE_MS, default 500); then it passes as when Redis is unreachable. */
  deadlineMs?: number;
}

/** One principal's count in the current window, as this instance knows it. */
interface WindowCount {
  window: number;
  /** Shared count from the last Redis reply (every instance's requests up to then). */
  shared: number;
  /** Requests counted here and not yet added in Redis. */
  pending: number;
  /** Requests being added in Redis by the flush in flight (0 when none is). */
  inflight: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Fixed-window rate limit per principal (hashed key or client address), shared by every
 * instance through Redis (`INCRBY` + `PEXPIRE` on `<prefix>rl:<principal>:<window>`).
 *
 * The first request of a principal in a window, and every request once the count passes
 * `exactAbove` × limit, waits for Redis and is decided on the shared count (exact). Below that,
 * requests are decided on the last shared count plus the ones counted here, and are added to
 * Redis in one `INCRBY` at most `flushMs` later: no round trip per request, and other
 * instances' requests are seen within `flushMs`. When Redis is unreachable the request passes
 * (availability over strictness) and the failure is logged.
 */
export function rateLimit(options: RateLimitOptions) {
  const windowMs = options.windowMs ?? 60_000;
  const flushMs = options.flushMs ?? 50;
  const deadlineMs = options.deadlineMs ?? 500;
  const exactAt = options.limit * (options.exactAbove ?? 0.8);
  const counts = new Map<string, WindowCount>();
  const keyOf = (principal: string, window: number) => `${options.prefix}rl:${principal}:${window}`;

  /** INCRBY + PEXPIRE; a request waiting for it (`waited`) waits at most deadlineMs, a background flush as long as it takes (no double count). */
  const incr = async (principal: string, window: number, by: number, waited = false): Promise<number> => {
    const key = keyOf(principal, window);
    const exec = options.redis.pipeline().incrby(key, by).pexpire(key, windowMs * 2).exec();
    const replies = await (waited ? withDeadline(exec, deadlineMs, 'Redis (rate limit)') : exec);
    const [err, value] = replies?.[0] ?? [new Error('no reply'), 0];
    if (err) throw err;
    return Number(value);
  };

  const flush = (principal: string, c: WindowCount): void => {
    c.timer = undefined;
    if (c.pending === 0 || c.inflight > 0) return;
    const by = c.pending;
    c.pending = 0;
    c.inflight = by;
    incr(principal, c.window, by).then(
      (shared) => {
        c.inflight = 0;
        if (shared > c.shared) c.shared = shared;
        if (c.pending > 0 && !c.timer) c.timer = setTimeout(() => flush(principal, c), flushMs).unref();
      },
      () => {
        // Count them again with the next flush.
        c.inflight = 0;
        c.pending += by;
        if (!c.timer) c.timer = setTimeout(() => flush(principal, c), flushMs).unref();
      },
    );
  };

  const forget = (now: number) => {
    const current = Math.floor(now / windowMs);
    for (const [principal, c] of counts) {
      if (c.window < current && c.pending === 0 && c.inflight === 0) counts.delete(principal);
    }
  };

  const limitHeader = String(options.limit);
  /** Sets the RateLimit headers and lets the request through, or rejects it with 429. */
  const decide = (res: Response, count: number, window: number, now: number, next: NextFunction): void => {
    res.setHeader('RateLimit-Limit', limitHeader);
    res.setHeader('RateLimit-Remaining', String(Math.max(0, options.limit - count)));
    if (count > options.limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000));
      throw new TooManyRequests(`rate limit of ${options.limit} requests per ${windowMs / 1000} s exceeded`, retryAfter);
    }
    next();
  };

  /** Exact: adds this request (and any pending ones) in Redis and decides on the shared count. */
  const exact = async (res: Response, principal: string, c: WindowCount | undefined, window: number, now: number, next: NextFunction): Promise<void> => {
    const taken = c ? c.pending : 0;
    if (c) c.pending = 0;
    let count: number;
    try {
      count = await incr(principal, window, taken + 1, true);
    } catch (err) {
      if (c) c.pending += taken;
      locals(res).logger.warn({ err: errorMessage(err) }, 'rate limiter unavailable; letting the request through');
      return next();
    }
    const known = counts.get(principal);
    if (known && known.window === window) {
      if (count > known.shared) known.shared = count;
    } else {
      if (counts.size > 10_000) forget(now);
      counts.set(principal, { window, shared: count, pending: 0, inflight: 0, timer: undefined });
    }
    decide(res, count, window, now, next);
  };

  // Synchronous unless the request waits for Redis (no promise or microtask per request below the threshold).
  return (_req: Request, res: Response, next: NextFunction): void | Promise<void> => {
    const now = Date.now();
    const window = Math.floor(now / windowMs);
    const principal = locals(res).principal ?? 'anonymous';
    let c = counts.get(principal);
    if (c && c.window !== window) {
      // A new window: requests still pending belong to the old one.
      if (c.timer) clearTimeout(c.timer);
      flush(principal, c);
      c = undefined;
    }
    if (c && c.shared + c.inflight + c.pending + 1 <= exactAt) {
      const cc = c;
      cc.pending += 1;
      if (!cc.timer && cc.inflight === 0) cc.timer = setTimeout(() => flush(principal, cc), flushMs).unref();
      return decide(res, cc.shared + cc.inflight + cc.pending, window, now, next);
    }
    return exact(res, principal, c, window, now, next);
  };
}
