/**
 * The AppError family. Adapters wrap SDK errors in one of these (with `cause`);
 * the HTTP error middleware maps each `type` to a problem+json response and status.
 */
export type ProblemField = { field: string; message: string; index?: number };

export class AppError extends Error {
  /** Stable machine-readable problem type, used as the URI tail in problem+json. */
  readonly type: string;
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Offending fields, when the error is about input. */
  readonly fields: ProblemField[];

  constructor(type: string, status: number, message: string, options?: { cause?: unknown; fields?: ProblemField[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.type = type;
    this.status = status;
    this.fields = options?.fields ?? [];
  }
}

export class InvalidArgument extends AppError {
  constructor(message: string, fields: ProblemField[] = [], cause?: unknown) {
    super('invalid-argument', 400, message, { fields, cause });
  }
}

export class NotFound extends AppError {
  constructor(message: string, cause?: unknown, fields: ProblemField[] = []) {
    super('not-found', 404, message, { cause, fields });
  }
}

/** The path exists, the method does not: `allow` lists the methods it has (the `Allow` header). */
export class MethodNotAllowed extends AppError {
  readonly allow: readonly string[];
  constructor(message: string, allow: readonly string[]) {
    super('method-not-allowed', 405, message);
    this.allow = allow;
  }
}

/** The request body's media type, charset or content encoding is not one the endpoint reads. */
export class UnsupportedMediaType extends AppError {
  constructor(message: string, fields: ProblemField[] = []) {
    super('unsupported-media-type', 415, message, { fields });
  }
}

export class Conflict extends AppError {
  /** Extra data for the client (e.g. the id of the run already in flight). */
  readonly details: Record<string, unknown>;
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('conflict', 409, message, { cause });
    this.details = details;
  }
}

export class Unauthenticated extends AppError {
  constructor(message = 'missing or malformed Authorization: Bearer <key>') {
    super('unauthenticated', 401, message);
  }
}

export class Forbidden extends AppError {
  constructor(message = 'this key may not do that') {
    super('forbidden', 403, message);
  }
}

export class PayloadTooLarge extends AppError {
  constructor(message: string) {
    super('payload-too-large', 413, message);
  }
}

export class TooManyRequests extends AppError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('rate-limited', 429, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A dependency (Redis, Cosmos, the event log) cannot do the work now; safe to retry. */
export class Unavailable extends AppError {
  readonly retryAfterSeconds: number;
  constructor(message: string, cause?: unknown, retryAfterSeconds = 1) {
    super('unavailable', 503, message, { cause });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Configuration is wrong; the message names the variable. */
export class ConfigError extends AppError {
  constructor(message: string, fields: ProblemField[] = []) {
    super('config', 500, message, { fields });
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
