import type { Server, ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Registry } from 'prom-client';
import type { Config } from '../shared/config/config.js';
import type { EventLog, Subscription } from '../shared/event-log/event-log.js';
import { ConfigError, errorMessage } from '../shared/errors/app-error.js';
import type { PredictionStore } from '../shared/prediction-store/prediction-store.js';
import type { ProfileStore } from '../shared/profile-store/profile-store.js';
import { RedisProfileStore } from '../shared/profile-store/redis-profile-store.js';
import { createRedis, type Redis } from '../shared/redis/redis-connection.js';
import type { RerankPolicies } from '../shared/rerank/rerank-policy.js';
import type { Logger } from '../shared/telemetry/logger.js';
import { serveMetrics } from '../shared/telemetry/metrics-server.js';
import { createApp, type AppDeps } from './http/create-app.js';
import { createExpressServer } from './http/express-server.js';
import { keysConfigured, type ApiKeys } from './http/middleware/auth.js';
import type { TriggerRun } from './http/routes/model-routes.js';
import { AppliedEvents } from './profiles/applied-events.js';
import { startProfileConsumer } from './profiles/profile-consumer.js';
import { ServingState, type ServingStateOptions } from './serving/serving-state.js';

export interface StartServerOptions {
  config: Config;
  logger: Logger;
  registry: Registry;
  /** The caller owns store, eventLog and redis: `close()` does not close them. */
  store: PredictionStore;
  eventLog: EventLog;
  /** Fail-fast command connection (`createRedis`). */
  redis: Redis;
  /** Default: a RedisProfileStore on `redis` with `config.redisPrefix`, caching `config.profileCache` profiles (client tracking). */
  profiles?: ProfileStore;
  /** Overrides config.port (0 = any free port). */
  port?: number;
  /** Overrides config.host. */
  host?: string;
  /** Run the profile consumer in this process (default true). */
  profileConsumer?: boolean;
  triggerRun?: TriggerRun;
  /** Extra admin pages by mount path (Bull Board), behind the admin key. */
  adminRouters?: AppDeps['adminRouters'];
  policies?: RerankPolicies;
  servingOptions?: ServingStateOptions;
  keys?: ApiKeys;
  rateLimit?: { limit: number; windowMs?: number };
  authFailureLimit?: AppDeps['authFailureLimit'];
  /** Registered model names (see AppDeps.models). */
  models?: readonly string[];
  /** Overrides config.metricsPort (0 = any free port; null = none, /metrics on the API port). */
  metricsPort?: number | null;
}

export interface RunningServer {
  /** `http://host:port` */
  url: string;
  port: number;
  host: string;
  app: Express;
  server: Server;
  /** Port of the separate /metrics server (SHOWROOM_METRICS_PORT), when there is one. */
  metricsPort?: number;
  /** Where /metrics is served (the API port, or the metrics port). */
  metricsUrl: string;
  serving: ServingState;
  profiles: ProfileStore;
  /** Stops accepting, closes connections and the profile consumer. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Bind address: explicit, else loopback without keys and all interfaces with keys. Refuses a non-loopback bind without keys. */
export function resolveHost(requested: string | undefined, keys: ApiKeys): string {
  const secured = keysConfigured(keys);
  const host = requested || (secured ? '0.0.0.0' : '127.0.0.1');
  if (!secured && !LOOPBACK.has(host)) {
    throw new ConfigError(`refusing to listen on ${host} without API keys: set SHOWROOM_API_KEYS (and SHOWROOM_ADMIN_KEYS) or bind to 127.0.0.1`, [{ field: 'SHOWROOM_HOST', message: 'non-loopback bind needs API keys' }]);
  }
  return host;
}

/**
 * The API server's timeouts (SHOWROOM_HTTP_*): a request must arrive whole within
 * `requestTimeout` and its headers within `headersTimeout` (Node answers 408 and closes). Node
 * checks them every `connectionsCheckingInterval` (30 s by default, which would let a slow
 * request live up to 30 s past its timeout): here a tenth of the shorter timeout, 50 ms to 5 s.
 */
export function httpServerOptions(config: Pick<Config, 'httpRequestTimeoutMs' | 'httpHeadersTimeoutMs'>): ServerOptions {
  return {
    requestTimeout: config.httpRequestTimeoutMs,
    headersTimeout: config.httpHeadersTimeoutMs,
    connectionsCheckingInterval: Math.min(5000, Math.max(50, Math.floor(Math.min(config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs) / 10))),
  };
}

/**
 * Composition helper for `showroom serve` and `showroom demo`: builds the app on the given
 * adapters, starts the profile consumer (unless disabled), warms the default model's caches
 * and listens. Resolves once the port is bound.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config, logger, registry, store, eventLog, redis } = options;
  const keys = options.keys ?? { api: config.apiKeys, admin: config.adminKeys };
  const host = resolveHost(options.host ?? config.host, keys);
  if (!keysConfigured(keys)) logger.warn({ host }, 'no API keys configured: listening on loopback only, without authentication');
  const profiles =
    options.profiles ??
    new RedisProfileStore({
      redis,
      prefix: config.redisPrefix,
      logger,
      registry,
      parsedProfiles: config.profileCache,
      tracking: config.profileCache > 0 ? { connect: (purpose, o) => createRedis(config.redisUrl, purpose, o) } : undefined,
    });
  const serving = new ServingState(store, { logger, ...options.servingOptions });
  // Events the API applies at once are skipped by this process's profile consumer.
  const appliedEvents = options.profileConsumer !== false ? new AppliedEvents() : undefined;
  const metricsPort = options.metricsPort === undefined ? config.metricsPort : (options.metricsPort ?? undefined);
  const app = createApp({
    config,
    logger,
    registry,
    redis,
    store,
    eventLog,
    profiles,
    serving,
    appliedEvents,
    triggerRun: options.triggerRun,
    adminRouters: options.adminRouters,
    policies: options.policies,
    keys,
    rateLimit: options.rateLimit,
    authFailureLimit: options.authFailureLimit,
    models: options.models,
    metrics: metricsPort === undefined,
  });

  let consumer: Subscription | undefined;
  if (options.profileConsumer !== false) consumer = await startProfileConsumer({ eventLog, profiles, logger, registry, appliedEvents });
  // Warm the default model (pointer, neighbour table); failures only log.
  serving.active(config.defaultModel).catch((err: unknown) => logger.info({ model: config.defaultModel, err: errorMessage(err) }, 'default model not servable yet'));

  const server = await new Promise<Server>((resolve, reject) => {
    const s = createExpressServer(app, httpServerOptions(config));
    s.keepAliveTimeout = config.httpKeepAliveTimeoutMs;
    s.maxConnections = config.httpMaxConnections;
    s.once('error', reject);
    s.listen(options.port ?? config.port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
  let metrics: Server | undefined;
  let metricsBound: number | undefined;
  if (metricsPort !== undefined) {
    try {
      ({ server: metrics, port: metricsBound } = await serveMetrics(registry, metricsPort, host));
    } catch (err) {
      server.close();
      throw err;
    }
    logger.info({ host, port: metricsBound }, 'metrics on their own port (not on the API port)');
  }
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  logger.info({ url, host, port: addr.port, auth: keysConfigured(keys) }, 'showroom API listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: addr.port,
    host,
    app,
    server,
    metricsPort: metricsBound,
    metricsUrl: metricsBound === undefined ? `${url}/metrics` : `http://${shownHost}:${metricsBound}/metrics`,
    serving,
    profiles,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        metrics?.close();
        metrics?.closeAllConnections();
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
        await consumer?.close().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'closing the profile consumer failed'));
        await stopped;
        if (!options.profiles) await profiles.close();
      })();
      return closing;
    },
  };
}
