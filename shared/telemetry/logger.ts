import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logger (pino) on stderr, so stdout stays free for `--json` output.
 * Secrets never reach it: the redaction paths below cover auth headers and keys.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.name ? { name: options.name } : undefined,
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.key', '*.apiKey', '*.connectionString'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(opts, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything; for tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
