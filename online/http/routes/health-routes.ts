import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../../shared/errors/app-error.js';
import type { Logger } from '../../../shared/telemetry/logger.js';
import { withDeadline } from '../../serving/serving-state.js';
import { locals } from '../middleware/request-context.js';
import type { RouteSpec } from '../route-table.js';

export type ReadinessCheck = () => Promise<void>;

export interface HealthRoutesDeps {
  registry: Registry;
  checks: Record<string, ReadinessCheck>;
  deadlineMs?: number;
  /** The admin guard: a `/readyz` request carrying `Authorization` goes through it and gets the details. */
  adminKey: RequestHandler;
  /** True when keys are configured (else every caller sees the details). */
  secured: boolean;
  /** Serve `/metrics` here, behind the admin key (default true; false when SHOWROOM_METRICS_PORT serves it). */
  metrics?: boolean;
  logger?: Logger;
}

/**
 * `/healthz` (public: process up), `/readyz` (public: every dependency answers within its
 * deadline; with keys configured the body is only `{status}` unless the request carries an
 * admin key — check names, timings and errors describe the deployment) and `/metrics`
 * (admin scope; absent when a separate metrics port serves it).
 */
export function healthRoutes(deps: HealthRoutesDeps): RouteSpec[] {
  const deadline = deps.deadlineMs ?? 1000;
  const keyIfGiven = (req: Request, res: Response, next: NextFunction): void => {
    if (req.headers.authorization === undefined) return next();
    deps.adminKey(req, res, next);
  };
  const routes: RouteSpec[] = [
    {
      method: 'get',
      path: '/healthz',
      scope: 'public',
      handlers: [
        (_req, res) => {
          res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
        },
      ],
    },
    {
      method: 'get',
      path: '/readyz',
      scope: 'public',
      handlers: [
        keyIfGiven,
        async (_req, res) => {
          const entries = await Promise.all(
            Object.entries(deps.checks).map(async ([name, check]) => {
              const started = Date.now();
              try {
                await withDeadline(check(), deadline, name);
                return [name, { ok: true, ms: Date.now() - started }] as const;
              } catch (err) {
                return [name, { ok: false, ms: Date.now() - started, error: errorMessage(err) }] as const;
              }
            }),
          );
          const ready = entries.every(([, c]) => c.ok);
          const status = ready ? 'ready' : 'not-ready';
          if (!ready) deps.logger?.warn({ checks: Object.fromEntries(entries) }, 'not ready');
          res.setHeader('Cache-Control', 'no-store');
          const detailed = !deps.secured || locals(res).role === 'admin';
          res.status(ready ? 200 : 503).json(detailed ? { status, checks: Object.fromEntries(entries) } : { status });
        },
      ],
    },
  ];
  if (deps.metrics !== false) {
    routes.push({
      method: 'get',
      path: '/metrics',
      scope: 'admin',
      handlers: [
        async (_req, res) => {
          res.type(deps.registry.contentType).send(await deps.registry.metrics());
        },
      ],
    });
  }
  return routes;
}
