import { Router } from 'express';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../../shared/errors/app-error.js';
import { withDeadline } from '../../serving/serving-state.js';

export type ReadinessCheck = () => Promise<void>;

/** `/healthz` (process up), `/readyz` (every dependency answers within its deadline), `/metrics`. */
export function healthRouter(deps: { registry: Registry; checks: Record<string, ReadinessCheck>; deadlineMs?: number }): Router {
  const router = Router();
  const deadline = deps.deadlineMs ?? 1000;
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) });
  });
  router.get('/readyz', async (_req, res) => {
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
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not-ready', checks: Object.fromEntries(entries) });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  return router;
}
