/**
 * The hostile-input generator of `showroom fuzz` (issue 13): a seeded, deterministic stream of
 * malformed requests against every route of the API — broken JSON, wrong types, huge and deep
 * values, bad id shapes, bad encodings and charsets, wrong content types, prototype-pollution
 * keys, case and slash variants of every route, oversized batches, raw malformed HTTP — each
 * with an authorisation (none, malformed, wrong key, read key, admin key).
 *
 * A request carries what the runner needs to judge it: the route template it aims at, whether it
 * is authorised for that route, and, where the API's contract names the answer (e.g. a
 * `latin1` charset is 415), an expectation beyond the generic invariants.
 */
import { gzipSync } from 'node:zlib';
import { ID_PATTERN } from '../../shared/domain/ids.js';
import { mulberry32 } from '../../shared/random/mulberry32.js';

/** Who a route is for: `public` needs no key, `read` a read or admin key, `admin` an admin key. */
export type RouteAccess = 'public' | 'read' | 'admin';

/** One route of the API, as `online/http/create-app.ts` and its routers mount it. */
export interface RouteSpec {
  template: string;
  methods: readonly string[];
  access: RouteAccess;
  /** Its 2xx answer is not JSON (HTML page, script, Prometheus text). */
  nonJson?: boolean;
}

/** Every route of the API (openapi.ts, routes/*.ts, create-app.ts; `/admin/queues` is Bull Board). */
export const ROUTES: readonly RouteSpec[] = [
  { template: '/v1/events', methods: ['POST'], access: 'read' },
  { template: '/v1/customers/:customerId/recommendations', methods: ['GET'], access: 'read' },
  { template: '/v1/vehicles/:vehicleId/similar', methods: ['GET'], access: 'read' },
  { template: '/v1/models', methods: ['GET'], access: 'admin' },
  { template: '/v1/models/:model/runs', methods: ['GET', 'POST'], access: 'admin' },
  { template: '/v1/models/:model/activate', methods: ['POST'], access: 'admin' },
  { template: '/admin/queues', methods: ['GET'], access: 'admin', nonJson: true },
  { template: '/healthz', methods: ['GET'], access: 'public' },
  { template: '/readyz', methods: ['GET'], access: 'public' },
  { template: '/metrics', methods: ['GET'], access: 'public', nonJson: true },
  { template: '/openapi.json', methods: ['GET'], access: 'public' },
  { template: '/docs', methods: ['GET'], access: 'public', nonJson: true },
  { template: '/docs/docs.js', methods: ['GET'], access: 'public', nonJson: true },
  { template: '/docs/docs.css', methods: ['GET'], access: 'public', nonJson: true },
];

/** What a request carries as credentials. */
export type AuthKind = 'none' | 'malformed' | 'wrong' | 'read' | 'admin';

/** The attack families; every one is produced by every long enough run. */
export const CATEGORIES = [
  'valid',
  'route-variant',
  'method',
  'query',
  'bad-id',
  'garbage-path',
  'json-syntax',
  'json-shape',
  'event-fields',
  'deep',
  'huge',
  'prototype',
  'content-type',
  'content-encoding',
  'batch',
  'headers',
  'raw',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** A status the API's contract names for this request (checked only when the request is authorised). */
export interface Expectation {
  /** Allowed statuses. */
  statuses?: readonly number[];
  /** The answer must not be 2xx. */
  non2xx?: boolean;
  /** The answer must carry an `Allow` header. */
  allow?: boolean;
  /** The problem `detail` must not match this (e.g. valid JSON called "not valid JSON"). */
  detailNot?: RegExp;
  /** Why, shown in the report. */
  why: string;
}

export interface HostileRequest {
  /** Position in the stream (0-based). */
  index: number;
  category: Category;
  /** Short name of the variant within the category (e.g. `charset=latin1`), for the report. */
  variant: string;
  method: string;
  /** Request target as sent: path and query, not normalised. */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
  auth: AuthKind;
  /** The route aimed at (a `ROUTES` template), or `garbage`. */
  route: string;
  /** Send these bytes over a raw socket instead (targets and headers the HTTP client refuses). */
  raw?: Buffer;
  expect?: Expectation;
}

export interface GeneratorOptions {
  seed: number;
  /** Keys the target is configured with; absent: the target runs without keys. */
  keys?: { read: string; admin: string };
  /** Customer and vehicle ids the target has data for (valid requests use them). */
  customers?: readonly string[];
  vehicles?: readonly string[];
  /** Model names the target knows (anything else is an unknown model). */
  models?: readonly string[];
}

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)];
const int = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));
const chance = (rng: Rng, p: number): boolean => rng() < p;

/** Methods sent through the HTTP client: standard, odd but parseable, and invented. */
export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'PURGE', 'SEARCH', 'MKCOL', 'LINK', 'FOO'] as const;

/**
 * Bad id shapes as they appear in a URL path segment (already percent-encoded where the HTTP
 * client needs it), with the decoded value when the router can decode it.
 */
export const BAD_PATH_IDS: readonly string[] = [
  '%zz', '%', '%2', '%C0%AF', '%C0%80', '%00', 'a%00b', '%2F', 'a%2Fb', '%5C', 'a%5Cb', '%3F', 'a%3Fb', '%23', 'a%23b',
  '%ED%A0%80', '%ED%BF%BF', '%FF', '%FE%FF', '%E2%80%AE', '%F0%9F%9A%97', '%C3%A9', '%20', 'a%20b', '%0A', '%0D%0A', '%09',
  '%2E%2E', '%2e', '%25', '%2525', '%3C%73cript%3E', '%22', "'", '%60', '%7B%7D', '%5B%5D', 'a'.repeat(129), 'b'.repeat(5000),
  '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'undefined', 'null', 'NaN', '-0', '1e309', 'no-such-model',
];

/** Bad id values as JSON strings in event bodies (lone surrogates, NUL, separators, too long, non-ASCII). */
export const BAD_BODY_IDS: readonly string[] = [
  '', ' ', 'a/b', 'a\\b', 'a?b', 'a#b', 'a\u0000b', '\u0000', '\ud800', 'x\udfff', '\ud83d', 'a b', 'a\nb', 'a\tb', '%zz', 'é', '\u202e',
  '<script>', '"', "'", 'a'.repeat(129), 'c'.repeat(100_000), '\u0085', '\uffff', '\u2028',
];

/** Decoded path segment → a bad id by the id alphabet (undefined when it cannot even be decoded). */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** True when this path segment, once decoded, is not an id the API accepts (or cannot be decoded). */
export function isBadPathId(segment: string): boolean {
  const decoded = decodeSegment(segment);
  return decoded === undefined || !ID_PATTERN.test(decoded);
}

const CONTENT_TYPES: readonly { value: string | undefined; expect?: Expectation }[] = [
  { value: undefined },
  { value: 'text/plain' },
  { value: 'application/x-www-form-urlencoded' },
  { value: 'multipart/form-data; boundary=xyz' },
  { value: 'application/xml' },
  { value: 'application/json; charset=latin1', expect: { statuses: [415], why: 'a JSON body in a charset other than UTF-8 is 415' } },
  { value: 'application/json; charset=iso-8859-1', expect: { statuses: [415], why: 'a JSON body in a charset other than UTF-8 is 415' } },
  { value: 'application/json; charset=koi8-r', expect: { statuses: [415], why: 'a JSON body in a charset other than UTF-8 is 415' } },
  { value: 'application/json; charset=nope', expect: { statuses: [415], why: 'a JSON body in an unknown charset is 415' } },
  { value: 'application/json; charset=utf-16' },
  { value: 'application/json; charset=utf-8' },
  { value: 'application/json;charset=UTF-8' },
  { value: 'APPLICATION/JSON' },
  { value: 'application/vnd.api+json' },
  { value: 'application/problem+json' },
  { value: 'application/json; charset=""' },
  { value: 'application/json, text/plain' },
  { value: 'application/json; boundary=' },
  { value: 'json' },
  { value: '*/*' },
  { value: ';;;' },
  { value: 'application/json; charset' },
];

/** Valid event factory (fields the schema accepts), the base that field mutations start from. */
function validEvent(rng: Rng, customers: readonly string[], vehicles: readonly string[], n: number): Record<string, unknown> {
  return {
    eventId: `fz-${n}-${Math.floor(rng() * 1e9).toString(36)}`,
    type: 'view',
    customerId: pick(rng, customers),
    vehicleId: pick(rng, vehicles),
    occurredAt: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
  };
}

/** Wrong values per event field: wrong types, out of range, bad ids, bad dates. */
const FIELD_MUTATIONS: readonly [string, () => unknown][] = [
  ['eventId:number', () => 42],
  ['eventId:null', () => null],
  ['eventId:object', () => ({ $ne: 1 })],
  ['eventId:array', () => ['a']],
  ['type:unknown', () => 'VIEW'],
  ['type:number', () => 1],
  ['type:__proto__', () => '__proto__'],
  ['occurredAt:bad-month', () => '2026-13-01T00:00:00Z'],
  ['occurredAt:words', () => 'yesterday'],
  ['occurredAt:number', () => 1_767_225_600_000],
  ['occurredAt:offset', () => '2026-03-01T12:00:00+02:00'],
  ['occurredAt:empty', () => ''],
  ['occurredAt:year-0', () => '0000-01-01T00:00:00Z'],
  ['occurredAt:huge-year', () => '+275760-09-13T00:00:00.001Z'],
  ['customerId:number', () => 7],
  ['customerId:bool', () => true],
  ['vehicleId:array', () => []],
  ['sessionId:object', () => ({})],
  ['receivedAt:garbage', () => 'not-a-date'],
  ['properties:string', () => 'x'],
  ['properties:array', () => [1, 2]],
  ['properties.price:negative', () => ({ price: -1 })],
  ['properties.price:string', () => ({ price: '100' })],
  ['properties.price:NaN-string', () => ({ price: 'NaN' })],
  ['properties.position:float', () => ({ position: 1.5 })],
  ['properties.position:negative', () => ({ position: -1 })],
  ['properties.value:huge', () => ({ value: 1e6 })],
  ['properties.query:long', () => ({ query: 'q'.repeat(10_000) })],
  ['properties.filters:wrong', () => ({ filters: { priceMin: 'cheap', yearMin: 1800.5, make: 5 } })],
  ['properties.filters:array', () => ({ filters: [] })],
  ['properties.vehicle:partial', () => ({ vehicle: { make: 'Toyota' } })],
  ['properties.vehicle:wrong', () => ({ vehicle: { make: 1, model: null, year: '2020', bodyStyle: [], price: -5 } })],
  ['properties:unknown-key', () => ({ admin: true })],
  ['extra-field', () => undefined],
];

/** A JSON nesting `depth` levels deep, built without recursion. */
function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

let gzipBomb: Buffer | undefined;
/** 32 MiB of zeros, gzipped (about 32 KiB): inflates past the 1 MiB body limit. */
function bomb(): Buffer {
  gzipBomb ??= gzipSync(Buffer.alloc(32 * 1024 * 1024));
  return gzipBomb;
}

/** A random path of junk segments (encoded bytes, dots, separators, long runs). */
function garbagePath(rng: Rng): string {
  const atoms = ['a', 'Z', '0', '.', '..', '-', '_', '~', '%', '%2', '%zz', '%00', '%FF', '%2F', '%5C', ';', ',', '=', '!', '$', '&', "'", '(', ')', '*', '+', ':', '@', '\\', '|', '^', '`', '{', '}', '[', ']', 'v1', 'models', 'admin', 'MODELS', '%C0%AF', '%ED%A0%80'];
  const segments = int(rng, 0, 8);
  let path = '';
  for (let s = 0; s < segments; s++) {
    path += chance(rng, 0.1) ? '//' : '/';
    const len = chance(rng, 0.05) ? int(rng, 200, 3000) : int(rng, 0, 6);
    for (let i = 0; i < len; i++) path += pick(rng, atoms);
  }
  return path || '/';
}

/** Case and slash variants of a concrete path (`/v1/models/x/runs`). */
const PATH_VARIANTS: readonly [string, (p: string, rng: Rng) => string][] = [
  ['upper', (p) => p.toUpperCase()],
  ['capitalised', (p) => p.replace(/\/([a-z])/g, (_m, c: string) => `/${c.toUpperCase()}`)],
  ['one-segment-upper', (p, rng) => {
    const parts = p.split('/');
    const i = int(rng, 1, Math.max(1, parts.length - 1));
    parts[i] = (parts[i] ?? '').toUpperCase();
    return parts.join('/');
  }],
  ['trailing-slash', (p) => `${p}/`],
  ['two-trailing-slashes', (p) => `${p}//`],
  ['double-slash-start', (p) => `/${p}`],
  ['double-slash-inside', (p) => p.replace('/', '//').replace(/\/([^/]+)\//, '/$1//')],
  ['dot-segment', (p) => p.replace(/^\/([^/]+)/, '/$1/.')],
  ['dot-dot-segment', (p) => p.replace(/^\/([^/]+)/, '/$1/x/..')],
  ['encoded-letter', (p) => p.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`)],
  ['encoded-slash', (p) => p.replace(/\/(?=[^/]*$)/, '%2F')],
  ['encoded-slash-upper', (p) => p.toUpperCase().replace(/\/(?=[^/]*$)/, '%2f')],
  ['backslash', (p) => p.replace(/\//g, '\\')],
  ['semicolon', (p) => `${p};jsessionid=1`],
  ['trailing-dot', (p) => `${p}.`],
  ['trailing-space-encoded', (p) => `${p}%20`],
  ['overlong-slash', (p) => p.replace(/\/(?=[^/]*$)/, '%C0%AF')],
  ['trailing-nul', (p) => `${p}%00`],
  ['v1-upper-only', (p) => p.replace(/^\/v1/, '/V1')],
  ['mixed-case', (p, rng) => p.replace(/[a-z]/g, (c) => (chance(rng, 0.5) ? c.toUpperCase() : c))],
];

const QUERY_VARIANTS: readonly string[] = [
  'limit=0', 'limit=-1', 'limit=1e2', 'limit=abc', 'limit=', 'limit', 'limit=1&limit=2', 'limit[]=1', 'limit[a]=1', 'limit=%00', 'limit=101',
  'limit=201', 'limit=99999999999999999999', 'limit=0x10', 'limit=%zz', 'limit=1.5', 'limit=%205', 'limit=+5', 'limit=Infinity', 'limit=NaN', 'limit=-0',
  'explain=yes', 'explain=TRUE', 'explain[]=1', 'explain=1&explain=0', 'model=', 'model=%zz', 'model=%00', `model=${'m'.repeat(200)}`,
  'model=default', 'model=__proto__', 'model=a%2Fb', 'unknown=1', '__proto__[x]=1', '__proto__=1', 'constructor[prototype][x]=1',
  'constructor.prototype.x=1', 'a[b][c][d][e][f][g][h][i][j]=1', `q=${'x'.repeat(8000)}`, Array.from({ length: 2000 }, (_, i) => `p${i}=1`).join('&'),
  '%zz=1', '&&&', '=', '==', '?', '#frag', 'limit=5#x', 'toString=1', 'hasOwnProperty=1', 'limit=%E2%80%AE5',
];

/** Raw HTTP/1.1 requests the HTTP client refuses to send: malformed request lines and framing. */
function rawRequests(auth: string): readonly [string, string | Buffer][] {
  const a = auth ? `Authorization: ${auth}\r\n` : '';
  const host = 'Host: 127.0.0.1\r\n';
  const ev = '{"eventId":"raw-1","type":"view","customerId":"c-0","vehicleId":"v-0","occurredAt":"2026-01-01T00:00:00Z"}';
  return [
    ['space-in-path', `GET /v1/customers/a b/recommendations HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['utf8-in-path', Buffer.concat([Buffer.from('GET /v1/customers/'), Buffer.from('caf\u00e9\u{1F697}', 'utf8'), Buffer.from(`/recommendations HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`)])],
    ['latin1-byte-in-path', Buffer.concat([Buffer.from('GET /v1/vehicles/'), Buffer.from([0xe9, 0xff]), Buffer.from(`/similar HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`)])],
    ['nul-in-path', `GET /v1/models/a\u0000b/runs HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['tab-in-path', `GET /v1/models/a\tb/runs HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['http-1.0', `GET /v1/models HTTP/1.0\r\n${a}\r\n`],
    ['http-2.0-version', `GET /healthz HTTP/2.0\r\n${host}Connection: close\r\n\r\n`],
    ['http-9.9-version', `GET /healthz HTTP/9.9\r\n${host}Connection: close\r\n\r\n`],
    ['no-version', `GET /healthz\r\n\r\n`],
    ['absolute-form', `GET http://evil.example/v1/models HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['absolute-form-upper', `GET HTTP://127.0.0.1/V1/MODELS HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['asterisk-form', `OPTIONS * HTTP/1.1\r\n${host}${a}Connection: close\r\n\r\n`],
    ['lowercase-method', `get /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`],
    ['header-without-colon', `GET /healthz HTTP/1.1\r\n${host}NoColonHere\r\nConnection: close\r\n\r\n`],
    ['space-before-colon', `GET /healthz HTTP/1.1\r\n${host}Connection : close\r\n\r\n`],
    ['obs-fold', `GET /v1/models HTTP/1.1\r\n${host}${a}X-Folded: a\r\n b\r\nConnection: close\r\n\r\n`],
    ['no-host', `GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`],
    ['two-hosts', `GET /healthz HTTP/1.1\r\n${host}${host}Connection: close\r\n\r\n`],
    ['lf-only', `GET /healthz HTTP/1.1\n${host.replace('\r', '')}Connection: close\n\n`],
    ['bare-cr', `GET /healthz HTTP/1.1\r${host}Connection: close\r\n\r\n`],
    ['two-content-lengths', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nContent-Length: ${ev.length}\r\nContent-Length: 3\r\nConnection: close\r\n\r\n${ev}`],
    ['cl-and-te', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${ev.length.toString(16)}\r\n${ev}\r\n0\r\n\r\n`],
    ['bad-chunk-size', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n${ev}\r\n0\r\n\r\n`],
    ['te-gzip-chunked', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    ['cl-negative', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`],
    ['cl-huge', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}`],
    ['cl-short', `POST /v1/events HTTP/1.1\r\n${host}${a}Content-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n${ev}`],
    ['huge-header', `GET /healthz HTTP/1.1\r\n${host}X-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`],
    ['huge-request-line', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`],
    ['control-char-header', `GET /healthz HTTP/1.1\r\n${host}X-Ctl: a\u0001b\r\nConnection: close\r\n\r\n`],
    ['bad-header-name', `GET /healthz HTTP/1.1\r\n${host}X(Bad): 1\r\nConnection: close\r\n\r\n`],
    ['utf8-auth-header', Buffer.concat([Buffer.from(`GET /v1/models HTTP/1.1\r\n${host}Authorization: Bearer `), Buffer.from('k\u00e9y\u{1F511}', 'utf8'), Buffer.from('\r\nConnection: close\r\n\r\n')])],
    ['pipelined-garbage', `GET /healthz HTTP/1.1\r\n${host}\r\nGARBAGE\r\n\r\n`],
    ['connect', `CONNECT 127.0.0.1:6379 HTTP/1.1\r\n${host}Connection: close\r\n\r\n`],
    ['empty-line', `\r\n\r\n`],
    ['binary-junk', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])],
  ];
}

/**
 * An endless, deterministic stream of hostile requests for `seed` (the same seed gives the
 * same requests, byte for byte). Categories are drawn with fixed weights; every route is aimed at.
 */
export function* hostileRequests(options: GeneratorOptions): Generator<HostileRequest> {
  const rng = mulberry32(options.seed);
  const customers = options.customers?.length ? options.customers : ['c-0'];
  const vehicles = options.vehicles?.length ? options.vehicles : ['v-0'];
  const models = options.models?.length ? options.models : ['item-knn'];
  const keys = options.keys;
  const weights: [Category, number][] = [
    ['valid', 6], ['route-variant', 12], ['method', 6], ['query', 7], ['bad-id', 9], ['garbage-path', 5], ['json-syntax', 6], ['json-shape', 5],
    ['event-fields', 8], ['deep', 2], ['huge', 2], ['prototype', 4], ['content-type', 6], ['content-encoding', 4], ['batch', 3], ['headers', 4], ['raw', 5],
  ];
  const total = weights.reduce((s, [, w]) => s + w, 0);
  const drawCategory = (): Category => {
    let r = rng() * total;
    for (const [c, w] of weights) {
      r -= w;
      if (r < 0) return c;
    }
    return 'valid';
  };
  const drawAuth = (): AuthKind => {
    const r = rng();
    if (!keys) return r < 0.9 ? 'none' : r < 0.95 ? 'wrong' : 'malformed';
    return r < 0.12 ? 'none' : r < 0.2 ? 'malformed' : r < 0.28 ? 'wrong' : r < 0.68 ? 'read' : 'admin';
  };
  const authHeader = (auth: AuthKind): string | undefined => {
    switch (auth) {
      case 'none':
        return undefined;
      case 'read':
        return `Bearer ${keys?.read ?? 'no-keys-configured'}`;
      case 'admin':
        return pick(rng, [`Bearer ${keys?.admin ?? 'no-keys-configured'}`, `bearer ${keys?.admin ?? 'x'}`, `Bearer   ${keys?.admin ?? 'x'}  `]);
      case 'wrong':
        return pick(rng, ['Bearer wrong-key', `Bearer ${(keys?.admin ?? 'k').toUpperCase()}`, `Bearer ${keys?.read ?? 'k'}x`, `Bearer ${(keys?.admin ?? 'k').slice(0, -1)}`, `Bearer ${'k'.repeat(5000)}`]);
      case 'malformed':
        return pick(rng, ['', 'Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Token ${keys?.admin ?? 'x'}`, `${keys?.admin ?? 'x'}`, 'Bearer a b', `Bearer ${keys?.admin ?? 'x'}, Bearer ${keys?.read ?? 'y'}`, 'Bearer \u00e9', 'null', '%00']);
    }
  };
  /** Is `auth` enough for a route of this access level (keys configured or not)? */
  const authorised = (auth: AuthKind, access: RouteAccess): boolean =>
    !keys || access === 'public' || (access === 'read' && (auth === 'read' || auth === 'admin')) || (access === 'admin' && auth === 'admin');

  const fill = (template: string, id?: string): string =>
    template
      .replace(':customerId', id ?? pick(rng, customers))
      .replace(':vehicleId', id ?? pick(rng, vehicles))
      .replace(':model', id ?? (chance(rng, 0.8) ? pick(rng, models) : 'default'));

  const jsonBody = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  const bodyRoutes = ROUTES.filter((r) => r.methods.includes('POST'));

  for (let index = 0; ; index++) {
    const category = drawCategory();
    const auth = drawAuth();
    const headers: Record<string, string> = {};
    const a = authHeader(auth);
    if (a !== undefined) headers.authorization = a;
    let route: RouteSpec = pick(rng, ROUTES);
    let method = pick(rng, route.methods);
    let target = fill(route.template);
    let body: Buffer | undefined;
    let variant: string = category;
    let raw: Buffer | undefined;
    let expect: Expectation | undefined;
    let routeName = route.template;
    const eventsPost = () => {
      route = ROUTES[0];
      routeName = route.template;
      method = 'POST';
      target = '/v1/events';
      headers['content-type'] = 'application/json';
    };
    const anyPost = () => {
      route = pick(rng, bodyRoutes);
      routeName = route.template;
      method = 'POST';
      target = fill(route.template);
      headers['content-type'] = 'application/json';
    };

    switch (category) {
      case 'valid': {
        if (chance(rng, 0.4)) {
          eventsPost();
          body = jsonBody(chance(rng, 0.7) ? validEvent(rng, customers, vehicles, index) : { events: Array.from({ length: int(rng, 1, 20) }, (_, i) => validEvent(rng, customers, vehicles, index * 100 + i)) });
          variant = 'event';
        } else if (route.template === '/v1/models/:model/activate') {
          headers['content-type'] = 'application/json';
          body = jsonBody(chance(rng, 0.5) ? { runId: 'r1' } : { runId: 'r1', expectedRunId: 'r1' });
        } else if (method === 'POST') {
          headers['content-type'] = 'application/json';
          body = jsonBody(chance(rng, 0.5) ? {} : { force: true, shards: 2 });
        }
        break;
      }
      case 'route-variant': {
        const [name, make] = pick(rng, PATH_VARIANTS);
        variant = name;
        target = make(target, rng);
        if (method === 'POST') {
          headers['content-type'] = 'application/json';
          body = jsonBody(route.template === '/v1/events' ? validEvent(rng, customers, vehicles, index) : route.template.endsWith('activate') ? { runId: 'r1' } : {});
        }
        break;
      }
      case 'method': {
        // A third of them at the ingest route, where the contract names the answer (405 + Allow).
        if (chance(rng, 0.33)) {
          route = ROUTES[0];
          routeName = route.template;
          target = route.template;
        }
        method = pick(rng, METHODS);
        variant = method;
        if (chance(rng, 0.5)) {
          headers['content-type'] = 'application/json';
          body = jsonBody({ runId: 'r1' });
        }
        if (route.template === '/v1/events' && ['DELETE', 'PUT', 'PATCH'].includes(method)) {
          expect = { statuses: [405], allow: true, why: `${method} /v1/events is 405 with Allow: POST` };
        }
        break;
      }
      case 'query': {
        const q = pick(rng, QUERY_VARIANTS);
        variant = q.length > 40 ? `${q.slice(0, 40)}…` : q;
        target = `${target}?${q}`;
        if (method === 'POST') {
          headers['content-type'] = 'application/json';
          body = jsonBody(route.template === '/v1/events' ? validEvent(rng, customers, vehicles, index) : {});
        }
        break;
      }
      case 'bad-id': {
        const inBody = chance(rng, 0.35);
        if (inBody) {
          const bad = pick(rng, BAD_BODY_IDS);
          const field = pick(rng, ['eventId', 'customerId', 'vehicleId', 'sessionId', 'runId', 'expectedRunId']);
          variant = `body.${field}=${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 12)}…(${bad.length})` : bad)}`;
          if (field === 'runId' || field === 'expectedRunId') {
            route = ROUTES[5];
            routeName = route.template;
            method = 'POST';
            target = fill(route.template, pick(rng, models));
            headers['content-type'] = 'application/json';
            body = jsonBody(field === 'runId' ? { runId: bad } : { runId: 'r1', expectedRunId: bad });
            expect = { statuses: [400], why: `${field} outside the id alphabet is 400` };
          } else {
            eventsPost();
            const e = validEvent(rng, customers, vehicles, index);
            e[field] = bad;
            body = jsonBody(chance(rng, 0.5) ? e : { events: [validEvent(rng, customers, vehicles, index + 1), e] });
            expect = { statuses: [400], why: `${field} outside the id alphabet is 400` };
          }
        } else {
          const withParam = ROUTES.filter((r) => r.template.includes(':'));
          route = pick(rng, withParam);
          routeName = route.template;
          method = pick(rng, route.methods);
          const bad = pick(rng, BAD_PATH_IDS);
          variant = `path=${bad.length > 20 ? `${bad.slice(0, 12)}…(${bad.length})` : bad}`;
          target = fill(route.template, bad);
          if (method === 'POST') {
            headers['content-type'] = 'application/json';
            body = jsonBody(route.template.endsWith('activate') ? { runId: 'r1' } : {});
          }
          if (isBadPathId(bad)) {
            expect = route.template.startsWith('/v1/models/')
              ? { statuses: [400, 404], why: 'a model name outside the id alphabet is 400 (or 404 unknown model)' }
              : { statuses: [400], why: 'an id outside the id alphabet is 400' };
          } else if (route.template.startsWith('/v1/models/') && method === 'POST' && route.template.endsWith('/runs')) {
            expect = { non2xx: true, why: 'a run of an unknown model is not queued' };
          }
        }
        break;
      }
      case 'garbage-path': {
        routeName = 'garbage';
        target = garbagePath(rng);
        method = pick(rng, ['GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS']);
        if (method === 'POST') {
          headers['content-type'] = 'application/json';
          body = jsonBody({});
        }
        break;
      }
      case 'json-syntax': {
        anyPost();
        const broken: [string, Buffer][] = [
          ['open-brace', Buffer.from('{')],
          ['missing-value', Buffer.from('{"eventId":}')],
          ['single-quotes', Buffer.from("{'eventId':'a'}")],
          ['unclosed-array', Buffer.from('[1,2')],
          ['undefined', Buffer.from('undefined')],
          ['NaN', Buffer.from('NaN')],
          ['trailing-garbage', Buffer.from('{"a":1}x')],
          ['bom', Buffer.from('\ufeff{"runId":"r1"}')],
          ['empty', Buffer.alloc(0)],
          ['whitespace', Buffer.from('   \n\t ')],
          ['trailing-comma', Buffer.from('{"a":1,}')],
          ['comment', Buffer.from('{/* c */"a":1}')],
          ['invalid-utf8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
          ['utf16le', Buffer.from('{"runId":"r1"}', 'utf16le')],
          ['nul-bytes', Buffer.from('{"a":1}\u0000\u0000')],
          ['control-char-in-string', Buffer.from('{"eventId":"a\u0001b"}')],
          ['bad-escape', Buffer.from('{"eventId":"\\x41"}')],
          ['lone-surrogate-escape', Buffer.from('{"eventId":"\\ud800","type":"view"}')],
          ['number-garbage', Buffer.from('{"a":01}')],
          ['huge-exponent', Buffer.from('{"a":1e99999999}')],
          ['hex', Buffer.from('{"a":0x10}')],
          ['duplicate-keys', Buffer.from('{"runId":"r1","runId":"r2"}')],
          ['binary', Buffer.from(Array.from({ length: 64 }, () => Math.floor(rng() * 256)))],
        ];
        const [name, b] = pick(rng, broken);
        variant = name;
        body = b;
        break;
      }
      case 'json-shape': {
        anyPost();
        const shapes: [string, string][] = [
          ['null', 'null'], ['true', 'true'], ['number', '1'], ['string', '"str"'], ['empty-array', '[]'], ['array-of-object', '[{}]'], ['empty-object', '{}'],
          ['events-null', '{"events":null}'], ['events-object', '{"events":{}}'], ['events-empty', '{"events":[]}'], ['events-string', '{"events":"x"}'],
          ['events-of-null', '{"events":[null]}'], ['events-of-array', '{"events":[[]]}'], ['infinity', '{"a":1e309}'], ['minus-zero', '{"shards":-0}'],
          ['shards-string', '{"shards":"2"}'], ['shards-float', '{"shards":1.5}'], ['shards-huge', '{"shards":1e308}'], ['force-string', '{"force":"true"}'],
          ['asOf-offset', '{"asOf":"2026-01-01T00:00:00+01:00"}'], ['asOf-number', '{"asOf":0}'], ['runId-null', '{"runId":null}'], ['runId-object', '{"runId":{"$gt":""}}'],
          ['expectedRunId-null', '{"runId":"r1","expectedRunId":null}'], ['unknown-field', '{"runId":"r1","sudo":true}'],
        ];
        const [name, b] = pick(rng, shapes);
        variant = name;
        body = Buffer.from(b);
        // JSON that parses must never be called "not valid JSON".
        expect = { detailNot: /not valid JSON/i, why: 'a body that is valid JSON is not called "not valid JSON"' };
        break;
      }
      case 'event-fields': {
        eventsPost();
        const [name, make] = pick(rng, FIELD_MUTATIONS);
        variant = name;
        const e = validEvent(rng, customers, vehicles, index);
        const [field] = name.split(/[.:]/);
        if (name === 'extra-field') e.isAdmin = true;
        else if (field === 'properties' && name.includes('.')) e.properties = make();
        else e[field] = make();
        if (name === 'type:unknown' || name === 'type:number') e.customerId = pick(rng, customers);
        body = jsonBody(chance(rng, 0.6) ? e : { events: [validEvent(rng, customers, vehicles, index + 1), e] });
        if (name !== 'occurredAt:year-0') expect = { statuses: [400], why: `an event with ${name} is 400` };
        break;
      }
      case 'deep': {
        anyPost();
        const depth = pick(rng, [1_000, 10_000, 100_000]);
        const kind = pick(rng, ['array', 'object'] as const);
        const where = pick(rng, ['body', 'properties', 'filters', 'events']);
        variant = `${kind}-${depth}-in-${where}`;
        const deep = deepJson(depth, kind);
        if (where === 'body') body = Buffer.from(deep);
        else {
          eventsPost();
          const e = JSON.stringify(validEvent(rng, customers, vehicles, index));
          if (where === 'properties') body = Buffer.from(`${e.slice(0, -1)},"properties":${deep}}`);
          else if (where === 'filters') body = Buffer.from(`${e.slice(0, -1)},"properties":{"filters":${deep}}}`);
          else body = Buffer.from(`{"events":[${e},${deep}]}`);
        }
        break;
      }
      case 'huge': {
        anyPost();
        const kind = pick(rng, ['string-under-limit', 'body-over-limit', 'many-keys', 'long-array', 'huge-number', 'long-id']);
        variant = kind;
        if (kind === 'string-under-limit') body = Buffer.from(`{"runId":"${'r'.repeat(1024 * 1024 - 32)}"}`);
        else if (kind === 'body-over-limit') {
          body = Buffer.from(`{"runId":"${'r'.repeat(1024 * 1024 + 100)}"}`);
          expect = { statuses: [413], why: 'a body over 1 MiB is 413' };
        } else if (kind === 'many-keys') body = Buffer.from(`{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`);
        else if (kind === 'long-array') body = Buffer.from(`[${Array.from({ length: 100_000 }, () => '0').join(',')}]`);
        else if (kind === 'huge-number') body = Buffer.from(`{"shards":${'9'.repeat(100_000)}}`);
        else {
          eventsPost();
          const e = validEvent(rng, customers, vehicles, index);
          e.eventId = 'e'.repeat(500_000);
          body = jsonBody(e);
          expect = { statuses: [400], why: 'an eventId over 128 characters is 400' };
        }
        break;
      }
      case 'prototype': {
        const kind = pick(rng, ['body-proto', 'body-constructor', 'event-proto', 'properties-proto', 'batch-proto', 'query-proto', 'filters-proto']);
        variant = kind;
        if (kind === 'query-proto') {
          target = `${target}?${pick(rng, ['__proto__[admin]=1', '__proto__.admin=1', 'constructor[prototype][admin]=1', '__proto__=x', 'constructor=1'])}`;
          break;
        }
        if (kind === 'body-proto' || kind === 'body-constructor') anyPost();
        else eventsPost();
        const e = JSON.stringify(validEvent(rng, customers, vehicles, index));
        const proto = '"__proto__":{"admin":true,"polluted":"yes"}';
        if (kind === 'body-proto') body = Buffer.from(`{${proto},"runId":"r1"}`);
        else if (kind === 'body-constructor') body = Buffer.from('{"constructor":{"prototype":{"polluted":"yes"}},"runId":"r1"}');
        else if (kind === 'event-proto') body = Buffer.from(`${e.slice(0, -1)},${proto}}`);
        else if (kind === 'properties-proto') body = Buffer.from(`${e.slice(0, -1)},"properties":{${proto}}}`);
        else if (kind === 'filters-proto') body = Buffer.from(`${e.slice(0, -1)},"properties":{"filters":{${proto},"constructor":{"prototype":{"polluted":"yes"}}}}}`);
        else body = Buffer.from(`{"events":[${e}],${proto}}`);
        break;
      }
      case 'content-type': {
        anyPost();
        const ct = pick(rng, CONTENT_TYPES);
        variant = `content-type=${ct.value ?? '(none)'}`;
        if (ct.value === undefined) delete headers['content-type'];
        else headers['content-type'] = ct.value;
        body = route.template === '/v1/events' ? jsonBody(validEvent(rng, customers, vehicles, index)) : jsonBody({ runId: 'r1' });
        if (ct.expect) expect = ct.expect;
        break;
      }
      case 'content-encoding': {
        anyPost();
        const kind = pick(rng, ['gzip-garbage', 'deflate-garbage', 'br-garbage', 'gzip-truncated', 'gzip-bomb', 'gzip-valid', 'identity', 'compress', 'gzip, gzip', 'GZIP-garbage', 'unknown']);
        variant = kind;
        const valid = route.template === '/v1/events' ? jsonBody(validEvent(rng, customers, vehicles, index)) : jsonBody({ runId: 'r1' });
        const garbage = Buffer.from(Array.from({ length: int(rng, 1, 200) }, () => Math.floor(rng() * 256)));
        const garbageExpect: Expectation = { statuses: [400], why: 'a body that cannot be decoded with its content-encoding is 400' };
        if (kind.endsWith('-garbage')) {
          headers['content-encoding'] = kind.slice(0, -'-garbage'.length);
          body = garbage;
          expect = garbageExpect;
        } else if (kind === 'gzip-truncated') {
          headers['content-encoding'] = 'gzip';
          const z = gzipSync(valid);
          body = z.subarray(0, Math.max(1, z.length - 9));
          expect = garbageExpect;
        } else if (kind === 'gzip-bomb') {
          headers['content-encoding'] = 'gzip';
          body = bomb();
          expect = { statuses: [413, 400], why: 'a body inflating past 1 MiB is 413' };
        } else if (kind === 'gzip-valid') {
          headers['content-encoding'] = 'gzip';
          body = gzipSync(valid);
        } else if (kind === 'gzip, gzip') {
          headers['content-encoding'] = 'gzip, gzip';
          body = gzipSync(gzipSync(valid));
        } else {
          headers['content-encoding'] = kind === 'unknown' ? 'x-snappy' : kind;
          body = valid;
          if (kind !== 'identity') expect = { statuses: [400, 415], why: `content-encoding ${headers['content-encoding']} is not supported: 415 (or 400)` };
        }
        break;
      }
      case 'batch': {
        eventsPost();
        const kind = pick(rng, ['501-events', '2000-events', '500-one-bad', '500-all-bad', 'duplicate-ids', 'nested-batch', 'batch-and-event-fields']);
        variant = kind;
        const many = (n: number) => Array.from({ length: n }, (_, i) => validEvent(rng, customers, vehicles, index * 10_000 + i));
        if (kind === '501-events' || kind === '2000-events') {
          body = jsonBody({ events: many(kind === '501-events' ? 501 : 2000) });
          expect = { statuses: [400, 413], why: 'a batch of more than 500 events is 400 (or 413 when over 1 MiB)' };
        } else if (kind === '500-one-bad') {
          const list = many(500);
          list[int(rng, 0, 499)].occurredAt = 'never';
          body = jsonBody({ events: list });
          expect = { statuses: [400], why: 'a batch with one bad event is 400' };
        } else if (kind === '500-all-bad') {
          body = jsonBody({ events: Array.from({ length: 500 }, () => ({ eventId: 1 })) });
          expect = { statuses: [400], why: 'a batch of bad events is 400' };
        } else if (kind === 'duplicate-ids') {
          const e = validEvent(rng, customers, vehicles, index);
          body = jsonBody({ events: [e, e, e] });
        } else if (kind === 'nested-batch') {
          body = jsonBody({ events: [{ events: many(2) }] });
          expect = { statuses: [400], why: 'a nested batch is 400' };
        } else {
          body = jsonBody({ ...validEvent(rng, customers, vehicles, index), events: many(1) });
          expect = { statuses: [400], why: 'an event with an events field is 400' };
        }
        break;
      }
      case 'headers': {
        const kind = pick(rng, ['huge-header', 'many-headers', 'request-id-junk', 'request-id-long', 'accept-xml', 'expect-continue', 'chunked', 'host-junk', 'x-forwarded', 'range', 'if-none-match']);
        variant = kind;
        if (kind === 'huge-header') headers['x-big'] = 'x'.repeat(int(rng, 17_000, 40_000));
        else if (kind === 'many-headers') for (let i = 0; i < 3000; i++) headers[`x-h${i}`] = String(i);
        else if (kind === 'request-id-junk') headers['x-request-id'] = pick(rng, ['<script>', '../../etc', 'a b', '%00', '\u00e9']);
        else if (kind === 'request-id-long') headers['x-request-id'] = 'r'.repeat(5000);
        else if (kind === 'accept-xml') headers.accept = 'application/xml';
        else if (kind === 'expect-continue') headers.expect = pick(rng, ['100-continue', '200-ok']);
        else if (kind === 'host-junk') headers.host = pick(rng, ['evil.example', '', '127.0.0.1:99999', '[::1']);
        else if (kind === 'x-forwarded') headers['x-forwarded-for'] = '10.0.0.1, 1.2.3.4';
        else if (kind === 'range') headers.range = 'bytes=0-1,5-';
        else if (kind === 'if-none-match') headers['if-none-match'] = '*';
        if (kind === 'chunked' || chance(rng, 0.3)) {
          eventsPost();
          body = jsonBody(validEvent(rng, customers, vehicles, index));
          if (kind === 'chunked') headers['transfer-encoding'] = 'chunked';
        }
        break;
      }
      case 'raw': {
        const list = rawRequests(a ?? '');
        const [name, bytes] = pick(rng, list);
        variant = name;
        raw = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
        method = 'RAW';
        routeName = 'raw';
        // The request line's target, as the server reads it (for the report and the authorisation check).
        target = raw.toString('latin1').split(/\r?\n|\r/)[0].split(' ')[1] ?? '';
        break;
      }
    }
    // Authorisation first: an expectation holds only for a request that gets past the key check.
    const known = routeName !== 'garbage' && routeName !== 'raw';
    if (expect && !(known && authorised(auth, route.access))) expect = undefined;
    yield { index, category, variant, method, target, headers, body, auth, route: routeName, raw, expect };
  }
}

/** The first `count` requests of the stream for these options. */
export function takeHostileRequests(options: GeneratorOptions, count: number): HostileRequest[] {
  const out: HostileRequest[] = [];
  for (const r of hostileRequests(options)) {
    if (out.length >= count) break;
    out.push(r);
  }
  return out;
}
