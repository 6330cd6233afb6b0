import { Command, CommanderError, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { AppError, ConfigError, errorMessage } from '../shared/errors/app-error.js';
import { loadConfig, type Config } from '../shared/config/config.js';
import { createLogger, type Logger } from '../shared/telemetry/logger.js';
import { setMaxListeners } from 'node:events';
import { SHARED_SIGNAL_LISTENERS } from '../shared/time/sleep.js';

/** Exit codes of every command. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * A usage mistake (bad flag value): exit code 2. It is commander's InvalidArgumentError, so a
 * flag parser that throws it gets commander's "error: option '--x <n>' argument 'y' is invalid" line.
 */
export class UsageError extends InvalidArgumentError {}

/** Runs a parse of the user's input, turning its InvalidArgument into a UsageError (exit 2). */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof AppError && err.status === 400) throw new UsageError(err.message);
    throw err;
  }
}

/** What every command action receives. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  /** Aborted on the first Ctrl-C / SIGTERM; a second one exits at once. */
  signal: AbortSignal;
  /** `--json` was given: print one JSON summary on stdout and nothing else there. */
  json: boolean;
}

/**
 * Wraps a command action: loads config (exit 2 with the variable named when wrong), wires
 * Ctrl-C to an AbortSignal, prints the result (JSON with --json, else the `human` text)
 * and maps failures to exit codes.
 */
export function action<O extends { json?: boolean }, R>(
  run: (ctx: CommandContext, options: O, args: string[]) => Promise<R>,
  human?: (result: R) => string,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options = command.opts() as O;
    const positional = command.args;
    const json = Boolean(options.json);
    let config: Config;
    try {
      config = loadConfig();
    } catch (err) {
      process.stderr.write(`showroom: ${errorMessage(err)}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    const logger = createLogger({ level: config.logLevel, name: command.name() });
    const controller = new AbortController();
    // A command's one signal is shared by all its concurrent operations (see SHARED_SIGNAL_LISTENERS).
    setMaxListeners(SHARED_SIGNAL_LISTENERS, controller.signal);
    let interrupts = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      interrupts += 1;
      if (interrupts > 1) {
        process.stderr.write(`\nshowroom: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      process.stderr.write(`\nshowroom: ${sig} received, stopping cleanly (again to force)\n`);
      controller.abort(new Error(`interrupted by ${sig}`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const result = await run({ config, logger, signal: controller.signal, json }, options, positional);
      // A command that already printed its JSON (e.g. a long-running one, once ready) returns undefined.
      if (json && result !== undefined) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (!json && human && result !== undefined) process.stdout.write(`${human(result)}\n`);
      process.exitCode = process.exitCode ?? EXIT_OK;
    } catch (err) {
      const usage = err instanceof CommanderError || err instanceof ConfigError;
      process.exitCode = usage ? EXIT_USAGE : EXIT_FAILED;
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: errorMessage(err), type: err instanceof AppError ? err.type : undefined })}\n`);
      process.stderr.write(`showroom: ${errorMessage(err)}\n`);
      if (!usage && !(err instanceof AppError) && process.env.SHOWROOM_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      logger.flush();
    }
  };
}

/** Parses an integer flag; throws UsageError naming the flag. */
/** Collects a repeatable option's values (`--param a=1 --param b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Parses a number flag; throws UsageError naming the flag. */
export function numberOption(name: string, min = -Infinity, max = Infinity) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
    if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Parses YYYY-MM-DD or a full ISO timestamp to an ISO-8601 UTC string. */
export function dateOption(name: string) {
  return (raw: string): string => {
    const s = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? `${raw}T00:00:00.000Z` : raw;
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be a date (YYYY-MM-DD) or ISO-8601 timestamp, got "${raw}"`);
    return d.toISOString();
  };
}

/** A progress bar on stderr with counts, rate and ETA; silent with --json off a TTY is fine. */
export interface Progress {
  update(done: number, payload?: Record<string, unknown>): void;
  increment(by?: number): void;
  setTotal(total: number): void;
  stop(): void;
}

/**
 * Creates a progress bar on stderr. On a TTY it redraws in place; elsewhere it prints a
 * line at most every 2 s, so logs of CI and `--json` runs stay readable.
 */
export function progressBar(label: string, total: number, options: { enabled?: boolean } = {}): Progress {
  if (options.enabled === false) return { update() {}, increment() {}, setTotal() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label.padEnd(10)} {bar} {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
      barsize: 28,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 2000,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let value = 0;
  const rate = () => Math.round(value / Math.max(0.001, (Date.now() - started) / 1000));
  bar.start(total, 0, { rate: 0 });
  return {
    update(done, payload) {
      value = done;
      bar.update(done, { rate: rate(), ...payload });
    },
    increment(by = 1) {
      value += by;
      bar.update(value, { rate: rate() });
    },
    setTotal(t) {
      bar.setTotal(t);
    },
    stop() {
      bar.stop();
    },
  };
}

/** Rethrows commander's own usage errors with exit code 2. */
export function isCommanderUsageError(err: unknown): err is CommanderError {
  return err instanceof CommanderError;
}
