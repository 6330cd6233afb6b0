import express, { type Express, type Router } from 'express';
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
import { requireKey, type ApiKeys } from './middleware/auth.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestContext } from './middleware/request-context.js';
import { securityHeaders } from './middleware/security-headers.js';
import { docsRouter } from './routes/docs-routes.js';
import { eventsRouter } from './routes/events-routes.js';
import { healthRouter } from './routes/health-routes.js';
import { modelRouter, type TriggerRun } from './routes/model-routes.js';
import { mountRecommendationRoutes } from './routes/recommendation-routes.js';

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
}

/**
 * The HTTP API (Express 5): thin routers over the ingest and serving services, one error
 * middleware (problem+json), helmet headers, request ids and structured request logs.
 * Pure wiring: it opens no connection and starts no timer, so tests can mount it on port 0.
 */
export function createApp(deps: AppDeps): Express {
  const { config, logger, registry, redis, store, eventLog, profiles } = deps;
  const keys: ApiKeys = deps.keys ?? { api: config.apiKeys, admin: config.adminKeys };
  const serving = deps.serving ?? new ServingState(store, { logger, ...deps.servingOptions });
  const recommendations = new RecommendationService(serving, profiles, { defaultModel: config.defaultModel, policies: deps.policies, logger, registry, redisDeadlineMs: config.redisDeadlineMs, cosmosDeadlineMs: config.cosmosDeadlineMs });
  const ingest = new IngestService({ redis, eventLog, profiles, prefix: config.redisPrefix, logger, registry, appliedEvents: deps.appliedEvents, redisDeadlineMs: config.redisDeadlineMs, appendWithinDeadline: !config.eventHubsConnectionString });

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('etag', false);
  app.use(requestContext(logger, registry));
  app.use(securityHeaders());

  const limiter = rateLimit({ redis, prefix: config.redisPrefix, limit: deps.rateLimit?.limit ?? config.rateLimitPerMinute, windowMs: deps.rateLimit?.windowMs, deadlineMs: config.redisDeadlineMs });
  const json = express.json({ limit: MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] });
  const readKey = requireKey(keys, 'read');
  const adminKey = requireKey(keys, 'admin');
  app.use('/v1', (req, res, next) => (req.path === '/models' || req.path.startsWith('/models/') ? adminKey : readKey)(req, res, next), limiter);
  // The hot read routes first (GET: no body to parse), then the body parser and the rest.
  mountRecommendationRoutes(app, recommendations);
  app.use('/v1', json);
  app.use(eventsRouter(ingest));
  app.use(modelRouter({ store, serving, resolveModel: (m) => recommendations.resolveModel(m), triggerRun: deps.triggerRun }));
  app.use(healthRouter({
    registry,
    checks: {
      redis: () => pingRedis(redis, 1000),
      cosmos: () => store.ping(),
      eventLog: () => eventLog.ping(),
    },
  }));
  for (const [path, router] of Object.entries(deps.adminRouters ?? {})) app.use(path, adminKey, router);
  app.use(docsRouter());
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
