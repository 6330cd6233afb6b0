/**
 * Items per second of `ms` milliseconds of work, rounded to a whole number. A duration under
 * 1 ms counts as 1 ms (a rate, never Infinity).
 */
export function perSecond(count: number, ms: number): number {
  return Math.round(count / Math.max(0.001, ms / 1000));
}
