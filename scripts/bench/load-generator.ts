/**
 * Child-process entry of the benchmark's load generator, so the load never shares the event loop
 * of the server under test. Reads a LoadSpec (JSON) from the environment variable
 * SHOWROOM_BENCH_LOAD, runs it, prints one JSON line (LoadResult or `{error}`) on stdout, exits.
 * Started by `runLoad` (bench-processes.ts); not a command of its own.
 *
 * Flat-out runs use autocannon. Fixed-rate runs (`rate`) use an open-loop pacer instead: autocannon's
 * `overallRate` sends each connection's whole per-second quota back to back at the start of every
 * second (a burst of `rate` requests once a second), so its latencies measure how long a burst
 * queues, not the latency at a steady rate. The pacer schedules request i at start + i/rate and
 * measures each latency from that scheduled time (a late send counts against the server, as in
 * wrk2: no coordinated omission).
 */
import http from 'node:http';
import autocannon from 'autocannon';

/** What the load generator runs. Latencies come back in ms. */
export interface LoadSpec {
  /** `recs`: GET recommendations of a random customer id; `events`: POST /v1/events batches; `path`: a fixed GET. */
  kind: 'recs' | 'events' | 'path';
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Requests/s over all connections (fixed-rate run: the open-loop pacer); absent = flat out (autocannon). */
  rate?: number;
  /** `recs`/`events`: customer ids are `customerPrefix` + index zero-padded to `customerDigits`, index < `customers`. */
  customerPrefix?: string;
  customerDigits?: number;
  customers?: number;
  /** `events`: vehicle ids to pick from. */
  vehicleIds?: string[];
  /** `events`: events per request. */
  batch?: number;
  /** `events`: eventId prefix (unique per run). */
  tag?: string;
  /** `path`: request path. */
  path?: string;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Paced runs: p99 from the moment each request was actually written (without the client's own send delays), ms. */
  p99FromSend?: number;
  /** Paced runs: the latest a request left after its scheduled time, ms (the load generator's own lag). */
  maxSendLag?: number;
  total: number;
  non2xx: number;
  errors: number;
  /** Peak RSS of the load generator process, bytes. */
  peakRssBytes: number;
}

function customerId(spec: LoadSpec): string {
  const n = Math.floor(Math.random() * (spec.customers ?? 1));
  return `${spec.customerPrefix ?? 'c-'}${String(n).padStart(spec.customerDigits ?? 1, '0')}`;
}

/** Value at quantile q (0..1) of sorted numbers (nearest rank). */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** One request of a run. */
interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

/** The request builder of a spec: a random customer's recommendations, a batch of fresh events, or a fixed path. */
function requestBuilder(spec: LoadSpec): () => LoadRequest {
  if (spec.kind === 'recs') return () => ({ method: 'GET', path: `/v1/customers/${customerId(spec)}/recommendations?limit=20` });
  if (spec.kind === 'events') {
    const vehicles = spec.vehicleIds ?? ['v-000001'];
    let n = 0;
    return () => {
      const at = `${new Date().toISOString().slice(0, 19)}Z`;
      const events = [];
      for (let i = 0; i < (spec.batch ?? 100); i++) {
        events.push({ eventId: `${spec.tag ?? 'bench'}:${n++}`, type: 'view', customerId: customerId(spec), vehicleId: vehicles[Math.floor(Math.random() * vehicles.length)], occurredAt: at });
      }
      return { method: 'POST', path: '/v1/events', body: JSON.stringify({ events }) };
    };
  }
  const fixed = spec.path ?? '/';
  return () => ({ method: 'GET', path: fixed });
}

/** Open-loop requests at `spec.rate` per second for `spec.duration` s over at most `spec.connections` keep-alive sockets. */
function paced(spec: LoadSpec, next: () => LoadRequest, done: (out: Omit<LoadResult, 'peakRssBytes'>) => void): void {
  const url = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
  const rate = spec.rate!;
  const total = Math.round(rate * spec.duration);
  const latencies: number[] = [];
  const fromSend: number[] = [];
  let maxSendLag = 0;
  let sent = 0;
  let finished = 0;
  let non2xx = 0;
  let errors = 0;
  const start = performance.now();
  const finish = () => {
    if (++finished < total) return;
    const elapsed = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    agent.destroy();
    done({
      rps: Math.round((latencies.length / elapsed) * 10) / 10,
      p50: Math.round(quantile(latencies, 0.5) * 100) / 100,
      p99: Math.round(quantile(latencies, 0.99) * 100) / 100,
      p99FromSend: Math.round(quantile(fromSend.sort((a, b) => a - b), 0.99) * 100) / 100,
      maxSendLag: Math.round(maxSendLag * 100) / 100,
      total: latencies.length,
      non2xx,
      errors,
    });
  };
  const fire = (scheduled: number) => {
    const at = performance.now();
    if (at - scheduled > maxSendLag) maxSendLag = at - scheduled;
    const r = next();
    const headers: http.OutgoingHttpHeaders = r.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(r.body) };
    const req = http.request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers, agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => {
        if (res.statusCode! >= 200 && res.statusCode! < 300) {
          const done = performance.now();
          latencies.push(done - scheduled);
          fromSend.push(done - at);
        }
        else non2xx += 1;
        finish();
      });
    });
    req.on('error', () => {
      errors += 1;
      finish();
    });
    req.end(r.body);
  };
  const tick = () => {
    const now = performance.now();
    // Every request due by now leaves, each timed from its own scheduled instant.
    while (sent < total && start + (sent * 1000) / rate <= now) fire(start + (sent++ * 1000) / rate);
    if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
  };
  tick();
}

function main(): void {
  const spec = JSON.parse(process.env.SHOWROOM_BENCH_LOAD ?? '{}') as LoadSpec;
  const report = (out: Record<string, unknown>) => {
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(`${JSON.stringify({ ...out, peakRssBytes })}\n`, () => process.exit(0));
  };
  const next = requestBuilder(spec);
  if (spec.rate) {
    paced(spec, next, report);
    return;
  }
  const opts: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    requests: [
      {
        setupRequest: (req) => {
          const r = next();
          return r.body === undefined ? { ...req, path: r.path } : { ...req, method: r.method, path: r.path, body: r.body, headers: { ...req.headers, 'content-type': 'application/json' } };
        },
      },
    ],
  };
  autocannon(opts, (err, r) => {
    report(err ? { error: String(err) } : { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors + r.timeouts });
  });
}

main();
