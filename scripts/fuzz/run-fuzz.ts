/**
 * The hostile-input runner: sends a seeded stream of hostile requests (hostile-requests.ts) to a
 * loopback target over raw HTTP (node:http with a bounded keep-alive agent; a bare TCP socket
 * for what the HTTP client refuses to send), checks every response (fuzz-invariants.ts) and the
 * process around it (metric series, RSS, crashes, `/healthz` at the end), and groups failures
 * into classes with a minimal reproducer each.
 */
import http from 'node:http';
import net from 'node:net';
import { hostileRequests, METHODS, ROUTES, type Category, type HostileRequest } from './hostile-requests.js';
import { checkResponse, fromParser, pathOf, type SeenResponse, type Violation } from './fuzz-invariants.js';
import { countSeries, type SeriesCount } from './metrics-series.js';
import type { FuzzTarget } from './fuzz-target.js';

export interface RunFuzzOptions {
  target: FuzzTarget;
  seed: number;
  requests: number;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Longest wait for one response, ms (default 20 000). */
  timeoutMs?: number;
  /** Stop sending new requests after this long, ms (default: no limit). */
  maxDurationMs?: number;
  /** Upper bound of the series count of the registry (default 2 000). */
  seriesBound?: number;
  /** Upper bound of RSS growth over the run, bytes (default 200 MiB). */
  rssGrowthBoundBytes?: number;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

/** A minimal reproducer: the smallest request of its class. */
export interface Reproducer {
  method: string;
  target: string;
  headers: Record<string, string>;
  /** First 300 characters of the body (latin1 for binary), and its length. */
  body?: string;
  bodyBytes?: number;
  /** For raw requests, the bytes sent (first 400, JSON-escaped). */
  raw?: string;
  /** What came back (status and first 300 characters of the body). */
  response: string;
  /** A curl command line (HTTP requests only; bodies over 300 bytes elided). */
  curl?: string;
}

export interface FailureClass {
  invariant: Violation['invariant'];
  detail: string;
  status: number | 'none';
  method: string;
  route: string;
  category: Category;
  /** Request content-type (or `(none)`). */
  contentType: string;
  count: number;
  /** Variants seen in this class (first 8). */
  variants: string[];
  example: Reproducer;
}

export interface FuzzReport {
  ok: boolean;
  seed: number;
  keys: boolean;
  requests: number;
  seconds: number;
  /** Responses by status (`none`: no response). */
  statuses: Record<string, number>;
  categories: Record<string, number>;
  /** Routes aimed at (templates, `garbage`, `raw`). */
  routes: Record<string, number>;
  /** Accepted quirks, counted: parser answers, connections closed without an answer where Node does that, /readyz 503. */
  notes: Record<string, number>;
  fiveXx: number;
  /** Responses with at least one violation. */
  failedResponses: number;
  classes: FailureClass[];
  series: { before: number; after: number; bound: number; labelBound: Record<string, number>; overBound: string[]; byMetric: Record<string, number>; samples: Record<string, string[]>; ok: boolean };
  rss: { beforeBytes: number; peakBytes: number; afterBytes: number; growthBytes: number; boundBytes: number; ok: boolean };
  alive: { healthzStatus: number | 'none'; crashes: string[]; processProblems: string[]; ok: boolean };
}

/** Route patterns Bull Board mounts under `/admin/queues` (39 API routes in @bull-board/api 9, its page and static entries), rounded up. */
const BULL_BOARD_ROUTES = 48;

/**
 * Distinct values a label may take — closed sets, whatever the requests: `route` the API's route
 * templates, Bull Board's and `unmatched`; `method` the methods sent (HEAD and the like included);
 * `status` the statuses an API answers. A label carrying raw paths or ids passes them in any run
 * of a few hundred hostile requests.
 */
export const LABEL_BOUNDS: Record<string, number> = { route: ROUTES.length + BULL_BOARD_ROUTES + 1, method: METHODS.length + 2, status: 32 };
const OTHER_LABEL_BOUND = 64;
const BODY_CAP = 512 * 1024;

interface Outcome {
  response?: SeenResponse;
  /** No response: the error. */
  error?: string;
  /** Sent on a socket the agent reused (a reset there is the keep-alive race, retried once). */
  reused?: boolean;
  /** Node's HTTP client would not send it (a generator bug, not a server failure): counted apart. */
  refused?: boolean;
}

function sendHttp(base: URL, agent: http.Agent, req: HostileRequest, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (!done) {
        done = true;
        resolve(o);
      }
    };
    let r: http.ClientRequest;
    try {
      const headers: Record<string, string> = { ...req.headers };
      if (req.body && headers['transfer-encoding'] === undefined) headers['content-length'] = String(req.body.length);
      r = http.request({ host: base.hostname, port: base.port, method: req.method, path: req.target, headers, agent, setHost: !('host' in headers) });
    } catch (err) {
      finish({ error: `client refused: ${(err as Error).message}`, refused: true });
      return;
    }
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no response within ${timeoutMs} ms`)));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (c: Buffer) => {
        if (size + c.length > BODY_CAP) truncated = true;
        else chunks.push(c);
        size += c.length;
      });
      // A body cut short (connection closed mid-body) is not judged as a body.
      const end = () => finish({ response: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated: truncated || !res.complete } });
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
    });
    r.on('error', (err) => finish({ error: err.message, reused: r.reusedSocket }));
    r.end(req.body);
  });
}

/** Parses the first HTTP/1.x response in `bytes` (undefined when incomplete). */
function parseRawResponse(bytes: Buffer, closed: boolean): SeenResponse | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0]);
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = bytes.subarray(headEnd + 4);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (body.length < n && !closed) return undefined;
    body = body.subarray(0, n);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      if (eol < 0) return closed ? { status: Number(m[1]), headers, body: Buffer.concat(parts), truncated: true } : undefined;
      const len = parseInt(body.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(len)) break;
      if (len === 0) break;
      parts.push(body.subarray(eol + 2, eol + 2 + len));
      at = eol + 2 + len + 2;
    }
    body = Buffer.concat(parts);
  } else if (!closed && !(Number(m[1]) === 204 || Number(m[1]) === 304)) {
    // No length: the body runs to the end of the connection (parser answers have none and close).
    if (headers.connection?.toLowerCase() !== 'close') return undefined;
  }
  return { status: Number(m[1]), headers, body, truncated: false };
}

function sendRaw(base: URL, req: HostileRequest, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: base.hostname, port: Number(base.port) });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ error: `no response within ${timeoutMs} ms` }), timeoutMs);
    let halfClose: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(req.raw ?? Buffer.alloc(0));
      // Half-close when nothing came back for a while: a request the server still waits on (no
      // body, no version) then ends. Not at once: Node drops a connection whose client ended
      // before an async handler answered.
      halfClose = setTimeout(() => socket.end(), Math.min(2000, timeoutMs / 2));
    });
    socket.on('close', () => clearTimeout(halfClose));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const r = parseRawResponse(Buffer.concat(chunks), false);
      if (r) finish({ response: r });
    });
    const closed = () => {
      const all = Buffer.concat(chunks);
      const r = parseRawResponse(all, true);
      finish(r ? { response: r } : { error: all.length === 0 ? 'connection closed without a response' : `unparseable response: ${JSON.stringify(all.subarray(0, 80).toString('latin1'))}` });
    };
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('error', (err) => {
      if (chunks.length > 0) closed();
      else finish({ error: err.message });
    });
  });
}

/** Node closes these without an answer by design (CONNECT without a handler; no request at all). */
const SILENT_CLOSE_OK = new Set(['connect', 'empty-line']);
/** Requests whose headers exceed Node's 16 KiB limit: the parser answers 431 and closes, maybe before the client reads it. */
const headerBytes = (req: HostileRequest) => Object.entries(req.headers).reduce((s, [k, v]) => s + k.length + v.length + 4, 0) + req.target.length;

const preview = (b: Buffer | undefined, n = 300): string | undefined => (b === undefined ? undefined : b.toString(b.every((x) => x < 0x80) ? 'utf8' : 'latin1').slice(0, n));

function reproducer(req: HostileRequest, seen: Outcome, base: URL): Reproducer {
  const shortHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers).slice(0, 12)) shortHeaders[k] = v.length > 200 ? `${v.slice(0, 60)}…(${v.length} chars)` : v;
  const response = seen.response ? `${seen.response.status} ${preview(seen.response.body) ?? ''}` : `no response: ${seen.error ?? ''}`;
  if (req.raw) return { method: req.method, target: req.target.slice(0, 200), headers: {}, raw: JSON.stringify(req.raw.subarray(0, 400).toString('latin1')), response };
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const h = Object.entries(shortHeaders).map(([k, v]) => ` -H ${quote(`${k}: ${v}`)}`).join('');
  const bodyArg = req.body && req.body.length <= 300 ? ` --data-binary ${quote(req.body.toString('latin1'))}` : req.body ? ` --data-binary @body-${req.body.length}-bytes` : '';
  return {
    method: req.method,
    target: req.target.length > 300 ? `${req.target.slice(0, 300)}…(${req.target.length})` : req.target,
    headers: shortHeaders,
    body: preview(req.body),
    bodyBytes: req.body?.length,
    response,
    curl: req.target.length <= 600 && Object.keys(req.headers).length <= 12 ? `curl -si --path-as-is -X ${req.method} ${quote(`${base.origin}${req.target}`)}${h}${bodyArg}` : undefined,
  };
}

const size = (req: HostileRequest) => req.target.length + (req.body?.length ?? 0) + (req.raw?.length ?? 0) + headerBytes(req);

/**
 * The target's series count from `/metrics` (with the admin key when the target has keys: the
 * API then keeps `/metrics` behind it). Anything but a 200 is an error, never "0 series".
 */
async function scrapeSeries(base: URL, adminKey: string | undefined): Promise<SeriesCount> {
  const res = await fetch(new URL('/metrics', base), { signal: AbortSignal.timeout(15_000), headers: adminKey ? { authorization: `Bearer ${adminKey}` } : {} });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}, so the series count cannot be read: ${text.slice(0, 200)}`);
  const count = countSeries(text);
  if (count.total === 0) throw new Error('GET /metrics listed no series: the series count cannot be judged');
  return count;
}

/** Runs the suite against `target` and returns the report (never throws on a failed invariant). */
export async function runFuzz(options: RunFuzzOptions): Promise<FuzzReport> {
  const { target } = options;
  const base = new URL(target.url);
  if (!['127.0.0.1', '::1', '[::1]', 'localhost'].includes(base.hostname)) throw new Error(`refusing to fuzz ${base.hostname}: loopback targets only`);
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const seriesBound = options.seriesBound ?? 2000;
  const rssBound = options.rssGrowthBoundBytes ?? 200 * 1024 * 1024;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const started = Date.now();

  await target.settle?.();
  const seriesBefore = await scrapeSeries(base, target.keys?.admin);
  const rssBefore = target.rssBytes();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, target.rssBytes());
  }, 250);
  sampler.unref();

  const statuses: Record<string, number> = {};
  const categories: Record<string, number> = {};
  const routes: Record<string, number> = {};
  const notes: Record<string, number> = {};
  const classes = new Map<string, FailureClass & { exampleSize: number }>();
  let failedResponses = 0;
  let fiveXx = 0;
  let done = 0;
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const stream = hostileRequests({ seed: options.seed, keys: target.keys, customers: target.customers, vehicles: target.vehicles, models: target.models });

  const record = (req: HostileRequest, seen: Outcome) => {
    done += 1;
    options.onProgress?.(done);
    bump(categories, req.category);
    bump(routes, req.route);
    let violations: Violation[];
    if (seen.response) {
      bump(statuses, String(seen.response.status));
      if (fromParser(seen.response)) bump(notes, `parser answered ${seen.response.status}`);
      violations = checkResponse(req, seen.response, target.keys !== undefined);
      if (violations.some((v) => v.invariant === '5xx')) fiveXx += 1;
      else if (seen.response.status >= 500) bump(notes, `${seen.response.status} ${pathOf(req.target).slice(0, 40)} (documented: not-ready)`);
    } else {
      bump(statuses, 'none');
      if (seen.refused) {
        bump(notes, `not sent, the HTTP client refused it (${req.variant})`);
        violations = [];
      } else if (req.raw && SILENT_CLOSE_OK.has(req.variant)) {
        bump(notes, `closed without answer (${req.variant})`);
        violations = [];
      } else if (headerBytes(req) > 16 * 1024 || req.method === 'FOO') {
        bump(notes, 'parser reset (oversized headers / unknown method)');
        violations = [];
      } else violations = [{ invariant: 'no-response', detail: (seen.error ?? '').slice(0, 80) }];
    }
    if (violations.length === 0) return;
    failedResponses += 1;
    for (const v of violations) {
      const status = seen.response?.status ?? 'none';
      const contentType = req.raw ? '(raw)' : (req.headers['content-type'] ?? '(none)');
      const key = [v.invariant, v.detail, status, req.method, req.route, req.category].join('|');
      const s = size(req);
      const c = classes.get(key);
      if (!c) {
        classes.set(key, { invariant: v.invariant, detail: v.detail, status, method: req.method, route: req.route, category: req.category, contentType, count: 1, variants: [req.variant], example: reproducer(req, seen, base), exampleSize: s });
        continue;
      }
      c.count += 1;
      if (c.variants.length < 8 && !c.variants.includes(req.variant)) c.variants.push(req.variant);
      if (s < c.exampleSize) {
        c.example = reproducer(req, seen, base);
        c.exampleSize = s;
        c.contentType = contentType;
      }
    }
  };

  let sent = 0;
  const worker = async () => {
    while (sent < options.requests && !options.signal?.aborted && (options.maxDurationMs === undefined || Date.now() - started < options.maxDurationMs)) {
      sent += 1;
      const next = stream.next();
      if (next.done) return;
      const req = next.value;
      let seen = req.raw ? await sendRaw(base, req, timeoutMs) : await sendHttp(base, agent, req, timeoutMs);
      if (!req.raw && !seen.response && seen.reused) seen = await sendHttp(base, agent, req, timeoutMs);
      record(req, seen);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, () => worker()));
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }

  // Settle (full GC where the target can), then the process-level checks.
  await new Promise((r) => setTimeout(r, 500));
  await target.settle?.();
  const rssAfter = target.rssBytes();
  rssPeak = Math.max(rssPeak, rssAfter);
  const seriesAfter = await scrapeSeries(base, target.keys?.admin);
  let healthzStatus: number | 'none' = 'none';
  try {
    const h = await fetch(new URL('/healthz', base), { signal: AbortSignal.timeout(10_000) });
    healthzStatus = h.status;
    await h.text();
  } catch {
    healthzStatus = 'none';
  }

  const overBound: string[] = [];
  if (seriesAfter.total > seriesBound) overBound.push(`${seriesAfter.total} series > ${seriesBound}`);
  for (const [label, n] of Object.entries(seriesAfter.labelValues)) {
    const bound = LABEL_BOUNDS[label.slice(label.lastIndexOf('.') + 1)] ?? OTHER_LABEL_BOUND;
    if (n > bound) overBound.push(`${label}: ${n} distinct values > ${bound} (e.g. ${seriesAfter.samples[label].map((v) => JSON.stringify(v)).join(', ')})`);
  }
  const crashes = [...target.crashes()];
  const processProblems = [...target.processProblems()];
  const growth = rssAfter - rssBefore;
  const list = [...classes.values()].sort((a, b) => b.count - a.count).map(({ exampleSize: _s, ...c }) => c);
  const report: FuzzReport = {
    ok: false,
    seed: options.seed,
    keys: target.keys !== undefined,
    requests: done,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    statuses,
    categories,
    routes,
    notes,
    fiveXx,
    failedResponses,
    classes: list,
    series: { before: seriesBefore.total, after: seriesAfter.total, bound: seriesBound, labelBound: { ...LABEL_BOUNDS, other: OTHER_LABEL_BOUND }, overBound, byMetric: seriesAfter.byMetric, samples: seriesAfter.samples, ok: overBound.length === 0 },
    rss: { beforeBytes: rssBefore, peakBytes: rssPeak, afterBytes: rssAfter, growthBytes: growth, boundBytes: rssBound, ok: growth < rssBound },
    alive: { healthzStatus, crashes, processProblems, ok: healthzStatus === 200 && crashes.length === 0 && processProblems.length === 0 },
  };
  report.ok = fiveXx === 0 && failedResponses === 0 && report.series.ok && report.rss.ok && report.alive.ok;
  return report;
}

const mb = (b: number) => `${Math.round(b / 1024 / 1024)} MB`;

/** The report as text: the verdict per invariant, then each failure class with its reproducer. */
export function formatFuzzReport(r: FuzzReport, options: { maxClasses?: number } = {}): string {
  const max = options.maxClasses ?? 40;
  const lines = [
    `hostile-input run ${r.keys ? 'with keys' : 'without keys'}, seed ${r.seed}: ${r.requests} requests in ${r.seconds} s — ${r.ok ? 'PASS' : 'FAIL'}`,
    `  statuses: ${Object.entries(r.statuses).sort().map(([k, v]) => `${k}×${v}`).join(' ')}`,
    `  5xx: ${r.fiveXx}; responses breaking an invariant: ${r.failedResponses} in ${r.classes.length} classes`,
    `  series: ${r.series.before} before, ${r.series.after} after (bound ${r.series.bound})${r.series.overBound.length ? ` — OVER: ${r.series.overBound.join('; ')}` : ' — ok'}`,
    `  RSS: ${mb(r.rss.beforeBytes)} before, ${mb(r.rss.peakBytes)} peak, ${mb(r.rss.afterBytes)} after, growth ${mb(r.rss.growthBytes)} (bound ${mb(r.rss.boundBytes)}) — ${r.rss.ok ? 'ok' : 'OVER'}`,
    `  alive: /healthz ${r.alive.healthzStatus}; crashes ${r.alive.crashes.length}${r.alive.crashes.length ? ` (${r.alive.crashes.slice(0, 3).join(' | ')})` : ''}${r.alive.processProblems.length ? `; ${r.alive.processProblems.join('; ')}` : ''}`,
  ];
  if (Object.keys(r.notes).length) lines.push(`  accepted: ${Object.entries(r.notes).map(([k, v]) => `${k} ×${v}`).join('; ')}`);
  for (const c of r.classes.slice(0, max)) {
    lines.push(`  ✗ ${c.invariant}: ${c.detail} — ${c.count}× ${c.status} ${c.method} ${c.route} [${c.category}; content-type ${c.contentType}] variants: ${c.variants.join(', ')}`);
    lines.push(`      e.g. ${c.example.curl ?? c.example.raw ?? `${c.example.method} ${c.example.target}`}`);
    lines.push(`      → ${c.example.response.replace(/\s+/g, ' ').slice(0, 200)}`);
  }
  if (r.classes.length > max) lines.push(`  … and ${r.classes.length - max} more classes (--json for all)`);
  return lines.join('\n');
}
