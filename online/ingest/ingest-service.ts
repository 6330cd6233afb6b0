import type { Registry } from 'prom-client';
import { Counter } from 'prom-client';
import { parseEventBatch, type ShowroomEvent } from '../../shared/domain/event.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { AppError, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import type { ProfileStore } from '../../shared/profile-store/profile-store.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { EventIdClaims } from '../../shared/dedupe/event-id-claims.js';
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
}

/**
 * `POST /v1/events`: validate (whole batch or nothing) → de-duplicate by eventId (`EventIdClaims`:
 * `SET NX EX` in a few script calls) → append to the event log (durable before we answer; dedupe keys released on
 * failure so a retry is not lost) → apply to live profiles (read-your-writes).
 */
export class IngestService {
  private readonly claims: EventIdClaims;
  private readonly logger: Logger;
  private readonly events?: Counter<'outcome'>;

  constructor(private readonly options: IngestServiceOptions) {
    this.claims = new EventIdClaims({ redis: options.redis, prefix: options.prefix ?? 'showroom:', ttlSeconds: Math.max(24 * 3600, options.dedupeTtlSeconds ?? 48 * 3600) });
    this.logger = options.logger ?? silentLogger();
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
    const fresh = await this.claim(unique);
    if (fresh.length > 0) {
      // Registered before the append: this process's profile consumer, meeting these events in the
      // log, waits for our apply below and skips them when it succeeded.
      let settle: (applied: boolean) => void = () => undefined;
      this.options.appliedEvents?.track(
        fresh.map((e) => e.eventId),
        new Promise<boolean>((resolve) => (settle = resolve)),
      );
      try {
        await this.options.eventLog.append(fresh);
      } catch (err) {
        settle(false);
        await this.release(fresh);
        this.events?.inc({ outcome: 'unavailable' }, fresh.length);
        throw err instanceof Unavailable ? err : new Unavailable(`event log: ${errorMessage(err)}`, err);
      }
      try {
        await this.options.profiles.applyEvents(fresh);
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

  /** Claims eventIds (`EventIdClaims`); returns the events not seen before. Without Redis, claims all (consumers de-duplicate). */
  private async claim(events: ShowroomEvent[]): Promise<ShowroomEvent[]> {
    if (events.length === 0) return [];
    try {
      const fresh = await this.claims.claim(events);
      return events.filter((_, i) => fresh[i]);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'dedupe store unavailable; appending without de-duplication');
      return events;
    }
  }

  private async release(events: ShowroomEvent[]): Promise<void> {
    try {
      await this.claims.release(events.map((e) => e.eventId));
    } catch (err) {
      this.logger.warn({ err: errorMessage(err), events: events.length }, 'could not release dedupe keys after a failed append; retries within the TTL count as duplicates');
    }
  }
}
