/**
 * Polls `check` (first at once, then every `intervalMs`) until it holds; resolves the time it
 * took in ms (to 0.1 ms), rejects naming `what` after `timeoutMs`.
 */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000, intervalMs = 25): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return Math.round((performance.now() - started) * 10) / 10;
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
