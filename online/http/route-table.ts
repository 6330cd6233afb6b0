import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { MethodNotAllowed } from '../../shared/errors/app-error.js';
import type { Scope } from './middleware/auth.js';

/** One route of the API: its method, Express path template, the scope it needs and its handlers. */
export interface RouteSpec {
  method: 'get' | 'post';
  /** Express path template, matched case-sensitively and strictly (no trailing-slash variant). */
  path: string;
  scope: Scope;
  /** Run after the scope's guards (authentication, rate limit), in order. */
  handlers: RequestHandler[];
}

/** The guards of each scope (e.g. `[readKey, limiter]`), run by every route of that scope after it matched. */
export type ScopeGuards = Record<Scope, RequestHandler[]>;

/** Methods a path answers, as in the `Allow` header (GET implies HEAD). */
export function allowedMethods(routes: readonly RouteSpec[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of routes) {
    if (r.path !== path) continue;
    methods.add(r.method.toUpperCase());
    if (r.method === 'get') methods.add('HEAD');
  }
  methods.add('OPTIONS');
  return [...methods];
}

/**
 * Mounts `routes` on `app` in order, each as `app[method](path, ...guards[scope], ...handlers)`,
 * then one catch-all per path (behind the same guards) answering 405 with `Allow` to any other
 * method, and 204 with `Allow` to OPTIONS. Authorisation is therefore a property of the matched
 * route, never of a string prefix of the request path.
 */
export function mountRoutes(app: Express, routes: readonly RouteSpec[], guards: ScopeGuards): void {
  for (const r of routes) app[r.method](r.path, ...guards[r.scope], ...r.handlers);
  const paths = new Map<string, Scope>();
  for (const r of routes) if (!paths.has(r.path)) paths.set(r.path, r.scope);
  for (const [path, scope] of paths) {
    const allow = allowedMethods(routes, path);
    const allowHeader = allow.join(', ');
    app.all(path, ...guards[scope], (req: Request, res: Response, _next: NextFunction) => {
      res.setHeader('Allow', allowHeader);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      throw new MethodNotAllowed(`${req.method} is not allowed on ${path}; allowed: ${allowHeader}`, allow);
    });
  }
}

/**
 * The name of the path parameter whose raw (still percent-encoded) value is `raw` in
 * `requestPath`, found by matching the path against the route templates segment by segment.
 * For error messages only (a parameter that does not decode); undefined when none matches.
 */
export function paramNameAt(routes: readonly RouteSpec[], requestPath: string, raw: string): string | undefined {
  const segments = requestPath.split('/');
  for (const r of routes) {
    const template = r.path.split('/');
    if (template.length !== segments.length) continue;
    let name: string | undefined;
    let fits = true;
    for (let i = 0; i < template.length && fits; i++) {
      if (template[i].startsWith(':')) {
        if (segments[i] === raw) name ??= template[i].slice(1);
      } else if (template[i] !== segments[i]) fits = false;
    }
    if (fits && name !== undefined) return name;
  }
  return undefined;
}
