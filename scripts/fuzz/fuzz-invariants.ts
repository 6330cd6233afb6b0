/**
 * The per-response invariants of the hostile-input suite. Each returns the violations of one
 * response (an empty list when it holds):
 * - `5xx`: no 5xx, ever (the one documented exception: `/readyz` answering 503 not-ready JSON);
 * - `error-not-problem-json`: every 4xx/5xx the app answers is `application/problem+json` with
 *   `type`, `title`, `status` (= the HTTP status) and `detail` strings; the only bodiless errors
 *   accepted are the ones Node's HTTP server answers itself (400, 417, 431; no `x-request-id`, since
 *   they never reach the app);
 * - `2xx-not-json`: every 2xx with a body is JSON, except the HTML/script/text routes
 *   (`/docs*`, `/metrics`, `/admin/queues*`) and an `OPTIONS` answer carrying `Allow`;
 * - `authz-read-key`: with keys configured, a read key gets a 2xx only on the public routes or a
 *   read route in its canonical form (`/v1/events`, `/v1/customers/:id/recommendations`,
 *   `/v1/vehicles/:id/similar`), never on an admin route in any case or slash variant;
 * - `authz-no-key`: with keys configured, no key, a malformed or an unknown one gets a 2xx only
 *   on the public routes;
 * - `expectation`: what the API's contract names for this request (see `Expectation`).
 */
import type { HostileRequest } from './hostile-requests.js';

/** One response as the runner saw it. */
export interface SeenResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body, up to the runner's cap. */
  body: Buffer;
  /** The body was longer than the cap (then it is not parsed). */
  truncated: boolean;
}

export interface Violation {
  invariant: 'no-response' | '5xx' | 'error-not-problem-json' | 'parser-status' | '2xx-not-json' | 'authz-read-key' | 'authz-no-key' | 'expectation';
  /** What exactly, e.g. `content-type text/html` or `expected 415`. */
  detail: string;
}

/** Statuses Node's HTTP server answers on its own: bad framing, headers too large, an `Expect` it cannot meet. */
export const PARSER_STATUSES: readonly number[] = [400, 417, 431];

const PUBLIC = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/docs.js', '/docs/docs.css']);
// The route's shape, lower-case as mounted; whether the id itself is acceptable is the contract's business (expectations).
const CANONICAL_READ = /^\/v1\/(?:customers\/[^/]+\/recommendations|vehicles\/[^/]+\/similar|events)\/?$/;
const NON_JSON_PREFIXES = ['/docs', '/metrics', '/admin/queues'];

/** The path of a request target (absolute-form reduced to its path; no query, no fragment). */
export function pathOf(target: string): string {
  let t = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || '/';
  const q = t.search(/[?#]/);
  return q >= 0 ? t.slice(0, q) : t;
}

/** Lower-cased, trailing slashes removed: how a lenient router could read the path. */
const loose = (path: string) => path.toLowerCase().replace(/\/+$/, '') || '/';

const header = (r: SeenResponse, name: string): string | undefined => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

/** True when the app never saw the request: Node's parser answered it (no request id, no body). */
export function fromParser(r: SeenResponse): boolean {
  return header(r, 'x-request-id') === undefined && r.body.length === 0;
}

function checkError(req: HostileRequest, r: SeenResponse): Violation[] {
  if (fromParser(r)) return PARSER_STATUSES.includes(r.status) ? [] : [{ invariant: 'parser-status', detail: `parser answered ${r.status}` }];
  const ct = header(r, 'content-type') ?? '(none)';
  if (!/^application\/problem\+json\b/i.test(ct)) return [{ invariant: 'error-not-problem-json', detail: `content-type ${ct.split(';')[0]}` }];
  if (req.method === 'HEAD' || r.truncated) return [];
  const parsed = parseJson(r.body);
  if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null) return [{ invariant: 'error-not-problem-json', detail: 'body is not a JSON object' }];
  const p = parsed.value as Record<string, unknown>;
  const missing = ['type', 'title', 'detail'].filter((k) => typeof p[k] !== 'string');
  if (typeof p.status !== 'number') missing.push('status');
  if (missing.length > 0) return [{ invariant: 'error-not-problem-json', detail: `missing ${missing.join(', ')}` }];
  if (p.status !== r.status) return [{ invariant: 'error-not-problem-json', detail: `status ${String(p.status)} in body, ${r.status} on the wire` }];
  return [];
}

function check2xx(req: HostileRequest, r: SeenResponse, path: string): Violation[] {
  if (req.method === 'HEAD' || r.status === 204) return [];
  if (NON_JSON_PREFIXES.some((p) => loose(path).startsWith(p))) return [];
  if (req.method === 'OPTIONS' && header(r, 'allow') !== undefined) return [];
  const ct = header(r, 'content-type') ?? '(none)';
  if (!/^application\/json\b/i.test(ct)) return [{ invariant: '2xx-not-json', detail: `content-type ${ct.split(';')[0]}` }];
  if (!r.truncated && !parseJson(r.body).ok) return [{ invariant: '2xx-not-json', detail: 'body does not parse' }];
  return [];
}

function checkAuthorisation(req: HostileRequest, r: SeenResponse, path: string, keys: boolean): Violation[] {
  if (!keys || r.status < 200 || r.status >= 300) return [];
  if (PUBLIC.has(loose(path)) || loose(path).startsWith('/docs/')) return [];
  if (req.auth === 'read') {
    return CANONICAL_READ.test(path) ? [] : [{ invariant: 'authz-read-key', detail: `read key got ${r.status} on ${loose(path).startsWith('/v1/models') || loose(path).startsWith('/admin') ? 'an admin route' : 'a non-canonical route'}` }];
  }
  if (req.auth !== 'admin') return [{ invariant: 'authz-no-key', detail: `${req.auth} key got ${r.status}` }];
  return [];
}

function checkExpectation(req: HostileRequest, r: SeenResponse): Violation[] {
  const e = req.expect;
  if (!e) return [];
  const out: Violation[] = [];
  if (e.statuses && !e.statuses.includes(r.status)) out.push({ invariant: 'expectation', detail: `expected ${e.statuses.join(' or ')} (${e.why})` });
  if (e.non2xx && r.status >= 200 && r.status < 300) out.push({ invariant: 'expectation', detail: `expected no 2xx (${e.why})` });
  if (e.allow && header(r, 'allow') === undefined) out.push({ invariant: 'expectation', detail: `expected an Allow header (${e.why})` });
  if (e.detailNot && r.status >= 400 && !r.truncated) {
    const parsed = parseJson(r.body);
    const detail = parsed.ok && typeof parsed.value === 'object' && parsed.value !== null ? (parsed.value as { detail?: unknown }).detail : undefined;
    if (typeof detail === 'string' && e.detailNot.test(detail)) out.push({ invariant: 'expectation', detail: `detail says "${detail.slice(0, 60)}" (${e.why})` });
  }
  return out;
}

/** Every violation of one response. `keys`: the target runs with keys configured. */
export function checkResponse(req: HostileRequest, r: SeenResponse, keys: boolean): Violation[] {
  const path = pathOf(req.target);
  const out: Violation[] = [];
  // /readyz answers 503 with its JSON report when a dependency is slow: documented, not an error.
  const notReady = loose(path) === '/readyz' && r.status === 503 && /^application\/json\b/i.test(header(r, 'content-type') ?? '');
  if (r.status >= 500 && !notReady) out.push({ invariant: '5xx', detail: `status ${r.status}` });
  if (r.status >= 400 && !notReady) out.push(...checkError(req, r));
  else if (r.status >= 200 && r.status < 300) out.push(...check2xx(req, r, path));
  out.push(...checkAuthorisation(req, r, path, keys));
  // A 5xx is reported as such; the status the contract names would only repeat it.
  if (r.status < 500) out.push(...checkExpectation(req, r));
  return out;
}
