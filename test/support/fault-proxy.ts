import { readFileSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, createServer, request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { mulberry32 } from '../../shared/random/mulberry32.js';

/** What the proxy does to the requests it is allowed to touch (see `match`). Rates are 0..1. */
export interface FaultPlan {
  /** Fraction answered `429` with `x-ms-retry-after-ms: retryAfterMs`. */
  throttleRate?: number;
  retryAfterMs?: number;
  /** The first N matching requests are answered 429 (before the random draw). */
  throttleFirst?: number;
  /** Fraction whose connection is reset before the request reaches the server. */
  resetBeforeRate?: number;
  /** Fraction forwarded (the server does the work) whose connection is reset instead of answering. */
  resetAfterRate?: number;
  /** Answer every matching request with this status (a permanently failing server). */
  failStatus?: number;
  /** Accept matching requests and never answer them. */
  blackhole?: boolean;
  /**
   * Bulk requests only (`isBulkRequest`): fraction of the operations inside each request that
   * are throttled one by one, as Azure does under load: the other operations are forwarded and
   * done, the request is answered `207 Multi-Status` and each throttled operation's entry is
   * `{ statusCode: 429, subStatusCode: 3200, requestCharge: 0, retryAfterMilliseconds }`
   * (never executed). Applied after the whole-request faults above.
   */
  throttleOperationsRate?: number;
  /** `retryAfterMilliseconds` of each throttled operation (default 50). */
  operationRetryAfterMs?: number;
}

export interface FaultProxyOptions extends FaultPlan {
  /** Upstream, e.g. the embedded server's `https://127.0.0.1:<port>`. */
  target: string;
  /** Which requests faults apply to (default: every request). */
  match?: (req: IncomingMessage) => boolean;
  /** Seed of the deterministic random draws (default 42). */
  seed?: number;
}

export interface FaultProxyStats {
  requests: number;
  matched: number;
  forwarded: number;
  throttled: number;
  resets: number;
  failed: number;
  /** Operations answered 429 inside a 207 bulk response (throttleOperationsRate). */
  throttledOperations: number;
  /** Arrival time (ms) of each matching request and the answer it got (`operations`: per-operation 429s in it). */
  log: { at: number; outcome: 'forwarded' | 'throttled' | 'reset-before' | 'reset-after' | 'failed' | 'blackholed' | 'operations-throttled'; operations?: number }[];
}

export interface FaultProxy {
  /** `https://127.0.0.1:<port>`: give this to the SDK instead of the server's endpoint. */
  endpoint: string;
  stats: FaultProxyStats;
  /** Changes the plan for the following requests. */
  setPlan(plan: FaultPlan): void;
  stop(): Promise<void>;
}

/** Requests that write documents in bulk (the SDK's `items.bulk`). */
export const isBulkRequest = (req: IncomingMessage): boolean => /^true$/i.test(String(req.headers['x-ms-cosmos-is-batch-request'] ?? ''));

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);

/**
 * A TLS-terminating HTTP proxy between the Cosmos SDK and the embedded server that injects
 * faults: 429 with `x-ms-retry-after-ms`, connections reset before or after the server did the
 * work, a permanent error status, no answer at all, or (bulk requests) 429s of single operations
 * inside a 207 answer. Uses the embedded server's self-signed
 * certificate, so the SDK's loopback rule (accept self-signed) applies to it too.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('@vercel/cosmosdb-server/package.json'));
  const target = new URL(options.target);
  const upstream = new Agent({ keepAlive: true, rejectUnauthorized: false, maxSockets: 32 });
  // Seeded, so a failing fault test fails the same way again.
  const random = mulberry32(options.seed ?? 42);
  const match = options.match ?? (() => true);
  let plan: FaultPlan = { ...options };
  let throttledFirst = 0;
  const t0 = Date.now();
  const stats: FaultProxyStats = { requests: 0, matched: 0, forwarded: 0, throttled: 0, resets: 0, failed: 0, throttledOperations: 0, log: [] };
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse, resetAfter: boolean) => {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = target.host;
    const up = httpsRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: upstream },
      (upRes) => {
        if (resetAfter) {
          upRes.resume();
          upRes.once('end', () => req.socket.destroy());
          return;
        }
        const out: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        res.writeHead(upRes.statusCode ?? 502, out);
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  };

  /** Sends `body` upstream with the request's headers; resolves the upstream answer, buffered. */
  const forwardBuffered = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: OutgoingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const headers: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      headers.host = target.host;
      headers['content-length'] = String(body.length);
      const up = httpsRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: upstream }, (upRes) => {
        const parts: Buffer[] = [];
        upRes.on('data', (c: Buffer) => parts.push(c));
        upRes.once('end', () => {
          const out: OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(upRes.headers)) if (!HOP_BY_HOP.has(k) && k !== 'content-length' && v !== undefined) out[k] = v;
          resolve({ status: upRes.statusCode ?? 502, headers: out, body: Buffer.concat(parts) });
        });
        upRes.once('error', reject);
      });
      up.once('error', reject);
      up.end(body);
    });

  /**
   * A bulk request with some operations throttled: those are answered 429 in place, the rest
   * forwarded (in order) and their results put back at their positions; 207 when any was throttled.
   */
  const throttleOperations = async (req: IncomingMessage, res: ServerResponse, p: FaultPlan, at: number) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const raw = Buffer.concat(parts);
    const ops = JSON.parse(raw.toString('utf8')) as unknown[];
    const throttled = ops.map(() => random() < (p.throttleOperationsRate ?? 0));
    const n = throttled.filter(Boolean).length;
    if (n === 0) {
      stats.forwarded += 1;
      stats.log.push({ at, outcome: 'forwarded' });
      const up = await forwardBuffered(req, raw);
      res.writeHead(up.status, { ...up.headers, 'content-length': String(up.body.length) });
      res.end(up.body);
      return;
    }
    stats.throttledOperations += n;
    stats.log.push({ at, outcome: 'operations-throttled', operations: n });
    const rest = ops.filter((_, i) => !throttled[i]);
    const up = rest.length > 0 ? await forwardBuffered(req, Buffer.from(JSON.stringify(rest))) : undefined;
    if (up && (up.status < 200 || up.status >= 300 || up.status === 204)) {
      // The forwarded part failed as a whole: pass that answer on.
      res.writeHead(up.status, { ...up.headers, 'content-length': String(up.body.length) });
      res.end(up.body);
      return;
    }
    const results = up ? (JSON.parse(up.body.toString('utf8')) as unknown[]) : [];
    let next = 0;
    const merged = ops.map((_, i) =>
      throttled[i] ? { statusCode: 429, subStatusCode: 3200, requestCharge: 0, retryAfterMilliseconds: p.operationRetryAfterMs ?? 50 } : results[next++],
    );
    const body = Buffer.from(JSON.stringify(merged));
    const headers: OutgoingHttpHeaders = up ? { ...up.headers } : { 'content-type': 'application/json', 'x-ms-request-charge': '0' };
    res.writeHead(207, { ...headers, 'content-length': String(body.length) });
    res.end(body);
  };

  const server = createServer(
    { cert: readFileSync(path.join(pkgDir, 'cert.pem')), key: readFileSync(path.join(pkgDir, 'key.pem')), keepAlive: true },
    (req, res) => {
      stats.requests += 1;
      if (!match(req)) {
        forward(req, res, false);
        return;
      }
      stats.matched += 1;
      const at = Date.now() - t0;
      const p = plan;
      if (p.blackhole) {
        stats.log.push({ at, outcome: 'blackholed' });
        req.resume();
        return;
      }
      if (p.failStatus !== undefined) {
        stats.failed += 1;
        stats.log.push({ at, outcome: 'failed' });
        req.resume();
        res.writeHead(p.failStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'ServiceUnavailable', message: `fault proxy: permanent ${p.failStatus}` }));
        return;
      }
      let throttle = false;
      if (throttledFirst < (p.throttleFirst ?? 0)) {
        throttledFirst += 1;
        throttle = true;
      } else throttle = random() < (p.throttleRate ?? 0);
      if (throttle) {
        stats.throttled += 1;
        stats.log.push({ at, outcome: 'throttled' });
        req.resume();
        res.writeHead(429, { 'content-type': 'application/json', 'x-ms-retry-after-ms': String(p.retryAfterMs ?? 50), 'x-ms-substatus': '3200' });
        res.end(JSON.stringify({ code: 'TooManyRequests', message: 'fault proxy: request rate is large' }));
        return;
      }
      if (random() < (p.resetBeforeRate ?? 0)) {
        stats.resets += 1;
        stats.log.push({ at, outcome: 'reset-before' });
        req.socket.destroy();
        return;
      }
      if ((p.throttleOperationsRate ?? 0) > 0 && isBulkRequest(req)) {
        throttleOperations(req, res, p, at).catch(() => req.socket.destroy());
        return;
      }
      const resetAfter = random() < (p.resetAfterRate ?? 0);
      if (resetAfter) stats.resets += 1;
      else stats.forwarded += 1;
      stats.log.push({ at, outcome: resetAfter ? 'reset-after' : 'forwarded' });
      forward(req, res, resetAfter);
    },
  );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    stats,
    setPlan(next) {
      plan = { ...next };
      throttledFirst = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        upstream.destroy();
      }),
  };
}
