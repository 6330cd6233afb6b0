/**
 * The freshness-lift evaluation (`showroom evaluate --online`): train a run as of day D, then
 * replay day D+1 customer by customer through the real API and, before each engaged event (and
 * each view), ask for the customer's recommendations: is the vehicle in the top k of the
 * precomputed list (the run's prediction document) and of the re-ranked list the API serves?
 * Headline: discovery — both lists without the vehicles the customer engaged with before the
 * request (training history and the test day so far), for vehicles they had never engaged with
 * (see freshness-metrics.ts); the re-engagement rows keep the lists whole. Each customer's live
 * profile starts as production would hold it: their earlier events (the lookback window) are
 * posted first, shifted in time like the day's.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../shared/config/config.js';
import { CUSTOMER_EVENT_TYPES, isInventoryEvent, MAX_EVENTS_PER_REQUEST, type ShowroomEvent } from '../../shared/domain/event.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { InvalidArgument, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import { parseEventKey } from '../../shared/lake/lake-paths.js';
import type { Lake } from '../../shared/lake/lake.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../shared/prediction-store/embedded-cosmos-launcher.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { createRedis, waitForRedis, type Redis } from '../../shared/redis/redis-connection.js';
import type { Logger } from '../../shared/telemetry/logger.js';
import { createMetricsRegistry } from '../../shared/telemetry/metrics.js';
import { runBatch } from '../../offline/batch/batch-pipeline.js';
import { startServer, type RunningServer } from '../../online/serve.js';
import type { RerankPolicies } from '../../shared/rerank/rerank-policy.js';
import { ensureDemoRedis } from '../demo/local-redis.js';
import { loadReplaySource } from '../replay/replay-source.js';
import { ENGAGED_TYPES, FreshnessAccumulator, type FreshnessRow } from './freshness-metrics.js';

const DAY_MS = 86_400_000;
/** Largest `limit` the recommendations endpoint serves. */
const MAX_LIMIT = 100;
/** A customer's earlier events posted before the day's replay (the profile keeps the newest 50 engagements and 20 searches). */
const PROFILE_SEED_EVENTS = 200;

export interface OnlineEvaluationOptions {
  config: Config;
  logger: Logger;
  lake: Lake;
  /** Last training day D (YYYY-MM-DD); D+1 is replayed. Default: the day before the lake's last day. */
  day?: string;
  /** Cut-off (default 10). */
  k?: number;
  /** Model trained and served (default config.defaultModel). */
  model?: string;
  /** A running service; default: the embedded stack started here (Cosmos, Redis, API). */
  url?: string;
  key?: string;
  /** Customers replayed at most (evenly sampled by id). */
  maxCustomers?: number;
  /** Customers replayed in parallel (each customer's events stay in order). Default 8. */
  concurrency?: number;
  lookbackDays?: number;
  topN?: number;
  threads?: number;
  /** Also measure before views (default true). */
  views?: boolean;
  /** Re-ranker policy overrides of the embedded API (tuning); ignored with `url`. */
  policies?: RerankPolicies;
  signal?: AbortSignal;
  onProgress?: (stage: 'train' | 'replay', done: number, total: number) => void;
}

export interface OnlineEvaluationReport {
  model: string;
  runId: string;
  /** Last day of training data (the run's asOf is the next day 00:00 UTC). */
  trainDay: string;
  testDay: string;
  k: number;
  /** The API the requests went to. */
  url: string;
  embedded: boolean;
  customers: number;
  /** Customer events of the test day posted to the API. */
  events: number;
  /** Earlier customer events (the lookback window, newest 200 per customer) posted before each customer's day: the live profile's start. */
  earlierEvents: number;
  /** Inventory events posted first (listings and price changes; sales are not, they would leak the day's purchases). */
  inventoryEvents: number;
  requests: number;
  /** Discovery rows (the headline): already-engaged vehicles removed from both lists, requests for never-engaged vehicles only. */
  discovery: FreshnessRow[];
  /** Re-engagement rows: the lists as they are, every request. */
  rows: FreshnessRow[];
  /** The served (re-ranked) lists' already-engaged vehicles in their top k, before removal, over every request. */
  servedEngaged: { mean: number; share: number } | null;
  seconds: number;
}

/** Days of the lake's event partitions, sorted. */
async function lakeDays(lake: Lake): Promise<string[]> {
  const days = new Set<string>();
  for (const o of await lake.list('events/')) {
    const k = parseEventKey(o.key);
    if (k) days.add(k.date);
  }
  return [...days].sort();
}

const nextDay = (d: string) => new Date(Date.parse(`${d}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);

interface Stack {
  url: string;
  store: PredictionStore;
  embedded: boolean;
  close(): Promise<void>;
}

/** The embedded stack on private resources: Cosmos on a free port, Redis (REDIS_URL or a private server), a unique prefix. */
async function embeddedStack(config: Config, logger: Logger, policies?: RerankPolicies): Promise<{ config: Config; store: PredictionStore; startApi: () => Promise<string>; close: () => Promise<void> }> {
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err: errorMessage(err) }, 'evaluate --online: cleanup step failed');
      }
    }
  };
  try {
    const redis = await ensureDemoRedis(config.redisUrl);
    cleanups.push(() => redis.stop());
    const cosmos: EmbeddedCosmos = await startEmbeddedCosmos({ host: '127.0.0.1', port: 0, logger, ttlSweepMs: 0 });
    cleanups.push(() => cosmos.stop({ save: false }));
    const id = randomUUID().slice(0, 8);
    const cfg: Config = { ...config, redisUrl: redis.url, redisPrefix: `showroom-eval-${id}:`, cosmosEndpoint: cosmos.endpoint, cosmosKey: cosmos.key, cosmosDatabase: `showroom-eval-${id}`, eventHubsConnectionString: undefined };
    const store = await createPredictionStore(cfg, logger);
    cleanups.push(() => store.close());
    const startApi = async (): Promise<string> => {
      const apiRedis: Redis = createRedis(cfg.redisUrl, 'api');
      cleanups.push(async () => {
        // Remove every key of the private prefix, then disconnect.
        let cursor = '0';
        do {
          const [next, keys] = await apiRedis.scan(cursor, 'MATCH', `${cfg.redisPrefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await apiRedis.del(...keys);
        } while (cursor !== '0');
        apiRedis.disconnect();
      });
      await waitForRedis(apiRedis, 5000);
      const eventLog: EventLog = createEventLog(cfg, { logger });
      cleanups.push(() => eventLog.close());
      const server: RunningServer = await startServer({ config: cfg, logger, registry: createMetricsRegistry(), store, eventLog, redis: apiRedis, port: 0, host: '127.0.0.1', keys: { api: [], admin: [] }, policies });
      cleanups.push(() => server.close());
      return server.url;
    };
    return { config: cfg, store, startApi, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function httpJson<T>(url: string, init: RequestInit, what: string): Promise<T> {
  let res: Response;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(url, init);
    } catch (err) {
      if (attempt < 3) continue;
      throw new Unavailable(`${what}: ${errorMessage(err)}`, err);
    }
    if ((res.status === 429 || res.status === 503) && attempt < 3) {
      await res.text();
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      continue;
    }
    if (!res.ok) throw new Unavailable(`${what}: ${res.status} ${(await res.text()).slice(0, 300)}`);
    return (await res.json()) as T;
  }
}

/**
 * Runs the freshness-lift evaluation and returns the table. Without `url` everything runs on a
 * private embedded stack that is removed afterwards; with `url` the run is trained into the
 * store of `config` and ACTIVATED there (point it at a staging service).
 *
 * Timing: the API re-ranks with the wall clock, so each customer's test-day events are shifted
 * by (now − the customer's last test-day event): their spacing is kept and the last one is "now".
 */
export async function runOnlineEvaluation(o: OnlineEvaluationOptions): Promise<OnlineEvaluationReport> {
  const started = Date.now();
  const k = o.k ?? 10;
  const model = o.model ?? o.config.defaultModel;
  const days = await lakeDays(o.lake);
  if (days.length < 2) throw new InvalidArgument(`the lake ${o.lake.description} needs events on at least two days (it has ${days.length}); generate or import data first`);
  const trainDay = o.day ?? days[days.length - 2]!;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(trainDay)) throw new InvalidArgument(`--day must be YYYY-MM-DD, got "${trainDay}"`);
  const testDay = nextDay(trainDay);
  if (!days.includes(testDay)) throw new InvalidArgument(`the lake has no events on ${testDay} (the day after --day ${trainDay}); its days run ${days[0]} .. ${days[days.length - 1]}`);

  let stack: Stack;
  let runConfig = o.config;
  let startApi: (() => Promise<string>) | undefined;
  if (o.url) {
    const store = await createPredictionStore(o.config, o.logger);
    stack = { url: o.url.replace(/\/+$/, ''), store, embedded: false, close: () => store.close() };
  } else {
    const e = await embeddedStack(o.config, o.logger, o.policies);
    runConfig = e.config;
    startApi = e.startApi;
    stack = { url: '', store: e.store, embedded: true, close: e.close };
  }
  try {
    // 1. Train as of the end of day D (events before D+1 00:00 UTC) and activate it.
    const asOf = `${testDay}T00:00:00.000Z`;
    const runId = `eval-online-${trainDay}-${randomUUID().slice(0, 6)}`;
    const trained = await runBatch({
      config: { ...runConfig, gateNdcgTolerance: 1, gateCoverageTolerance: 1 },
      lake: o.lake,
      store: stack.store,
      model,
      asOf,
      runId,
      lookbackDays: o.lookbackDays ?? runConfig.lookbackDays,
      topN: o.topN ?? runConfig.topN,
      threads: o.threads ?? 2,
      activate: true,
      logger: o.logger,
      signal: o.signal,
      onProgress: (_stage, done, total) => o.onProgress?.('train', done, total),
    });
    if (!trained.activated) throw new Unavailable(`the evaluation run ${runId} was not activated`);
    if (startApi) stack.url = await startApi();
    o.signal?.throwIfAborted();

    // 2. The test day's events, customer by customer.
    const loaded = await loadReplaySource({ source: 'lake', lake: o.lake, from: `${testDay}T00:00:00.000Z`, to: `${nextDay(testDay)}T00:00:00.000Z`, signal: o.signal });
    const inventory = loaded.events.filter((e) => isInventoryEvent(e.type) && e.type !== 'vehicle_sold');
    const byCustomer = new Map<string, ShowroomEvent[]>();
    for (const e of loaded.events) {
      if (!e.customerId || !(CUSTOMER_EVENT_TYPES as readonly string[]).includes(e.type)) continue;
      let list = byCustomer.get(e.customerId);
      if (!list) byCustomer.set(e.customerId, (list = []));
      list.push(e);
    }
    // Every vehicle each customer engaged with before the test day (the run's lookback window).
    const lookbackDays = o.lookbackDays ?? runConfig.lookbackDays;
    const history = await loadReplaySource({ source: 'lake', lake: o.lake, from: new Date(Date.parse(`${testDay}T00:00:00.000Z`) - lookbackDays * DAY_MS).toISOString(), to: `${testDay}T00:00:00.000Z`, signal: o.signal });
    const engagedBefore = new Map<string, Set<string>>();
    const earlier = new Map<string, ShowroomEvent[]>();
    for (const e of history.events) {
      if (!e.customerId || !byCustomer.has(e.customerId) || !(CUSTOMER_EVENT_TYPES as readonly string[]).includes(e.type)) continue;
      let list = earlier.get(e.customerId);
      if (!list) earlier.set(e.customerId, (list = []));
      list.push(e);
      if (!e.vehicleId) continue;
      let set = engagedBefore.get(e.customerId);
      if (!set) engagedBefore.set(e.customerId, (set = new Set()));
      set.add(e.vehicleId);
    }
    const measured = new Set<string>([...ENGAGED_TYPES, ...(o.views === false ? [] : ['view'])]);
    let customers = [...byCustomer.keys()].filter((c) => byCustomer.get(c)!.some((e) => measured.has(e.type) && e.vehicleId)).sort();
    if (o.maxCustomers && customers.length > o.maxCustomers) {
      const step = customers.length / o.maxCustomers;
      customers = Array.from({ length: o.maxCustomers }, (_, i) => customers[Math.floor(i * step)]!);
    }

    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (o.key) headers.authorization = `Bearer ${o.key}`;
    const post = (events: ShowroomEvent[]) =>
      httpJson<{ accepted: number }>(`${stack.url}/v1/events`, { method: 'POST', headers, body: JSON.stringify({ events: events.map(({ receivedAt: _r, ...rest }) => rest) }) }, 'POST /v1/events');
    for (let i = 0; i < inventory.length; i += 500) await post(inventory.slice(i, i + 500));

    const acc = new FreshnessAccumulator(k);
    let requests = 0;
    let posted = 0;
    let seeded = 0;
    let done = 0;
    o.onProgress?.('replay', 0, customers.length);
    const one = async (customerId: string) => {
      const events = byCustomer.get(customerId)!;
      const doc = await stack.store.getPrediction(model, runId, customerId);
      const base = (doc?.items ?? []).map((x) => x.vehicleId);
      const engaged = engagedBefore.get(customerId) ?? new Set<string>();
      const shift = Date.now() - Date.parse(events[events.length - 1]!.occurredAt);
      const shifted = (e: ShowroomEvent): ShowroomEvent => ({ ...e, occurredAt: new Date(Date.parse(e.occurredAt) + shift).toISOString() });
      // The live profile as production would hold it at the start of the day: the customer's newest earlier events.
      let pending: ShowroomEvent[] = (earlier.get(customerId) ?? []).slice(-PROFILE_SEED_EVENTS).map(shifted);
      seeded += pending.length;
      posted -= pending.length;
      const flush = async () => {
        for (let i = 0; i < pending.length; i += MAX_EVENTS_PER_REQUEST) await post(pending.slice(i, i + MAX_EVENTS_PER_REQUEST));
        posted += pending.length;
        pending = [];
      };
      for (const e of events) {
        o.signal?.throwIfAborted();
        if (measured.has(e.type) && e.vehicleId) {
          await flush();
          // Room for k vehicles after the already-engaged ones are removed (the API serves 100 at most).
          const limit = Math.min(MAX_LIMIT, Math.max(k, k + engaged.size));
          const rec = await httpJson<{ items: { vehicleId: string }[] }>(
            `${stack.url}/v1/customers/${encodeURIComponent(customerId)}/recommendations?limit=${limit}`,
            { headers },
            'GET recommendations',
          );
          requests += 1;
          acc.add(e.type, e.vehicleId, base, rec.items.map((x) => x.vehicleId), !doc, engaged);
        }
        if (e.vehicleId) engaged.add(e.vehicleId);
        pending.push(shifted(e));
      }
      await flush();
    };
    const queue = [...customers];
    const workers = Array.from({ length: Math.max(1, o.concurrency ?? 8) }, async () => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        await one(c);
        done += 1;
        o.onProgress?.('replay', done, customers.length);
      }
    });
    await Promise.all(workers);
    const rows = acc.rows();
    const all = rows.find((x) => x.type === 'all');

    return {
      model,
      runId,
      trainDay,
      testDay,
      k,
      url: stack.url,
      embedded: stack.embedded,
      customers: customers.length,
      events: posted,
      earlierEvents: seeded,
      inventoryEvents: inventory.length,
      requests,
      discovery: acc.discoveryRows(),
      rows,
      servedEngaged: all?.servedEngaged == null ? null : { mean: all.servedEngaged, share: all.servedEngaged / k },
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    await stack.close();
  }
}

/** The table `showroom evaluate --online` prints: discovery (the headline) first, then re-engagement. */
export function formatOnlineEvaluation(r: OnlineEvaluationReport): string {
  const f = (x: number) => x.toFixed(4);
  const lift = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
  const head = ['measure', 'event', 'requests', 'cold', `hit@${r.k} pre`, `hit@${r.k} rerank`, 'lift', `nDCG@${r.k} pre`, `nDCG@${r.k} rerank`, 'lift', `hit@${r.k} served`, 'served seen'];
  const rows = [...r.discovery, ...r.rows].map((x) => [
    x.measure,
    x.type,
    String(x.requests),
    String(x.coldStart),
    f(x.precomputed.hitRate),
    f(x.reranked.hitRate),
    lift(x.lift.hitRate),
    f(x.precomputed.ndcg),
    f(x.reranked.ndcg),
    lift(x.lift.ndcg),
    f(x.asServed.hitRate),
    x.servedEngaged === null ? 'n/a' : x.servedEngaged.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const served = r.servedEngaged;
  return [
    `freshness lift: run ${r.runId} (${r.model}) trained on events through ${r.trainDay}; ${r.testDay} replayed through ${r.url}${r.embedded ? ' (embedded stack)' : ''}`,
    `${r.customers} customers, ${r.events} events posted (+${r.earlierEvents} earlier ones first, +${r.inventoryEvents} inventory), ${r.requests} recommendation requests, ${r.seconds} s`,
    `discovery: both lists without the vehicles the customer engaged with before the request, requests for never-engaged vehicles only (the headline);`,
    `re-engagement: the lists as they are; hit served: the re-ranked top ${r.k} as served (nothing removed); served seen: already-engaged vehicles in the served top ${r.k} (mean per list, before removal)` +
      (served ? ` — ${served.mean.toFixed(2)} of ${r.k} (${(served.share * 100).toFixed(1)} %) over all requests` : ''),
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}
