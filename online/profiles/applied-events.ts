/**
 * Event ids this process is applying or has applied to live profiles (the API applies what it
 * ingests at once, for read-your-writes), so the profile consumer of the same process can skip
 * them when the log delivers them, instead of applying every ingested event twice.
 *
 * The API registers ids with a promise of its own apply before it appends them to the log; the
 * consumer, meeting such an id, waits for that promise and skips the event only if the API's
 * apply succeeded (else it applies it itself). Bounded: the oldest ids are forgotten first, and
 * a forgotten id is simply applied again (applying is idempotent).
 */
export class AppliedEvents {
  private readonly applying = new Map<string, Promise<boolean>>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  /** @param capacity ids remembered (default 200,000: minutes of ingest at 1,000 events/s) */
  constructor(private readonly capacity = 200_000) {
    this.ring = new Array<string | undefined>(capacity);
  }

  /** Registers ids whose apply `applied` resolves to whether it succeeded (it must not reject). */
  track(eventIds: readonly string[], applied: Promise<boolean>): void {
    for (const id of eventIds) {
      const old = this.ring[this.next];
      if (old !== undefined && old !== id) this.applying.delete(old);
      this.ring[this.next] = id;
      this.applying.set(id, applied);
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** The API's apply of `eventId` (resolves true when it succeeded), once; undefined when unknown here. */
  take(eventId: string): Promise<boolean> | undefined {
    const p = this.applying.get(eventId);
    if (p !== undefined) this.applying.delete(eventId);
    return p;
  }

  get size(): number {
    return this.applying.size;
  }
}

/**
 * The events of `events` that still need applying: those not applied by this process's API
 * (waiting for an apply still in flight).
 */
export async function notYetApplied<E extends { eventId: string }>(events: readonly E[], applied: AppliedEvents): Promise<E[]> {
  const out: E[] = [];
  for (const e of events) {
    const p = applied.take(e.eventId);
    if (p === undefined || !(await p)) out.push(e);
  }
  return out;
}
