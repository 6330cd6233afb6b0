import type { RequestHandler } from 'express';
import { buildOpenApi } from '../openapi.js';
import type { RouteSpec } from '../route-table.js';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>showroom API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/docs.css"></head>
<body><header><h1>showroom API</h1><p id="desc"></p><p><a href="/openapi.json">openapi.json</a></p></header>
<main id="ops">Loading…</main><script src="/docs/docs.js"></script></body></html>`;

const CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem;color:#222}
h1{margin-bottom:.2rem}.op{border:1px solid #ddd;border-radius:6px;margin:.8rem 0;padding:.6rem .9rem}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}.get{color:#0a7}.post{color:#27c}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
details{margin:.3rem 0}table{border-collapse:collapse}td{padding:.1rem .6rem .1rem 0;vertical-align:top}`;

// Renders the OpenAPI document without any third-party script (no CDN; CSP 'self').
const JS = `(async function(){
  var doc = await (await fetch('/openapi.json')).json();
  document.getElementById('desc').textContent = doc.info.description || '';
  var main = document.getElementById('ops'); main.textContent = '';
  function el(t, cls, text){ var e = document.createElement(t); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
  function block(title, obj){ var d = el('details'); d.appendChild(el('summary', null, title)); d.appendChild(el('pre', null, JSON.stringify(obj, null, 2))); return d; }
  Object.keys(doc.paths).forEach(function(path){
    var item = doc.paths[path];
    Object.keys(item).forEach(function(method){
      var op = item[method]; var box = el('section', 'op');
      var h = el('div'); h.appendChild(el('span', 'm ' + method, method)); h.appendChild(el('code', null, path)); box.appendChild(h);
      box.appendChild(el('div', null, op.summary || ''));
      if (op.description) box.appendChild(el('p', null, op.description));
      if (op.security) box.appendChild(el('div', null, 'Auth: Authorization: Bearer <key>'));
      if (op.parameters && op.parameters.length){ var t = el('table'); op.parameters.forEach(function(p){ var r = el('tr'); r.appendChild(el('td', null, p.name + (p.required ? ' *' : ''))); r.appendChild(el('td', null, p.in)); r.appendChild(el('td', null, JSON.stringify(p.schema))); t.appendChild(r); }); box.appendChild(t); }
      if (op.requestBody) box.appendChild(block('Request body', op.requestBody.content));
      box.appendChild(block('Responses: ' + Object.keys(op.responses).join(', '), op.responses));
      main.appendChild(box);
    });
  });
  main.appendChild(block('Schemas', doc.components));
})();`;

/** `/openapi.json` (generated from the zod schemas) and `/docs` (a self-contained page rendering it); public. */
export function docsRoutes(): RouteSpec[] {
  const doc = buildOpenApi();
  const get = (path: string, handler: RequestHandler): RouteSpec => ({ method: 'get', path, scope: 'public', handlers: [handler] });
  return [
    get('/openapi.json', (_req, res) => {
      res.json(doc);
    }),
    get('/docs', (_req, res) => {
      res.type('html').send(PAGE);
    }),
    get('/docs/docs.js', (_req, res) => {
      res.type('application/javascript').send(JS);
    }),
    get('/docs/docs.css', (_req, res) => {
      res.type('text/css').send(CSS);
    }),
  ];
}
