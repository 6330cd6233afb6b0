import type { NextFunction, Request, Response } from 'express';
import { TooManyRequests, errorMessage } from '../../../shared/errors/app-error.js';
import type { Redis } from '../../../shared/redis/redis-connection.js';
import { locals } from './request-context.js';

export interface RateLimitOptions {
  redis: Redis;
  prefix: string;
  /** Requests per principal per window. */
  limit: number;
  /** Window length, ms (default 60 s). */
  windowMs?: number;
}

/**
 * Fixed-window rate limit per principal (hashed key or client address), shared by every
 * instance through Redis: one pipelined `INCR` + `PEXPIRE NX`. When Redis is unreachable the
 * request passes (availability over strictness) and the failure is logged.
 */
export function rateLimit(options: RateLimitOptions) {
  const windowMs = options.windowMs ?? 60_000;
  return async (_req: Request, res: Response, next: NextFunction): Promise<void> => {
    const l = locals(res);
    const now = Date.now();
    const window = Math.floor(now / windowMs);
    const key = `${options.prefix}rl:${l.principal ?? 'anonymous'}:${window}`;
    let count = 0;
    try {
      const replies = await options.redis.pipeline().incr(key).pexpire(key, windowMs * 2).exec();
      count = Number(replies?.[0]?.[1] ?? 0);
    } catch (err) {
      l.logger.warn({ err: errorMessage(err) }, 'rate limiter unavailable; letting the request through');
      return next();
    }
    res.setHeader('RateLimit-Limit', String(options.limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, options.limit - count)));
    if (count > options.limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000));
      throw new TooManyRequests(`rate limit of ${options.limit} requests per ${windowMs / 1000} s exceeded`, retryAfter);
    }
    next();
  };
}
