import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import { parseEventBatch, type ShowroomEvent } from '../../shared/domain/event.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { AppError, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import type { ProfileStore } from '../../shared/profile-store/profile-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { EventIdClaims } from '../../shared/dedupe/event-id-claims.js';
import { Budget, DeadlineExceeded, withDeadline } from '../../shared/resilience/with-deadline.js';
import { getOrCreate } from '../../shared/telemetry/metrics.js';
import { parseEventBatchFast } from '../../shared/domain/fast-event-parse.js';
import { silentLogger, type Logger } from '../../shared/telemetry/logger.js';
import type { AppliedEvents } from '../profiles/applied-events.js';

export interface IngestResult {
  /** Events appended to the log by this request. */
  accepted: number;
  /** Events already accepted before (same eventId), or repeated within the request. */
  duplicates: number;
}

export interface IngestServiceOptions {
  redis: Redis;
  eventLog: EventLog;
  profiles: ProfileStore;
  /** Key prefix (default `showroom:`) of the event-id claims (`EventIdClaims`). */
  prefix?: string;
  /** Seconds an eventId is remembered for de-duplication (default 48 h, at least 24 h). */
  dedupeTtlSeconds?: number;
  logger?: Logger;
  registry?: Registry;
  /** Told which events were applied to live profiles here, so this process's profile consumer skips them. */
  appliedEvents?: AppliedEvents;
  /**
   * Longest a request waits for Redis, ms (SHOWROOM_REDIS_DEADLINE_MS, default 500): one budget
   * for the claims and (with `appendWithinDeadline`) the log append; the profile apply gets what is left.
   */
  redisDeadlineMs?: number;
  /** The append counts against the Redis deadline (the Redis Streams log, default true); false for a log with its own timeouts (Event Hubs). */
  appendWithinDeadline?: boolean;
}

/**
 * `POST /v1/events`: validate (whole batch or nothing) → de-duplicate by eventId (`EventIdClaims`:
 * `SET NX EX` in a few script calls) → append to the event log (durable before we answer; dedupe keys released on
 * failure so a retry is not lost) → apply to live profiles (read-your-writes).
 *
 * Deadlines: the claims and the append wait at most `redisDeadlineMs` together, so a frozen
 * Redis answers 503 with Retry-After like a disconnected one. Claims that timed out were sent
 * and may still be carried out when Redis wakes: they are undone by a release queued behind
 * them on the same connection (`EventIdClaims.releaseOwn`, which deletes only this request's
 * claims), so a retry is accepted rather than lost as a duplicate. An append that timed out may
 * still be stored later: its claims are released too, so a retry may store the event a second
 * time (at least once; consumers de-duplicate by eventId) but never loses it.
 */
export class IngestService {
  private readonly claims: EventIdClaims;
  private readonly logger: Logger;
  private readonly events?: Counter<'outcome'>;
  private readonly deadlineMs: number;

  constructor(private readonly options: IngestServiceOptions) {
    this.claims = new EventIdClaims({ redis: options.redis, prefix: options.prefix ?? 'showroom:', ttlSeconds: Math.max(24 * 3600, options.dedupeTtlSeconds ?? 48 * 3600) });
    this.logger = options.logger ?? silentLogger();
    this.deadlineMs = options.redisDeadlineMs ?? 500;
    const registry = options.registry;
    if (registry) {
      this.events = getOrCreate(registry, 'showroom_ingest_events_total', () => new Counter({ name: 'showroom_ingest_events_total', help: 'Events received by POST /v1/events, by outcome', labelNames: ['outcome'], registers: [registry] }));
    }
  }

  /** Validates and ingests a request body. Throws InvalidArgument (every bad field) or Unavailable. */
  async ingest(body: unknown): Promise<IngestResult> {
    let events: ShowroomEvent[];
    try {
      const receivedAt = new Date().toISOString();
      // Hand-checked fast path for the common shapes; the schema decides (and names every error) otherwise.
      events = parseEventBatchFast(body, receivedAt) ?? parseEventBatch(body, receivedAt);
    } catch (err) {
      if (err instanceof AppError) this.events?.inc({ outcome: 'invalid' });
      throw err;
    }
    const seen = new Set<string>();
    const unique: ShowroomEvent[] = [];
    for (const e of events) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      unique.push(e);
    }
    const budget = new Budget(this.deadlineMs);
    const fresh = await this.claim(unique, budget);
    if (fresh.length > 0) {
      // Registered before the append: this process's profile consumer, meeting these events in the
      // log, waits for our apply below and skips them when it succeeded.
      let settle: (applied: boolean) => void = () => undefined;
      this.options.appliedEvents?.track(
        fresh.map((e) => e.eventId),
        new Promise<boolean>((resolve) => (settle = resolve)),
      );
      const bounded = this.options.appendWithinDeadline !== false;
      try {
        const append = this.options.eventLog.append(fresh);
        await (bounded ? budget.bound(append, 'event log (append)') : append);
      } catch (err) {
        settle(false);
        await this.release(fresh, budget);
        this.events?.inc({ outcome: 'unavailable' }, fresh.length);
        throw err instanceof Unavailable ? err : new Unavailable(`event log: ${errorMessage(err)}`, err);
      }
      try {
        await withDeadline(this.options.profiles.applyEvents(fresh), bounded ? budget.left() : this.deadlineMs, 'Redis (apply to live profiles)');
        settle(true);
      } catch (err) {
        settle(false);
        // Durable in the log: the profile consumer applies them shortly.
        this.logger.warn({ err: errorMessage(err), events: fresh.length }, 'applying events to live profiles failed; the consumer will');
      }
    }
    const duplicates = events.length - fresh.length;
    this.events?.inc({ outcome: 'accepted' }, fresh.length);
    if (duplicates > 0) this.events?.inc({ outcome: 'duplicate' }, duplicates);
    return { accepted: fresh.length, duplicates };
  }

  /**
   * Claims eventIds (`EventIdClaims`) within the budget; returns the events not seen before.
   * Redis unreachable (nothing sent): claims all (consumers de-duplicate). Redis silent past the
   * deadline: the claims may still be carried out, so they are undone (queued behind them) and
   * the request fails with Unavailable (503, Retry-After).
   */
  private async claim(events: ShowroomEvent[], budget: Budget): Promise<ShowroomEvent[]> {
    if (events.length === 0) return [];
    try {
      const fresh = await budget.bound(this.claims.claim(events), 'Redis (dedupe claims)');
      return events.filter((_, i) => fresh[i]);
    } catch (err) {
      if (err instanceof DeadlineExceeded) {
        await this.release(events, budget);
        this.events?.inc({ outcome: 'unavailable' }, events.length);
        throw err;
      }
      this.logger.warn({ err: errorMessage(err) }, 'dedupe store unavailable; appending without de-duplication');
      return events;
    }
  }

  /**
   * Releases this request's claims of `events` (only those whose value is still ours). Sent at
   * once, after the claims on the same connection; waited for at most what is left of the
   * budget (at least 50 ms): a frozen Redis carries it out when it wakes.
   */
  private async release(events: ShowroomEvent[], budget: Budget): Promise<void> {
    try {
      await withDeadline(this.claims.releaseOwn(events), Math.max(50, budget.left()), 'Redis (release dedupe claims)');
    } catch (err) {
      const level = err instanceof DeadlineExceeded ? 'info' : 'warn';
      this.logger[level]({ err: errorMessage(err), events: events.length }, err instanceof DeadlineExceeded
        ? 'dedupe keys released without confirmation (Redis silent); Redis drops them when it answers again'
        : 'could not release dedupe keys after a failed append; retries within the TTL count as duplicates');
    }
  }
}
