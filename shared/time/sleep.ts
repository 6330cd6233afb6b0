/**
 * Listeners a process-wide abort signal may hold at once before Node warns of a leak: a command's
 * or a worker's one signal is shared by all its concurrent operations (each bulk request the Cosmos
 * SDK has in flight adds one, each sleep one), so tens at once are normal; far more is a leak.
 */
export const SHARED_SIGNAL_LISTENERS = 256;

/**
 * Waits `ms` milliseconds, or less: it resolves (never rejects) as soon as `signal` aborts, so a
 * loop that sleeps between attempts stops at once on Ctrl-C or shutdown and then checks the
 * signal itself. The one interruptible sleep of the project; leaves no timer or listener behind.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
