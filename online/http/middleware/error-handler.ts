import type { NextFunction, Request, Response } from 'express';
import { AppError, Conflict, InvalidArgument, NotFound, PayloadTooLarge, TooManyRequests, Unavailable } from '../../../shared/errors/app-error.js';
import { locals } from './request-context.js';

/** problem+json `type` URI of an AppError type: stable, documented in the OpenAPI document. */
export const problemType = (type: string) => `urn:showroom:problem:${type}`;

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Body-parser errors carry `type` and `status`. */
function fromBodyParser(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined;
  const e = err as { type?: unknown; message?: string; limit?: number };
  if (e.type === 'entity.too.large') return new PayloadTooLarge(`request body exceeds ${e.limit ?? 1048576} bytes`);
  if (e.type === 'entity.parse.failed') return new InvalidArgument(`body is not valid JSON: ${e.message ?? ''}`, [{ field: '(body)', message: 'is not valid JSON' }]);
  if (typeof e.type === 'string' && e.type.startsWith('encoding.')) return new InvalidArgument(e.message ?? 'unsupported body encoding', [{ field: '(body)', message: e.message ?? 'unsupported encoding' }]);
  return undefined;
}

/** 404 for every unmatched route, as problem+json. */
export function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
  next(new NotFound(`no route for ${req.method} ${req.path}`));
}

/** The one error middleware: every error becomes application/problem+json. Unknown errors are 500 without details. */
export function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const l = locals(res);
  const app = err instanceof AppError ? err : fromBodyParser(err);
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
  if (status >= 500) l.logger?.error({ err }, 'request failed');
  if (res.headersSent) return;
  res.status(status).type('application/problem+json').send(JSON.stringify(body));
}
