import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { RedisProfileStore } from '../../shared/profile-store/redis-profile-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { runLoad, startBenchChild, type BenchChild, type LoadResult, type ProcessStats } from './bench-processes.js';

export interface ServingBenchOptions {
  /** Environment of the API process (REDIS_URL, COSMOS_ENDPOINT, SHOWROOM_REDIS_PREFIX, SHOWROOM_DEFAULT_MODEL, ...). */
  env: NodeJS.ProcessEnv;
  /** Same Redis and prefix as the API: live profiles are seeded through it. */
  redis: Redis;
  redisPrefix: string;
  /** The event log the API's profile consumer reads (direct-append freshness). */
  eventLog: EventLog;
  /** Customers `<prefix><index padded to digits>`, index < count, each with a precomputed list in the active run. */
  customerPrefix: string;
  customerDigits: number;
  customers: number;
  /** Vehicle ids of the run's catalog (live events pick from them). */
  vehicleIds: string[];
  /** Live events seeded per customer (default 20, plus one search). */
  eventsPerCustomer?: number;
  /** Seconds per autocannon run (default 10). */
  duration?: number;
  /** Fixed rate of the latency run, requests/s (default 500). */
  rate?: number;
  connections?: number;
  /** Alternating rounds of the flat-out runs (recommendations vs ceiling vs stock Express; ingest vs its ceiling); best of each (default 1). */
  rounds?: number;
  /** Events per ingest request (default 100). */
  batchSize?: number;
  /** Events/s of the fixed-rate ingest run (default 10,000). */
  ingestRate?: number;
  /** Freshness trials of each kind (default 100). */
  freshnessTrials?: number;
  tag: string;
  /** Write a V8 CPU profile of the API process into this folder (`node --cpu-prof`). */
  cpuProfileDir?: string;
  onStage?: (stage: string) => void;
  signal?: AbortSignal;
}

export interface FreshnessResult {
  trials: number;
  p50: number;
  p99: number;
  max: number;
  /** Trials where the first GET after the write already showed the change. */
  firstRequest: number;
  /** Trials that never changed within the deadline. */
  timeouts: number;
}

export interface ServingBenchResult {
  customers: number;
  bodyBytes: number;
  recommendationsAtRate: LoadResult & { rate: number; api: ProcessStats };
  recommendationsMax: LoadResult;
  /** The GET ceiling: the same body from the API's server construction and settings (bench-server tuned), flat out. */
  tunedExpressMax: LoadResult;
  /** A reference: the same body from stock Express (`app.listen`, default ETag), flat out. */
  bareExpressMax: LoadResult;
  /** POST /v1/events flat out (throughput). */
  ingest: LoadResult & { batchSize: number; eventsPerSec: number; connections: number };
  /** The ingest ceiling (bench-server ingest-ceiling: same server, same body, one bare append per request), flat out, same load. */
  ingestCeiling: LoadResult & { eventsPerSec: number };
  /** POST /v1/events at a fixed `rate` of events/s (latency), paced. */
  ingestAtRate: LoadResult & { batchSize: number; eventsPerSec: number; rate: number; api: ProcessStats };
  /** POST /v1/events (one hide event) → GET shows the changed ranking, ms. */
  freshnessReadYourWrites: FreshnessResult;
  /** EventLog.append (one hide event) → the profile consumer applies it → GET shows it, ms. */
  freshnessLog: FreshnessResult;
  peakRss: { server?: number; bareServer?: number; tunedServer?: number; ingestCeilingServer?: number; loadGenerator: number };
}

/**
 * Node flags of the servers under test, as the `showroom` launcher sets them: a 64 MiB young
 * generation (V8's default is 16 MiB), so the per-request garbage dies young instead of being
 * promoted — at 500 req/s the API then runs without major collections (measured: p99 77 → 18 ms).
 */
const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];

const id = (o: Pick<ServingBenchOptions, 'customerPrefix' | 'customerDigits'>, n: number) => `${o.customerPrefix}${String(n).padStart(o.customerDigits, '0')}`;

/**
 * Serving, ingest and freshness benchmarks against the showroom API in its own process
 * (bench-server.ts api), with autocannon in another (load-generator.ts), next to their ceilings,
 * each in its own process with the API's Node flags: the same GET body from the API's own server
 * construction and settings (bench-server.ts tuned), the same POST bodies through that server
 * into one bare event-log append (bench-server.ts ingest-ceiling); and, as a reference, the same
 * body from stock Express (bench-server.ts bare).
 * Seeds live profiles for every customer first (the figures are about re-ranking with live
 * profiles) and reads every customer once (prediction documents cached, as in steady state).
 */
export async function benchServing(options: ServingBenchOptions): Promise<ServingBenchResult> {
  const stage = options.onStage ?? (() => undefined);
  const duration = options.duration ?? 10;
  const connections = options.connections ?? 32;
  const rate = options.rate ?? 500;
  const batch = options.batchSize ?? 100;
  const perCustomer = options.eventsPerCustomer ?? 20;
  const { vehicleIds, customers } = options;
  const loadPeaks: number[] = [];
  const track = <T extends LoadResult>(r: T): T => {
    loadPeaks.push(r.peakRssBytes);
    return r;
  };

  stage(`seed live profiles (${customers} customers × ${perCustomer + 1} events)`);
  const profiles = new RedisProfileStore({ redis: options.redis, prefix: options.redisPrefix });
  const nowMs = Date.now();
  for (let c0 = 0; c0 < customers; c0 += 200) {
    const events: ShowroomEvent[] = [];
    for (let c = c0; c < Math.min(customers, c0 + 200); c++) {
      const customerId = id(options, c);
      for (let k = 0; k < perCustomer; k++) {
        const at = new Date(nowMs - (k + 1) * 300_000).toISOString();
        events.push({ eventId: `${options.tag}-seed-${c}-${k}`, type: k % 7 === 3 ? 'favorite' : 'view', customerId, vehicleId: vehicleIds[(c * 13 + k * 29) % vehicleIds.length]!, occurredAt: at, receivedAt: at });
      }
      const at = new Date(nowMs - 60_000).toISOString();
      events.push({ eventId: `${options.tag}-seed-${c}-s`, type: 'search', customerId, occurredAt: at, receivedAt: at, properties: { filters: { bodyStyle: 'SUV', priceMax: 30_000 } } });
    }
    await profiles.applyEvents(events);
    options.signal?.throwIfAborted();
  }

  stage('start the API process');
  // As `showroom serve` runs (the launcher's young generation, see scripts/cli.ts); the bare server gets the same.
  const api = await startBenchChild('bench-server', ['api'], options.env, { nodeFlags: [...SERVER_NODE_FLAGS, ...(options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [])] });
  let bare: BenchChild | undefined;
  let tuned: BenchChild | undefined;
  let ingestCeiling: BenchChild | undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'showroom-bench-'));
  try {
    const url = String(api.info.url);
    const get = async (customerId: string) => {
      const res = await fetch(`${url}/v1/customers/${customerId}/recommendations?limit=20`);
      if (res.status !== 200) throw new Error(`GET recommendations of ${customerId}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      return res.text();
    };
    // A busy machine can make the first Cosmos reads time out (degraded answers): a few tries.
    let sample = '';
    for (let attempt = 1; ; attempt++) {
      sample = await get(id(options, 1));
      const parsed = JSON.parse(sample) as { degraded: boolean; coldStart: boolean; items: unknown[] };
      if (!parsed.degraded && parsed.items.length > 0) break;
      if (attempt === 10) throw new Error(`the API serves a degraded or empty list for ${id(options, 1)}: ${sample.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }

    stage(`warm the API (${customers} customers read once)`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 48 }, async () => {
        while (next < customers) await get(id(options, next++));
      }),
    );

    const bodyFile = path.join(dir, 'body.json');
    await writeFile(bodyFile, sample);
    bare = await startBenchChild('bench-server', ['bare', bodyFile], options.env, { nodeFlags: SERVER_NODE_FLAGS });
    tuned = await startBenchChild('bench-server', ['tuned', bodyFile], options.env, { nodeFlags: SERVER_NODE_FLAGS });
    const bareUrl = String(bare.info.url);
    const tunedUrl = String(tuned.info.url);
    // Warmed like the API (as many requests, as many in flight), so no server is measured while its JIT still compiles.
    stage(`warm the GET ceiling and stock Express (${customers} requests each)`);
    await warm(customers, () => fetch(`${tunedUrl}/bare`));
    await warm(customers, () => fetch(`${bareUrl}/bare`));
    const recSpec = { kind: 'recs' as const, url, connections, duration, customers, customerPrefix: options.customerPrefix, customerDigits: options.customerDigits };

    stage(`recommendations at ${rate}/s for ${duration} s`);
    await api.stats();
    const atRate = track(await runLoad({ ...recSpec, rate }));
    const atRateApi = await api.stats();
    let max: LoadResult | undefined;
    let tunedMax: LoadResult | undefined;
    let bareMax: LoadResult | undefined;
    for (let r = 0; r < (options.rounds ?? 1); r++) {
      stage(`recommendations flat out (round ${r + 1})`);
      const m = track(await runLoad(recSpec));
      if (!max || m.rps > max.rps) max = m;
      stage(`GET ceiling: same body, the API's server construction and settings, flat out (round ${r + 1})`);
      const c = track(await runLoad({ kind: 'path', url: tunedUrl, path: '/bare', connections, duration }));
      if (!tunedMax || c.rps > tunedMax.rps) tunedMax = c;
      stage(`stock Express (default ETag) flat out (round ${r + 1})`);
      const b = track(await runLoad({ kind: 'path', url: bareUrl, path: '/bare', connections, duration }));
      if (!bareMax || b.rps > bareMax.rps) bareMax = b;
    }
    const bareServer = await bare.stop();
    const tunedServer = await tuned.stop();

    const eventSpec = { kind: 'events' as const, url, connections: Math.min(connections, 16), duration, batch, customers, customerPrefix: options.customerPrefix, customerDigits: options.customerDigits, vehicleIds: vehicleIds.slice(0, 2000) };
    const ingestRate = options.ingestRate ?? 10_000;
    stage(`ingest: POST /v1/events in batches of ${batch} at ${ingestRate} events/s for ${duration} s`);
    await api.stats();
    const ingestAtRate = track(await runLoad({ ...eventSpec, rate: ingestRate / batch, tag: `${options.tag}-ingest-rate` }));
    const ingestAtRateApi = await api.stats();
    // Its own log prefix (under the run's, so it is cleaned up): the API's profile consumer must not read these.
    ingestCeiling = await startBenchChild('bench-server', ['ingest-ceiling'], { ...options.env, SHOWROOM_REDIS_PREFIX: `${options.redisPrefix}ingest-ceiling:` }, { nodeFlags: SERVER_NODE_FLAGS });
    const ceilingSpec = { ...eventSpec, url: String(ingestCeiling.info.url) };
    // Warmed with as many batches as the fixed-rate run just sent the API.
    stage(`warm the ingest ceiling (${Math.round((ingestRate / batch) * duration)} batches)`);
    let warmBatch = 0;
    await warm(Math.round((ingestRate / batch) * duration), () => {
      const n = warmBatch++;
      const at = `${new Date().toISOString().slice(0, 19)}Z`;
      const events = Array.from({ length: batch }, (_, i) => ({ eventId: `${options.tag}-warm-${n}-${i}`, type: 'view', customerId: id(options, (n * batch + i) % customers), vehicleId: vehicleIds[(n * batch + i) % vehicleIds.length], occurredAt: at }));
      return fetch(`${ceilingSpec.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    });
    let ingest: LoadResult | undefined;
    let ingestTop: LoadResult | undefined;
    for (let r = 0; r < (options.rounds ?? 1); r++) {
      stage(`ingest: POST /v1/events in batches of ${batch} flat out for ${duration} s (round ${r + 1})`);
      const m = track(await runLoad({ ...eventSpec, tag: `${options.tag}-ingest-${r}` }));
      if (!ingest || m.rps > ingest.rps) ingest = m;
      stage(`ingest ceiling: same server and bodies, one bare append per request, flat out (round ${r + 1})`);
      const c = track(await runLoad({ ...ceilingSpec, tag: `${options.tag}-ceiling-${r}` }));
      if (!ingestTop || c.rps > ingestTop.rps) ingestTop = c;
    }
    const ingestCeilingServer = await ingestCeiling.stop();

    const trials = Math.min(options.freshnessTrials ?? 100, Math.floor(customers / 2));
    stage(`freshness: POST → changed ranking (${trials} trials)`);
    const ryw = await freshness(trials, (n) => id(options, n), get, async (event) => {
      const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ eventId: event.eventId, type: event.type, customerId: event.customerId, vehicleId: event.vehicleId, occurredAt: event.occurredAt }) });
      if (res.status !== 202) throw new Error(`POST /v1/events: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      await res.arrayBuffer();
    }, options.tag + '-ryw');
    stage(`freshness: log append → changed ranking (${trials} trials)`);
    const viaLog = await freshness(trials, (n) => id(options, customers - 1 - n), get, (event) => options.eventLog.append([{ ...event, receivedAt: new Date().toISOString() }]), options.tag + '-log');

    const server = await api.stop();
    return {
      customers,
      bodyBytes: Buffer.byteLength(sample),
      recommendationsAtRate: { ...atRate, rate, api: atRateApi },
      recommendationsMax: max!,
      tunedExpressMax: tunedMax!,
      bareExpressMax: bareMax!,
      ingest: { ...ingest!, batchSize: batch, eventsPerSec: Math.round(ingest!.rps * batch), connections: eventSpec.connections },
      ingestCeiling: { ...ingestTop!, eventsPerSec: Math.round(ingestTop!.rps * batch) },
      ingestAtRate: { ...ingestAtRate, batchSize: batch, eventsPerSec: Math.round(ingestAtRate.rps * batch), rate: ingestRate, api: ingestAtRateApi },
      freshnessReadYourWrites: ryw,
      freshnessLog: viaLog,
      peakRss: { server, bareServer, tunedServer, ingestCeilingServer, loadGenerator: Math.max(...loadPeaks) },
    };
  } finally {
    await bare?.stop();
    await tuned?.stop();
    await ingestCeiling?.stop();
    await api.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Sends `count` requests, 48 in flight; rejects on a non-2xx answer. */
async function warm(count: number, request: () => Promise<Response>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 48 }, async () => {
      while (next++ < count) {
        const res = await request();
        const body = await res.text();
        if (res.status >= 300) throw new Error(`warm-up: HTTP ${res.status} ${body.slice(0, 200)}`);
      }
    }),
  );
}

/**
 * For `trials` customers: read the ranking, write a `hide` event of its first vehicle, then
 * poll (back to back) until the first vehicle changed; times from just before the write.
 */
async function freshness(
  trials: number,
  customerAt: (n: number) => string,
  get: (customerId: string) => Promise<string>,
  write: (event: ShowroomEvent) => Promise<void>,
  tag: string,
): Promise<FreshnessResult> {
  const times: number[] = [];
  let firstRequest = 0;
  let timeouts = 0;
  const top = (body: string) => (JSON.parse(body) as { items: { vehicleId: string }[] }).items[0]?.vehicleId;
  for (let n = 0; n < trials; n++) {
    const customerId = customerAt(n);
    const before = top(await get(customerId));
    if (!before) continue;
    const occurredAt = `${new Date().toISOString().slice(0, 19)}Z`;
    const t0 = performance.now();
    await write({ eventId: `${tag}-${n}`, type: 'hide', customerId, vehicleId: before, occurredAt, receivedAt: occurredAt });
    let polls = 0;
    for (;;) {
      polls += 1;
      if (top(await get(customerId)) !== before) break;
      if (performance.now() - t0 > 5000) {
        timeouts += 1;
        break;
      }
    }
    times.push(performance.now() - t0);
    if (polls === 1) firstRequest += 1;
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => (times.length ? Math.round(times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]! * 10) / 10 : NaN);
  return { trials: times.length, p50: q(0.5), p99: q(0.99), max: q(1), firstRequest, timeouts };
}
