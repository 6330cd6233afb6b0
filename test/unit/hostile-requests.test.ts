import assert from 'node:assert/strict';
import { CATEGORIES, ROUTES, takeHostileRequests, type HostileRequest } from '../../scripts/fuzz/hostile-requests.js';
import { checkResponse, type SeenResponse } from '../../scripts/fuzz/fuzz-invariants.js';
import { countSeries } from '../../scripts/fuzz/metrics-series.js';

const KEYS = { read: 'read-key', admin: 'admin-key' };
const fingerprint = (r: HostileRequest) => `${r.category}|${r.variant}|${r.method}|${r.target}|${JSON.stringify(r.headers)}|${r.body?.toString('base64') ?? ''}|${r.raw?.toString('base64') ?? ''}`;

const json = (status: number, body: unknown, extra: Record<string, string> = {}): SeenResponse => ({
  status,
  headers: { 'content-type': status >= 400 ? 'application/problem+json; charset=utf-8' : 'application/json; charset=utf-8', 'x-request-id': 'r', ...extra },
  body: Buffer.from(JSON.stringify(body)),
  truncated: false,
});
const problem = (status: number) => json(status, { type: 'urn:x', title: 'T', status, detail: 'd' });
const request = (over: Partial<HostileRequest>): HostileRequest => ({ index: 0, category: 'valid', variant: 'v', method: 'GET', target: '/healthz', headers: {}, auth: 'none', route: '/healthz', ...over });

describe('hostile-request generator (scripts/fuzz)', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = takeHostileRequests({ seed: 7, keys: KEYS }, 400).map(fingerprint);
    const b = takeHostileRequests({ seed: 7, keys: KEYS }, 400).map(fingerprint);
    const c = takeHostileRequests({ seed: 8, keys: KEYS }, 400).map(fingerprint);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('covers every route, every category and every kind of credentials within 1500 requests', () => {
    const list = takeHostileRequests({ seed: 13, keys: KEYS }, 1500);
    const routes = new Set(list.map((r) => r.route));
    for (const r of ROUTES) assert.ok(routes.has(r.template), `route ${r.template} never aimed at`);
    assert.ok(routes.has('garbage') && routes.has('raw'));
    const categories = new Set(list.map((r) => r.category));
    for (const c of CATEGORIES) assert.ok(categories.has(c), `category ${c} never produced`);
    const auths = new Set(list.map((r) => r.auth));
    assert.deepEqual([...auths].sort(), ['admin', 'malformed', 'none', 'read', 'wrong']);
    // Case variants of the admin routes are sent with a read key (the authorisation check needs them).
    assert.ok(list.some((r) => r.auth === 'read' && r.category === 'route-variant' && /\/v1\/models/i.test(r.target) && r.target !== '/v1/models'));
  });

  it('sends no key a keyless target does not have, and sets expectations only on authorised requests', () => {
    const open = takeHostileRequests({ seed: 3 }, 800);
    assert.ok(open.every((r) => r.auth !== 'read' && r.auth !== 'admin'));
    const keyed = takeHostileRequests({ seed: 3, keys: KEYS }, 1500);
    const expected = keyed.filter((r) => r.expect);
    assert.ok(expected.length > 50);
    for (const r of expected) {
      const access = ROUTES.find((x) => x.template === r.route)?.access;
      assert.ok(access === 'public' || r.auth === 'admin' || (access === 'read' && r.auth === 'read'), `${r.auth} ${r.route} has an expectation`);
    }
    assert.ok(keyed.filter((r) => r.raw).every((r) => r.raw!.length > 0 && r.method === 'RAW'));
    assert.ok(keyed.filter((r) => r.method === 'POST' && r.category === 'json-syntax').every((r) => r.body !== undefined));
  });
});

describe('hostile-input invariants (scripts/fuzz)', () => {
  it('flags a 5xx, an error that is not problem+json, and a problem missing its fields', () => {
    const req = request({ method: 'POST', target: '/v1/events', route: '/v1/events', auth: 'admin' });
    assert.deepEqual(checkResponse(req, problem(500), true).map((v) => v.invariant), ['5xx']);
    assert.deepEqual(checkResponse(req, { ...problem(400), headers: { 'content-type': 'text/html', 'x-request-id': 'r' } }, true).map((v) => v.invariant), ['error-not-problem-json']);
    assert.deepEqual(checkResponse(req, json(400, { type: 'x', title: 't', status: 400 }), true).map((v) => v.invariant), ['error-not-problem-json']);
    assert.deepEqual(checkResponse(req, problem(400), true), []);
  });

  it('accepts the bodiless answers of Node\'s parser only with a parser status', () => {
    const req = request({});
    const bare = (status: number): SeenResponse => ({ status, headers: { connection: 'close' }, body: Buffer.alloc(0), truncated: false });
    assert.deepEqual(checkResponse(req, bare(431), false), []);
    assert.deepEqual(checkResponse(req, bare(400), false), []);
    assert.deepEqual(checkResponse(req, bare(413), false).map((v) => v.invariant), ['parser-status']);
  });

  it('flags a read key getting 2xx on an admin route in any case or slash variant, and a missing key getting 2xx', () => {
    for (const target of ['/v1/MODELS', '/v1/models/', '/V1/Models/item-knn/runs', '/admin/queues', '/v1/customers/c1/RECOMMENDATIONS']) {
      assert.deepEqual(checkResponse(request({ target, auth: 'read' }), json(200, {}), true).map((v) => v.invariant), ['authz-read-key'], target);
    }
    assert.deepEqual(checkResponse(request({ target: '/v1/customers/c1/recommendations', auth: 'read' }), json(200, {}), true), []);
    assert.deepEqual(checkResponse(request({ target: '/healthz', auth: 'read' }), json(200, {}), true), []);
    assert.deepEqual(checkResponse(request({ target: '/v1/events', auth: 'wrong' }), json(202, {}), true).map((v) => v.invariant), ['authz-no-key']);
    assert.deepEqual(checkResponse(request({ target: '/v1/models', auth: 'none' }), json(200, {}), false), []);
  });

  it('checks what the contract names: status, Allow, and valid JSON never called invalid', () => {
    const latin1 = request({ method: 'POST', target: '/v1/events', auth: 'read', expect: { statuses: [415], why: 'charset' } });
    assert.deepEqual(checkResponse(latin1, problem(400), true).map((v) => v.invariant), ['expectation']);
    assert.deepEqual(checkResponse(latin1, problem(415), true), []);
    const del = request({ method: 'DELETE', target: '/v1/events', auth: 'read', expect: { statuses: [405], allow: true, why: 'allow' } });
    assert.deepEqual(checkResponse(del, problem(405), true).map((v) => v.detail.slice(0, 20)), ['expected an Allow he']);
    assert.deepEqual(checkResponse(del, { ...problem(405), headers: { ...problem(405).headers, allow: 'POST' } }, true), []);
    const nul = request({ method: 'POST', target: '/v1/events', auth: 'read', expect: { detailNot: /not valid JSON/i, why: 'null' } });
    assert.equal(checkResponse(nul, json(400, { type: 'x', title: 't', status: 400, detail: 'body is not valid JSON' }), true).length, 1);
    assert.deepEqual(checkResponse(nul, json(400, { type: 'x', title: 't', status: 400, detail: 'body must be an object' }), true), []);
  });

  it('flags a 2xx that is not JSON, except the HTML and text routes', () => {
    const html: SeenResponse = { status: 200, headers: { 'content-type': 'text/html', 'x-request-id': 'r' }, body: Buffer.from('<p>'), truncated: false };
    assert.deepEqual(checkResponse(request({ target: '/v1/customers/c/recommendations' }), html, false).map((v) => v.invariant), ['2xx-not-json']);
    assert.deepEqual(checkResponse(request({ target: '/docs' }), html, false), []);
    assert.deepEqual(checkResponse(request({ target: '/metrics' }), html, false), []);
  });
});

describe('metric series count (scripts/fuzz)', () => {
  it('folds histogram buckets into one series per label set and counts label values', () => {
    const text = [
      '# HELP h d',
      '# TYPE h histogram',
      'h_bucket{le="0.1",method="GET",route="/a",status="200"} 1',
      'h_bucket{le="+Inf",method="GET",route="/a",status="200"} 1',
      'h_sum{method="GET",route="/a",status="200"} 0.1',
      'h_count{method="GET",route="/a",status="200"} 1',
      'h_bucket{le="+Inf",method="GET",route="/b \\"q\\"",status="404"} 1',
      'h_count{method="GET",route="/b \\"q\\"",status="404"} 1',
      '# TYPE c_total counter',
      'c_total{outcome="ok"} 3',
      '# TYPE g gauge',
      'g 1',
    ].join('\n');
    const s = countSeries(text);
    assert.equal(s.total, 4);
    assert.deepEqual(s.byMetric, { h: 2, c_total: 1, g: 1 });
    assert.equal(s.labelValues['h.route'], 2);
    assert.ok(s.samples['h.route'].includes('/b "q"'));
  });
});
