import type { NextFunction, Request, Response } from 'express';
import {
  AppError,
  Conflict,
  Forbidden,
  InvalidArgument,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  TooManyRequests,
  Unavailable,
  UnsupportedMediaType,
} from '../../../shared/errors/app-error.js';
import { locals } from './request-context.js';

/** problem+json `type` URI of an AppError type: stable, documented in the OpenAPI document. */
export const problemType = (type: string) => `urn:showroom:problem:${type}`;

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Problem types of client errors that carry only a status (http-errors from Express, body-parser). */
const TYPES: Record<number, string> = {
  400: 'invalid-argument',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
};

/** What a body must be, by route (for a body that is valid JSON but not an object). */
export type BodyShapes = (req: Request) => string;

interface HttpLikeError {
  type?: unknown;
  status?: unknown;
  statusCode?: unknown;
  message?: string;
  expose?: boolean;
  limit?: number;
  body?: unknown;
}

/** Valid JSON whose top level is not an object or array (`null`, `42`, `"x"`), which strict parsing refuses. */
function isJsonScalar(body: unknown): boolean {
  if (typeof body !== 'string') return false;
  const first = body.trimStart()[0];
  if (first === '{' || first === '[' || first === undefined) return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

/** Body-parser errors (they carry `type` and `status`). */
function fromBodyParser(e: HttpLikeError, shape: string): AppError | undefined {
  switch (e.type) {
    case 'entity.too.large':
      return new PayloadTooLarge(`request body exceeds ${e.limit ?? 1048576} bytes`);
    case 'entity.parse.failed':
      if (isJsonScalar(e.body)) return new InvalidArgument(`body must be ${shape}`, [{ field: '(body)', message: `must be ${shape}` }]);
      return new InvalidArgument(`body is not valid JSON: ${e.message ?? ''}`, [{ field: '(body)', message: 'is not valid JSON' }]);
    case 'charset.unsupported':
      return new UnsupportedMediaType(`${e.message ?? 'unsupported charset'}; send UTF-8 JSON`, [{ field: 'content-type', message: 'charset must be utf-8' }]);
    case 'encoding.unsupported':
      return new UnsupportedMediaType(`${e.message ?? 'content encoding unsupported'}; use gzip, deflate or br, or none`, [{ field: 'content-encoding', message: 'is not supported' }]);
    case 'request.aborted':
      return new InvalidArgument('the client aborted the request', [{ field: '(body)', message: 'incomplete' }]);
    case 'request.size.invalid':
      return new InvalidArgument('request body size does not match content-length', [{ field: 'content-length', message: 'does not match the body' }]);
    case 'entity.verify.failed':
      return new Forbidden(e.message ?? 'request body verification failed');
    default:
      return undefined;
  }
}

/**
 * Client errors raised outside our code: body-parser's, Express's and http-errors' (they carry
 * `status`/`statusCode` 400–499), e.g. a path parameter that does not percent-decode
 * (`URIError`, 400), a body that does not decompress (400). Anything else is not the client's fault.
 */
function fromHttpError(err: unknown, shape: string, paramName: (raw: string) => string | undefined): AppError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as HttpLikeError;
  const known = fromBodyParser(e, shape);
  if (known) return known;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status > 499) return undefined;
  if (err instanceof URIError) {
    const raw = /^Failed to decode param '(.*)'$/s.exec(e.message ?? '')?.[1];
    const name = raw === undefined ? undefined : paramName(raw);
    const field = name ? `path.${name}` : '(path)';
    return new InvalidArgument(`${name ? `path parameter ${name}` : 'a path parameter'} is not valid percent-encoded UTF-8`, [{ field, message: 'is not valid percent-encoded UTF-8' }]);
  }
  const message = e.expose !== false && e.message ? e.message : (TITLES[status] ?? 'client error');
  if (status === 415) return new UnsupportedMediaType(message);
  return new AppError(TYPES[status] ?? 'client-error', status, message);
}

/** 404 for every unmatched route, as problem+json. */
export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new NotFound(`no route for ${req.method} ${req.path}`));
}

export interface ErrorHandlerOptions {
  /** What the request body must be, for the route of `req` (default: a JSON object). */
  bodyShape?: BodyShapes;
  /** The name of the path parameter whose raw value is `raw` (see `paramNameAt`). */
  paramName?: (path: string, raw: string) => string | undefined;
}

/**
 * The one error middleware: every error becomes application/problem+json, client errors keep
 * their 4xx status, unknown errors are 500 without details (logged at error; a client abort
 * is logged at info, anyone can cause one).
 */
export function errorHandler(options: ErrorHandlerOptions = {}) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const l = locals(res);
    const shape = options.bodyShape?.(req) ?? 'a JSON object';
    const app = err instanceof AppError ? err : fromHttpError(err, shape, (raw) => options.paramName?.(req.path, raw));
    const status = app?.status ?? 500;
    const body: Record<string, unknown> = {
      type: problemType(app?.type ?? 'internal'),
      title: TITLES[status] ?? 'Error',
      status,
      detail: app ? app.message : 'internal error',
      instance: req.originalUrl,
      requestId: l.requestId,
    };
    if (app && app.fields.length > 0) body.errors = app.fields;
    if (app instanceof Conflict && Object.keys(app.details).length > 0) body.details = app.details;
    if (app instanceof TooManyRequests || app instanceof Unavailable) res.setHeader('Retry-After', String(app.retryAfterSeconds));
    if (app instanceof MethodNotAllowed) res.setHeader('Allow', app.allow.join(', '));
    if (status >= 500) l.logger?.error({ err }, 'request failed');
    else if ((err as HttpLikeError | null)?.type === 'request.aborted') l.logger?.info('client aborted the request');
    if (res.headersSent) return;
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).type('application/problem+json').send(JSON.stringify(body));
  };
}
