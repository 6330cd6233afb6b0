import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import express from 'express';
import { Registry } from 'prom-client';
import type { Config } from '../../shared/config/config.js';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { neighborId, predictionId, type NeighborDoc, type PredictionDoc, type RunRecord } from '../../shared/domain/prediction.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import { createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import { startServer } from '../../online/serve.js';

export interface OnlineBenchOptions {
  config: Config;
  /** An initialised PredictionStore (the embedded Cosmos server in the demo). */
  store: PredictionStore;
  /** Distinct customers (default 10,000), each with a 100-item list and ~20 live events. */
  customers?: number;
  vehicles?: number;
  /** Fixed request rate of the latency run (default 500/s). */
  rate?: number;
  /** Seconds per measurement (default 10). */
  duration?: number;
  connections?: number;
  /** Events per POST in the ingest run (default 100). */
  batchSize?: number;
  logger?: Logger;
  onStage?: (stage: string) => void;
  /** Alternating flat-out rounds (recommendations, bare Express); the best of each is reported (default 1). */
  rounds?: number;
  /** Measurements to run (default all); skipped ones report zeros. */
  phases?: readonly OnlineBenchPhase[];
}

export type OnlineBenchPhase = 'at-rate' | 'max' | 'bare' | 'ingest';

const SKIPPED: LoadResult = { rps: 0, p50: 0, p99: 0, total: 0, non2xx: 0, errors: 0 };

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
}

export interface OnlineBenchResult {
  customers: number;
  /** GET recommendations at a fixed rate (ms latencies). */
  recommendationsAtRate: LoadResult & { rate: number };
  /** GET recommendations, as fast as possible. */
  recommendationsMax: LoadResult;
  /** A bare Express route returning a JSON body of the same size, as fast as possible. */
  bareExpressMax: LoadResult & { bodyBytes: number };
  /** recommendationsMax.rps / bareExpressMax.rps */
  throughputRatio: number;
  /** POST /v1/events in batches; `eventsPerSecond` = rps × batch size. */
  ingest: LoadResult & { batchSize: number; eventsPerSecond: number };
}

// autocannon runs in a child process so the load generator does not share the server's event loop
// (inside a worker thread autocannon reports raw histograms instead of results).
const WORKER = `
const o = JSON.parse(process.env.SHOWROOM_BENCH_LOAD);
const autocannon = require(o.autocannonPath);
let n = 0;
const opts = { url: o.url, connections: o.connections, duration: o.duration, headers: o.headers || {} };
if (o.rate) opts.overallRate = o.rate;
if (o.kind === 'recs') {
  opts.requests = [{ setupRequest(req) { req.path = '/v1/customers/c' + Math.floor(Math.random() * o.customers) + '/recommendations?limit=20'; return req; } }];
} else if (o.kind === 'events') {
  opts.requests = [{ setupRequest(req) {
    const t = new Date().toISOString().slice(0, 19) + 'Z';
    const events = [];
    for (let i = 0; i < o.batch; i++) events.push({ eventId: o.tag + ':' + (n++), type: 'view', customerId: 'c' + Math.floor(Math.random() * o.customers), vehicleId: 'v' + Math.floor(Math.random() * o.vehicles), occurredAt: t });
    req.method = 'POST'; req.path = '/v1/events'; req.body = JSON.stringify({ events });
    req.headers = Object.assign({}, req.headers, { 'content-type': 'application/json' });
    return req;
  } }];
} else {
  opts.requests = [{ path: o.path }];
}
autocannon(opts, (err, r) => process.stdout.write(JSON.stringify(err ? { error: String(err) } : { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors + r.timeouts })));
`;

function load(options: Record<string, unknown>): Promise<LoadResult> {
  const require = createRequire(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', WORKER], {
      env: { ...process.env, SHOWROOM_BENCH_LOAD: JSON.stringify({ autocannonPath: require.resolve('autocannon'), ...options }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        const m = JSON.parse(out) as LoadResult & { error?: string };
        if (m.error) reject(new Error(m.error));
        else resolve(m);
      } catch {
        reject(new Error(`load generator exited with ${code}: ${out.slice(0, 200)}`));
      }
    });
  });
}

/**
 * Benchmarks the online API with autocannon (DESIGN/issue 5 figures): recommendations for N
 * distinct customers with live profiles at a fixed rate (p99) and flat out, against a bare
 * Express route returning a body of the same size in the same run; then ingest in batches.
 * Every customer's prediction document is read once before measuring (the figures are about
 * re-ranking with live profiles, not about Cosmos point reads).
 * Writes a scratch model `bench-<id>` and Redis prefix `bench:online:<id>:`; removes both after.
 */
export async function benchOnlineApi(options: OnlineBenchOptions): Promise<OnlineBenchResult> {
  const tag = randomUUID().slice(0, 8);
  const customers = options.customers ?? 10_000;
  const vehicles = options.vehicles ?? 2_000;
  const duration = options.duration ?? 10;
  const connections = options.connections ?? 32;
  const batch = options.batchSize ?? 100;
  const stage = options.onStage ?? (() => undefined);
  const model = `bench-${tag}`;
  const runId = 'b1';
  const config: Config = { ...options.config, redisPrefix: `bench:online:${tag}:`, defaultModel: model, apiKeys: [], adminKeys: [], rateLimitPerMinute: 1_000_000_000 };
  const { store } = options;
  const logger = options.logger ?? silentLogger();
  const redis = createRedis(config.redisUrl, 'bench-online');
  const eventLog = createEventLog(config);
  const bodyStyles = ['SUV', 'Sedan', 'Truck', 'Hatchback'];
  const makes = [['Toyota', 'RAV4'], ['Honda', 'Civic'], ['Ford', 'F-150'], ['Mazda', 'CX-5'], ['Kia', 'Soul'], ['Tesla', 'Model 3']];
  try {
    await waitForRedis(redis);
    stage('seed run');
    const neighbors: NeighborDoc[] = Array.from({ length: vehicles }, (_, i) => ({
      id: neighborId(model, runId, `v${i}`),
      vehicleId: `v${i}`,
      model,
      runId,
      vehicle: { make: makes[i % 6][0], model: makes[i % 6][1], year: 2015 + (i % 10), bodyStyle: bodyStyles[i % 4], price: 9_000 + (i % 80) * 600 },
      neighbors: Array.from({ length: 50 }, (_, j) => ({ vehicleId: `v${(i * 7 + j * 13 + 1) % vehicles}`, score: 1 - j / 60 })),
    }));
    await store.upsertNeighbors(neighbors, { concurrency: 8 });
    const preds: PredictionDoc[] = Array.from({ length: customers }, (_, c) => ({
      id: predictionId(model, runId, `c${c}`),
      customerId: `c${c}`,
      model,
      runId,
      generatedAt: new Date().toISOString(),
      items: Array.from({ length: 100 }, (_, j) => ({ vehicleId: `v${(c * 31 + j * 17) % vehicles}`, score: 100 - j })),
    }));
    await store.upsertPredictions(preds, { concurrency: 8 });
    const now = new Date().toISOString();
    const run: RunRecord = {
      id: runId, kind: 'run', model, runId, status: 'succeeded', asOf: now, params: {}, counts: {}, timings: {},
      popularity: { overall: Array.from({ length: 100 }, (_, i) => ({ vehicleId: `v${i}`, score: 100 - i })), byBodyStyle: {}, byPriceBand: {} },
      createdAt: now, updatedAt: now, finishedAt: now,
    };
    await store.putRun(run);
    await store.activateRun(model, runId);

    stage('seed profiles');
    const profiles = new RedisProfileStore({ redis, prefix: config.redisPrefix });
    for (let c0 = 0; c0 < customers; c0 += 100) {
      const events: ShowroomEvent[] = [];
      for (let c = c0; c < Math.min(customers, c0 + 100); c++) {
        for (let k = 0; k < 20; k++) {
          const at = new Date(Date.now() - k * 600_000).toISOString();
          events.push({ eventId: `${tag}-seed-${c}-${k}`, type: k % 7 === 0 ? 'favorite' : 'view', customerId: `c${c}`, vehicleId: `v${(c * 13 + k * 29) % vehicles}`, occurredAt: at, receivedAt: at });
        }
        const at = new Date().toISOString();
        events.push({ eventId: `${tag}-seed-${c}-s`, type: 'search', customerId: `c${c}`, occurredAt: at, receivedAt: at, properties: { filters: { bodyStyle: 'SUV', priceMax: 30_000 } } });
      }
      await profiles.applyEvents(events);
    }

    const server = await startServer({ config, logger, registry: new Registry(), store, eventLog, redis, profiles, port: 0, host: '127.0.0.1', profileConsumer: false });
    const sample = await (await fetch(`${server.url}/v1/customers/c1/recommendations?limit=20`)).text();
    const bare = express();
    bare.get('/bare', (_req, res) => {
      res.type('application/json').send(sample);
    });
    const bareServer = await new Promise<import('node:http').Server>((resolve) => {
      const s = bare.listen(0, '127.0.0.1', () => resolve(s));
    });
    const bareUrl = `http://127.0.0.1:${(bareServer.address() as AddressInfo).port}`;
    try {
      stage(`warm caches (${customers} prediction documents)`);
      let next = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (next < customers) {
            const c = next++;
            await (await fetch(`${server.url}/v1/customers/c${c}/recommendations?limit=20`)).arrayBuffer();
          }
        }),
      );
      const phases = new Set(options.phases ?? ['at-rate', 'max', 'bare', 'ingest']);
      const run = async (phase: OnlineBenchPhase, name: string, spec: Record<string, unknown>) => {
        if (!phases.has(phase)) return SKIPPED;
        stage(name);
        return load(spec);
      };
      const atRate = await run('at-rate', `recommendations at ${options.rate ?? 500}/s`, { kind: 'recs', url: server.url, customers, connections, duration, rate: options.rate ?? 500 });
      // Alternating rounds: the machine's load changes between runs; the best of each is compared.
      let max = SKIPPED;
      let bareMax = SKIPPED;
      const rounds = Math.max(1, options.rounds ?? 1);
      for (let r = 0; r < rounds; r++) {
        const m = await run('max', `recommendations flat out (round ${r + 1}/${rounds})`, { kind: 'recs', url: server.url, customers, connections, duration });
        if (m.rps > max.rps) max = m;
        const b = await run('bare', `bare express flat out (round ${r + 1}/${rounds})`, { kind: 'path', url: bareUrl, path: '/bare', connections, duration });
        if (b.rps > bareMax.rps) bareMax = b;
      }
      const ingest = await run('ingest', `ingest in batches of ${batch}`, { kind: 'events', url: server.url, customers, vehicles, batch, tag, connections: Math.min(connections, 16), duration });
      stage('measured');
      return {
        customers,
        recommendationsAtRate: { ...atRate, rate: options.rate ?? 500 },
        recommendationsMax: max,
        bareExpressMax: { ...bareMax, bodyBytes: Buffer.byteLength(sample) },
        throughputRatio: max.rps / Math.max(1, bareMax.rps),
        ingest: { ...ingest, batchSize: batch, eventsPerSecond: ingest.rps * batch },
      };
    } finally {
      await new Promise<void>((resolve) => bareServer.close(() => resolve()));
      await server.close();
    }
  } finally {
    stage('clean up');
    await store.deleteRunDocuments(model, runId).catch(() => undefined);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    await eventLog.close();
    redis.disconnect();
  }
}
