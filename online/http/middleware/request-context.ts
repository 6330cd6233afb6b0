import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { Histogram, type Registry } from 'prom-client';
import { getOrCreate } from '../../../shared/telemetry/metrics.js';
import type { Logger } from '../../../shared/telemetry/logger.js';

/**
 * Per-request values other middleware and routers read from `res.locals` (set by
 * `requestContext`). A class with the lazy logger on its prototype: defining an accessor on
 * every request's `res.locals` kept each request alive through the next young-generation GC.
 */
export class RequestLocals {
  /** Hashed identity of the caller's key (never the key), or the client address without keys. */
  principal?: string;
  role?: 'read' | 'admin' | 'open';
  private child: Logger | undefined;

  constructor(
    readonly requestId: string,
    private readonly base: Logger,
  ) {}

  /** Child logger carrying the request id, built on first use (most requests never log). */
  get logger(): Logger {
    return (this.child ??= this.base.child({ reqId: this.requestId }));
  }

  set logger(value: Logger) {
    this.child = value;
  }

  /** The child logger if one was built, without building it. */
  get builtLogger(): Logger | undefined {
    return this.child;
  }
}

export function locals(res: Response): RequestLocals {
  return res.locals as RequestLocals;
}

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request id (`x-request-id`, taken from the client when well-formed), a child logger, one
 * structured log line per request (pino-http style: method, path, status, ms, request id) and
 * the request-duration histogram.
 */
export function requestContext(logger: Logger, registry: Registry) {
  const duration = getOrCreate(
    registry,
    'showroom_http_request_duration_seconds',
    () =>
      new Histogram({
        name: 'showroom_http_request_duration_seconds',
        help: 'HTTP request duration by route and status',
        labelNames: ['method', 'route', 'status'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
        registers: [registry],
      }),
  );
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const l = new RequestLocals(requestId, logger);
    res.locals = l;
    res.on('finish', () => {
      const ms = performance.now() - started;
      // Labels from closed sets: the route template (or `unmatched`), a known method (or `other`).
      const route = req.route ? (req.baseUrl === '' ? String(req.route.path) : `${req.baseUrl}${String(req.route.path)}`) : 'unmatched';
      const method = METHODS.has(req.method) ? req.method : 'other';
      duration.observe({ method, route, status: String(res.statusCode) }, ms / 1000);
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const child = l.builtLogger;
      (child ?? logger)[level]({ ...(child ? {} : { reqId: requestId }), req: { method: req.method, url: req.originalUrl, route }, res: { statusCode: res.statusCode }, responseTime: Math.round(ms * 100) / 100, principal: l.principal }, 'request completed');
    });
    next();
  };
}
