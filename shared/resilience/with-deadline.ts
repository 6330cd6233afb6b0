import { Unavailable } from '../errors/app-error.js';

/** A dependency did not answer in time (503): what was sent may still be carried out later. */
export class DeadlineExceeded extends Unavailable {}

/**
 * Rejects with DeadlineExceeded, an Unavailable (`<what> did not answer within <ms> ms`), when `p` has not settled
 * within `ms`; otherwise settles as `p` does. The timer is cleared either way (no leak). `p`
 * itself is not cancelled: a command already sent may still run (callers that care, e.g. the
 * dedupe claims, undo it). `ms` ≤ 0 rejects at once (a spent budget) unless `p` already settled.
 *
 * When the timer fires, the rejection waits one `setImmediate`: a reply already in the socket
 * (a stalled event loop, a GC pause) is read in that loop turn's poll phase first, so a stall of
 * this process is not taken for a silent dependency.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      immediate = setImmediate(() => reject(new DeadlineExceeded(`${what} did not answer within ${Math.max(0, Math.round(ms))} ms`)));
    }, Math.max(0, ms));
  });
  return Promise.race([p, expired]).finally(() => {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  });
}

/**
 * A request's time budget: `until` is the instant its waits on one dependency must end.
 * `left()` is what remains (0 when spent).
 */
export class Budget {
  readonly until: number;
  constructor(ms: number, now = Date.now()) {
    this.until = now + ms;
  }
  left(): number {
    return Math.max(0, this.until - Date.now());
  }
  /** `withDeadline(p, left(), what)`. */
  bound<T>(p: Promise<T>, what: string): Promise<T> {
    return withDeadline(p, this.left(), what);
  }
}
