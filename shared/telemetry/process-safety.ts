import type { Logger } from 'pino';

/** How long the safety net waits for the log to flush before it exits anyway. */
const FLUSH_TIMEOUT_MS = 1000;

let installed = false;

/**
 * The process-level safety net, installed once by every process's entry point (the CLI):
 * an `uncaughtException` or `unhandledRejection` is logged at `fatal` with the error and the
 * `context` given, the log is flushed, and the process exits with code 70 (EX_SOFTWARE), so the
 * supervisor (systemd, Kubernetes, Container Apps) restarts it. A process that goes on after an
 * unknown failure may hold half-updated state: showroom's processes are built to be restarted
 * (the event log, the sink's checkpoints and the batch run records make a restart safe), so
 * they never try to carry on.
 *
 * Returns a function that removes the handlers (for tests).
 */
export function installProcessSafetyNet(logger: Logger, context: Record<string, unknown> = {}): () => void {
  if (installed) return () => undefined;
  installed = true;
  let exiting = false;
  const die = (kind: 'uncaughtException' | 'unhandledRejection') => (err: unknown) => {
    if (exiting) return;
    exiting = true;
    try {
      logger.fatal({ err, kind, ...context }, `${kind}: the process exits so that its supervisor restarts it`);
    } catch {
      process.stderr.write(`${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    const exit = () => process.exit(70);
    const timer = setTimeout(exit, FLUSH_TIMEOUT_MS);
    timer.unref();
    try {
      logger.flush((flushErr) => {
        if (flushErr) process.stderr.write(`log flush failed: ${flushErr.message}\n`);
        exit();
      });
    } catch {
      exit();
    }
  };
  const onException = die('uncaughtException');
  const onRejection = die('unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
    installed = false;
  };
}
