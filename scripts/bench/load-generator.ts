/**
 * Child-process entry of the benchmark's load generator (autocannon), so the load never shares
 * the event loop of the server under test. Reads a LoadSpec (JSON) from the environment variable
 * SHOWROOM_BENCH_LOAD, runs it, prints one JSON line (LoadResult or `{error}`) on stdout, exits.
 * Started by `runLoad` (bench-processes.ts); not a command of its own.
 */
import autocannon from 'autocannon';

/** What the load generator runs. Latencies come back in ms. */
export interface LoadSpec {
  /** `recs`: GET recommendations of a random customer id; `events`: POST /v1/events batches; `path`: a fixed GET. */
  kind: 'recs' | 'events' | 'path';
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Requests/s over all connections (fixed-rate run); absent = open throttle. */
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

function main(): void {
  const spec = JSON.parse(process.env.SHOWROOM_BENCH_LOAD ?? '{}') as LoadSpec;
  let n = 0;
  const opts: autocannon.Options = { url: spec.url, connections: spec.connections, duration: spec.duration };
  if (spec.rate) opts.overallRate = spec.rate;
  if (spec.kind === 'recs') {
    opts.requests = [
      {
        setupRequest: (req) => ({ ...req, path: `/v1/customers/${customerId(spec)}/recommendations?limit=20` }),
      },
    ];
  } else if (spec.kind === 'events') {
    const vehicles = spec.vehicleIds ?? ['v-000001'];
    opts.requests = [
      {
        setupRequest: (req) => {
          const at = `${new Date().toISOString().slice(0, 19)}Z`;
          const events = [];
          for (let i = 0; i < (spec.batch ?? 100); i++) {
            events.push({ eventId: `${spec.tag ?? 'bench'}:${n++}`, type: 'view', customerId: customerId(spec), vehicleId: vehicles[Math.floor(Math.random() * vehicles.length)], occurredAt: at });
          }
          return { ...req, method: 'POST', path: '/v1/events', body: JSON.stringify({ events }), headers: { ...req.headers, 'content-type': 'application/json' } };
        },
      },
    ];
  } else {
    opts.requests = [{ path: spec.path ?? '/' }];
  }
  autocannon(opts, (err, r) => {
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;
    const out = err
      ? { error: String(err) }
      : { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors + r.timeouts, peakRssBytes };
    process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
  });
}

main();
