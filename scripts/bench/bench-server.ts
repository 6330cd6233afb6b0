/**
 * Child-process entry of the servers under test, so the API has its own event loop and its own
 * peak RSS:
 * - `bench-server.js api`: the showroom API with the in-process profile consumer, built from the
 *   environment like `showroom serve` (REDIS_URL, COSMOS_ENDPOINT, SHOWROOM_REDIS_PREFIX,
 *   SHOWROOM_DEFAULT_MODEL, ...), on a free loopback port, without keys or effective rate limit;
 * - `bench-server.js bare <body-file>`: stock Express (`app.listen`, default settings: ETag on,
 *   x-powered-by on) whose `GET /bare` returns the file as JSON — a reference, not a ceiling;
 * - `bench-server.js tuned <body-file>`: the GET ceiling — the API's own server construction
 *   (`createExpressServer`) and app settings (ETag off, x-powered-by off, trust proxy off,
 *   keep-alive 65 s), `GET /bare` returning the file as JSON, nothing else;
 * - `bench-server.js ingest-ceiling`: the ingest ceiling — the same construction and settings,
 *   `express.json` with the API's limits on `/v1`, and `POST /v1/events` doing one
 *   `EventLog.append` of the body's `events` (receivedAt stamped; no validation, de-duplication
 *   or profile apply), answering 202 like the API; the log is built from the environment like
 *   the API's (`createEventLog`), under `SHOWROOM_REDIS_PREFIX` (give it its own prefix);
 * - `bench-server.js cosmos`: the embedded Cosmos server, memory only, on a free port (`url` = endpoint).
 * Prints `{"url": ...}` on one stdout line once listening; on SIGTERM closes cleanly and prints
 * `{"peakRssBytes": ...}` before exiting. Started by `startBenchServer` (bench-processes.ts).
 */
import { readFile } from 'node:fs/promises';
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import type { ShowroomEvent } from '../../shared/domain/event.js';

// Each mode imports only what it runs, so a process's RSS is its own component's.

async function startApi(): Promise<{ url: string; close: () => Promise<void> }> {
  const { loadConfig } = await import('../../shared/config/config.js');
  const { createEventLog } = await import('../../shared/event-log/create-event-log.js');
  const { createPredictionStore } = await import('../../shared/prediction-store/create-prediction-store.js');
  const { createRedis, waitForRedis } = await import('../../shared/redis/redis-connection.js');
  const { createLogger } = await import('../../shared/telemetry/logger.js');
  const { createMetricsRegistry } = await import('../../shared/telemetry/metrics.js');
  const { startServer } = await import('../../online/serve.js');
  const config = loadConfig();
  const logger = createLogger({ level: process.env.SHOWROOM_LOG_LEVEL ?? 'warn', name: 'bench-server' });
  const registry = createMetricsRegistry();
  const store = await createPredictionStore(config, logger);
  const eventLog = createEventLog(config, { logger, registry });
  const redis = createRedis(config.redisUrl, 'bench-api');
  await waitForRedis(redis, 5000);
  const server = await startServer({
    config,
    logger,
    registry,
    store,
    eventLog,
    redis,
    port: 0,
    host: '127.0.0.1',
    keys: { api: [], admin: [] },
    rateLimit: { limit: 1_000_000_000 },
  });
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await eventLog.close();
      await store.close();
      redis.disconnect();
    },
  };
}

/** An Express app with the API's settings (createApp: x-powered-by off, trust proxy off, ETag off). */
function tunedApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('etag', false);
  return app;
}

/** Listens like `startServer` (online/serve.ts): `createExpressServer`, loopback, keep-alive 65 s. */
async function listenTuned(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const { createExpressServer } = await import('../../online/http/express-server.js');
  const server = await new Promise<Server>((resolve, reject) => {
    const s = createExpressServer(app);
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
  server.keepAliveTimeout = 65_000;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startTuned(bodyFile: string): Promise<{ url: string; close: () => Promise<void> }> {
  const body = await readFile(bodyFile, 'utf8');
  const app = tunedApp();
  app.get('/bare', (_req, res) => {
    res.type('application/json').send(body);
  });
  return listenTuned(app);
}

async function startIngestCeiling(): Promise<{ url: string; close: () => Promise<void> }> {
  const { loadConfig } = await import('../../shared/config/config.js');
  const { createEventLog } = await import('../../shared/event-log/create-event-log.js');
  const { MAX_BODY_BYTES } = await import('../../online/http/create-app.js');
  const config = loadConfig();
  const eventLog = createEventLog(config, {});
  await eventLog.ping();
  const app = tunedApp();
  app.use('/v1', express.json({ limit: MAX_BODY_BYTES, type: ['application/json', 'application/*+json'] }));
  app.post('/v1/events', async (req, res) => {
    const events = (req.body as { events: ShowroomEvent[] }).events;
    const receivedAt = new Date().toISOString();
    for (const e of events) e.receivedAt = receivedAt;
    await eventLog.append(events);
    res.status(202).json({ accepted: events.length, duplicates: 0 });
  });
  const running = await listenTuned(app);
  return {
    url: running.url,
    close: async () => {
      await running.close();
      await eventLog.close();
    },
  };
}

async function startBare(bodyFile: string): Promise<{ url: string; close: () => Promise<void> }> {
  const body = await readFile(bodyFile, 'utf8');
  const app = express();
  app.get('/bare', (_req, res) => {
    res.type('application/json').send(body);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 65_000;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startCosmos(): Promise<{ url: string; close: () => Promise<void> }> {
  const { startEmbeddedCosmos } = await import('../../shared/prediction-store/embedded-cosmos-server.js');
  const cosmos = await startEmbeddedCosmos({ port: 0, ttlSweepMs: 0 });
  return { url: cosmos.endpoint, close: () => cosmos.stop({ save: false }) };
}

/** What a bench child reports about its own event loop since the last report (`stats` message over IPC). */
export interface ProcessStats {
  /** Event-loop delay, ms (what a request waits before its callback can even run). */
  eventLoopDelayP99: number;
  eventLoopDelayMax: number;
  /** Garbage collections: count, longest pause and total pause, ms; major = mark-compact. */
  gcCount: number;
  gcMaxMs: number;
  gcTotalMs: number;
  majorGcMaxMs: number;
}

/** Answers `{stats: ProcessStats}` to every `stats` message from the parent, then starts a new window. */
function reportStatsOnRequest(): void {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let gc = { count: 0, max: 0, total: 0, majorMax: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count += 1;
      gc.total += e.duration;
      if (e.duration > gc.max) gc.max = e.duration;
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR && e.duration > gc.majorMax) gc.majorMax = e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (m) => {
    if (m !== 'stats') return;
    const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100;
    const stats: ProcessStats = {
      eventLoopDelayP99: ms(loop.percentile(99)),
      eventLoopDelayMax: ms(loop.max),
      gcCount: gc.count,
      gcMaxMs: Math.round(gc.max * 100) / 100,
      gcTotalMs: Math.round(gc.total),
      majorGcMaxMs: Math.round(gc.majorMax * 100) / 100,
    };
    loop.reset();
    gc = { count: 0, max: 0, total: 0, majorMax: 0 };
    process.send?.({ stats });
  });
}

async function main(): Promise<void> {
  const [mode, arg] = process.argv.slice(2);
  const running =
    mode === 'bare' && arg ? await startBare(arg)
    : mode === 'tuned' && arg ? await startTuned(arg)
    : mode === 'ingest-ceiling' ? await startIngestCeiling()
    : mode === 'api' ? await startApi()
    : mode === 'cosmos' ? await startCosmos()
    : undefined;
  if (!running) throw new Error('usage: bench-server api | bench-server bare <body-file> | bench-server tuned <body-file> | bench-server ingest-ceiling | bench-server cosmos');
  reportStatsOnRequest();
  process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const done = () => process.stdout.write(`${JSON.stringify({ peakRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`, () => process.exit(0));
    setTimeout(done, 5000).unref();
    running.close().then(done, done);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent died: do not linger.
  process.on('disconnect', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
