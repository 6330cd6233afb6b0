import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { UnsupportedMediaType } from '../../../shared/errors/app-error.js';

const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * The JSON body handlers of a POST route: a body whose `content-type` is not JSON is refused
 * with 415 naming `content-type` (instead of being silently ignored), then express.json parses
 * it (`limit` bytes, UTF-8, gzip/deflate/br; its errors become problem+json in the error handler).
 * A request without a body (no `content-length`/`transfer-encoding`, or `content-length: 0`) passes.
 */
export function jsonBody(limit: number): RequestHandler[] {
  const parse = express.json({ limit, type: JSON_TYPES });
  const check = (req: Request, _res: Response, next: NextFunction): void => {
    if (req.headers['content-length'] !== '0' && req.is(JSON_TYPES) === false) {
      const given = req.headers['content-type'];
      throw new UnsupportedMediaType(given ? `content-type ${given} is not JSON; send application/json` : 'a body needs content-type: application/json', [
        { field: 'content-type', message: 'must be application/json' },
      ]);
    }
    next();
  };
  return [check, parse];
}
