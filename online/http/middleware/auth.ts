import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { Forbidden, Unauthenticated } from '../../../shared/errors/app-error.js';
import type { FailedAuthLimit } from './failed-auth-limit.js';
import { locals } from './request-context.js';

export interface ApiKeys {
  /** Keys for ingest and read endpoints. */
  api: readonly string[];
  /** Keys for everything, admin endpoints included. */
  admin: readonly string[];
}

/**
 * What a route needs: `public` (no key), `read` (an API or admin key) or `admin` (an admin key).
 * Every route declares its scope and its guard runs after the route matched, so a path that
 * matches no route can never reach a handler with another route's scope.
 */
export type Scope = 'public' | 'read' | 'admin';

const digest = (s: string) => createHash('sha256').update(s).digest();
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** True when any key is configured: then every /v1 request needs one. */
export function keysConfigured(keys: ApiKeys): boolean {
  return keys.api.length + keys.admin.length > 0;
}

/**
 * Bearer-key authentication. Keys are compared as SHA-256 digests with `timingSafeEqual`,
 * against every configured key (no early exit), and never logged: the request logger sees
 * only `principal`, a short hash. Without configured keys every request passes (the server
 * then binds to loopback only). No key → 401; an unknown key, or a read key on an admin
 * route → 403. With `failures`, an address that failed too often is refused (429) before any
 * key is compared, and every malformed header or unknown key counts as a failure.
 */
export function requireKey(keys: ApiKeys, need: 'read' | 'admin', failures?: FailedAuthLimit) {
  const api = keys.api.map(digest);
  const admin = keys.admin.map(digest);
  const open = api.length + admin.length === 0;
  return (req: Request, res: Response, next: NextFunction): void => {
    const l = locals(res);
    const address = req.socket.remoteAddress ?? 'unknown';
    if (open) {
      l.role = 'open';
      l.principal = `ip:${address}`;
      return next();
    }
    const header = req.headers.authorization;
    if (header === undefined) throw new Unauthenticated();
    failures?.check(address);
    const m = BEARER.exec(header);
    if (!m) {
      failures?.fail(address);
      throw new Unauthenticated();
    }
    const given = digest(m[1]);
    let isAdmin = false;
    let isApi = false;
    for (const k of admin) if (timingSafeEqual(k, given)) isAdmin = true;
    for (const k of api) if (timingSafeEqual(k, given)) isApi = true;
    l.principal = `key:${given.toString('hex').slice(0, 12)}`;
    if (!isAdmin && !isApi) {
      failures?.fail(address);
      throw new Forbidden('unknown API key');
    }
    if (need === 'admin' && !isAdmin) throw new Forbidden('this endpoint needs an admin key');
    l.role = isAdmin ? 'admin' : 'read';
    next();
  };
}
