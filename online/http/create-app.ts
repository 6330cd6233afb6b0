import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { Config } from '../../shared/config/config.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import type { ProfileStore } from '../../shared/profile-store/profile-store.js';
import { pingRedis, type Redis } from '../../shared/redis/redis-connection.js';
import type { RerankPolicies } from '../../shared/rerank/rerank-policy.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { IngestService } from '../ingest/ingest-service.js';
import type { AppliedEvents } from '../profiles/applied-events.js';
import { RecommendationService } from '../serving/recommendation-service.js';
import { ServingState, type ServingStateOptions } from '../serving/serving-state.js';
import { keysConfigured, requireKey, type ApiKeys } from './middleware/auth.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { FailedAuthLimit } from './middleware/failed-auth-limit.js';
import { jsonBody } from './middleware/json-body.js';
import { rateLimit } from './middleware/rate-limit.js';
import { locals, requestContext } from './middleware/request-context.js';
import { securityHeaders } from './middleware/security-headers.js';
import { ModelNames } from './model-names.js';
import { mountRoutes, paramNameAt, type RouteSpec, type ScopeGuards } from './route-table.js';
import { docsRoutes } from './routes/docs-routes.js';
import { EVENTS_BODY_SHAPE, eventsRoutes } from './routes/events-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { modelRoutes, type TriggerRun } from './routes/model-routes.js';
import { recommendationRoutes } from './routes/recommendation-routes.js';

/** Maximum `POST /v1/events` body. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: Registry;
  /** Fail-fast command connection: dedupe keys, rate limits, readiness. Not closed by the app. */
  redis: Redis;
  store: PredictionStore;
  eventLog: EventLog;
  profiles: ProfileStore;
  /** Serving caches; built from `store` when absent (pass one to warm or inspect it). */
  serving?: ServingState;
  servingOptions?: ServingStateOptions;
  /** Per-model re-rank policy overrides. */
  policies?: RerankPolicies;
  /** Queues a batch run; without it `POST /v1/models/:model/runs` answers 501. */
  triggerRun?: TriggerRun;
  /** Overrides config (`SHOWROOM_API_KEYS`, `SHOWROOM_ADMIN_KEYS`). */
  keys?: ApiKeys;
  /** Extra admin pages by mount path (e.g. Bull Board at `/admin/queues`), mounted behind the admin key. */
  adminRouters?: Record<string, Router>;
  /** Shared with this process's profile consumer: events the API applied are not applied again. */
  appliedEvents?: AppliedEvents;
  /** Overrides `SHOWROOM_RATE_LIMIT_PER_MINUTE` (per key, per window, shared across instances). */
  rateLimit?: { limit: number; windowMs?: number };
  /** Overrides `SHOWROOM_AUTH_FAILURES_PER_MINUTE` (failed authentications per client address per window; 0 = no limit). */
  authFailureLimit?: { limit: number; windowMs?: number };
  /**
   * Registered model names (the composition root lists the offline registry): paths, queries and
   * admin bodies naming any other model get 404. Default: only `config.defaultModel`.
   */
  models?: readonly string[];
  /** Serve `/metrics` on this app, behind the admin key (default true; false when a metrics port serves it). */
  metrics?: boolean;
}

/** Lower-cased, slashes collapsed: how an unmatched path is compared with the protected prefixes. */
const normalisePath = (path: string) => path.toLowerCase().replace(/\/{2,}/g, '/');

/**
 * The HTTP API (Express 5): a table of routes, each declaring its scope (public, read, admin)
 * whose guards (key check, rate limit) run after the route matched; case-sensitive, strict
 * routing; 405 with `Allow` for a known path with another method; one error middleware
 * (problem+json); helmet headers, request ids and structured request logs.
 * Unmatched paths under `/v1` or an admin mount need a key first (401/403), then 404.
 * Pure wiring: it opens no connection and starts no timer, so tests can mount it on port 0.
 */
export function createApp(deps: AppDeps): Express {
  const { config, logger, registry, redis, store, eventLog, profiles } = deps;
  const keys: ApiKeys = deps.keys ?? { api: config.apiKeys, admin: config.adminKeys };
  const serving = deps.serving ?? new ServingState(store, { logger, ...deps.servingOptions });
  const recommendations = new RecommendationService(serving, profiles, { defaultModel: config.defaultModel, policies: deps.policies, logger, registry, redisDeadlineMs: config.redisDeadlineMs, cosmosDeadlineMs: config.cosmosDeadlineMs });
  const ingest = new IngestService({ redis, eventLog, profiles, prefix: config.redisPrefix, logger, registry, appliedEvents: deps.appliedEvents, redisDeadlineMs: config.redisDeadlineMs, appendWithinDeadline: !config.eventHubsConnectionString });
  const models = new ModelNames(deps.models ?? [config.defaultModel], config.defaultModel);

  const app = express();
  // Before the first app.use (Express builds its router lazily with these settings).
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('etag', false);
  app.use(requestContext(logger, registry));
  app.use(securityHeaders());

  const limiter = rateLimit({ redis, prefix: config.redisPrefix, limit: deps.rateLimit?.limit ?? config.rateLimitPerMinute, windowMs: deps.rateLimit?.windowMs, deadlineMs: config.redisDeadlineMs });
  const failures = new FailedAuthLimit({ redis, prefix: config.redisPrefix, limit: deps.authFailureLimit?.limit ?? config.authFailuresPerMinute, windowMs: deps.authFailureLimit?.windowMs, logger });
  const readKey = requireKey(keys, 'read', failures);
  const adminKey = requireKey(keys, 'admin', failures);
  const guards: ScopeGuards = { public: [], read: [readKey, limiter], admin: [adminKey, limiter] };
  const body = jsonBody(MAX_BODY_BYTES);
  // The hot read routes first.
  const routes: RouteSpec[] = [
    ...recommendationRoutes(recommendations, models),
    ...eventsRoutes(ingest, body),
    // Admin calls list and write more than a GET reads: five times the request-path Cosmos deadline.
    ...modelRoutes({ store, serving, models, triggerRun: deps.triggerRun, body, deadlineMs: 5 * config.cosmosDeadlineMs }),
    ...healthRoutes({
      registry,
      checks: {
        redis: () => pingRedis(redis, 1000),
        cosmos: () => store.ping(),
        eventLog: () => eventLog.ping(),
      },
      adminKey,
      secured: keysConfigured(keys),
      metrics: deps.metrics,
      logger,
    }),
    ...docsRoutes(),
  ];
  mountRoutes(app, routes, guards);
  const adminMounts = Object.entries(deps.adminRouters ?? {});
  for (const [path, router] of adminMounts) app.use(path, adminKey, limiter, router);

  // Unmatched: under /v1 or an admin mount (in any letter case or slash spelling) the key comes first.
  const adminPrefixes = adminMounts.map(([path]) => normalisePath(path));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const path = normalisePath(req.path);
    const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
    if (adminPrefixes.some(under)) return adminKey(req, res, next);
    if (under('/v1')) return readKey(req, res, next);
    next();
  });
  // ... and counts against the key's rate limit (a key check above set the role).
  app.use((req: Request, res: Response, next: NextFunction) => (locals(res).role === undefined ? next() : limiter(req, res, next)));
  app.use(notFoundHandler);
  app.use(
    errorHandler({
      bodyShape: (req) => (req.route?.path === '/v1/events' ? EVENTS_BODY_SHAPE : 'a JSON object'),
      paramName: (path, raw) => paramNameAt(routes, path, raw),
    }),
  );
  return app;
}
