import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/**
 * helmet's default headers, computed once at startup by running `helmet()` against a recording
 * response, then set on every response by one middleware (helmet itself runs a chain of a dozen
 * middlewares per request). Falls back to `helmet()` when its headers are not static.
 */
export function securityHeaders(): RequestHandler {
  const real = helmet();
  const set: [string, string | number | readonly string[]][] = [];
  const removed: string[] = [];
  let nextCalled = false;
  let failed = false;
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      set.push([name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      removed.push(name);
    },
  };
  try {
    real({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
      nextCalled = true;
      if (err) failed = true;
    });
  } catch {
    failed = true;
  }
  if (!nextCalled || failed) return real as unknown as RequestHandler;
  return (_req: Request, res: Response, next: NextFunction): void => {
    for (let i = 0; i < set.length; i++) res.setHeader(set[i][0], set[i][1]);
    for (let i = 0; i < removed.length; i++) res.removeHeader(removed[i]);
    next();
  };
}
