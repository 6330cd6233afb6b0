/**
 * Where replayed events go: the event log directly, or `POST /v1/events` of a running service.
 */
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { MAX_EVENTS_PER_REQUEST } from '../../shared/domain/event.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import type { Redis } from '../../shared/redis/redis-connection.js';
import { EventIdClaims } from '../../shared/dedupe/event-id-claims.js';
import { InvalidArgument, Unavailable, errorMessage } from '../../shared/errors/app-error.js';
import { sleep } from '../../shared/time/sleep.js';

/** What a target did with one batch. `rejected` events are not retried. */
export interface SendResult {
  accepted: number;
  /** Events the target already had (same eventId); unknown (0) for the log target. */
  duplicates: number;
  rejected: { eventId: string; errors: string[] }[];
}

/**
 * A replay target. `send` resolves once every event of the batch is durable (or rejected for a
 * reason that a retry will not fix); it throws Unavailable when the target cannot take it.
 */
export interface ReplayTarget {
  readonly kind: 'log' | 'api';
  readonly description: string;
  /** Most events per `send`. */
  readonly maxBatch: number;
  send(events: ShowroomEvent[], signal?: AbortSignal): Promise<SendResult>;
}

/** De-duplication of the log target with the API's claim keys (`EventIdClaims`). */
export interface LogDedupe {
  redis: Redis;
  /** The service's key prefix (SHOWROOM_REDIS_PREFIX), so the API and replays share the keys. */
  prefix: string;
  /** Seconds an eventId is remembered (default 48 h, as the API). */
  ttlSeconds?: number;
}

/**
 * Appends to the event log. The log itself does not de-duplicate; its consumers (sink, batch,
 * profiles) do, by eventId. With `dedupe`, eventIds are claimed first with the same keys as
 * `POST /v1/events`, so a second replay (or one of events the API already took) appends nothing;
 * claims are released when the append fails.
 */
export function logTarget(eventLog: EventLog, description = 'event log', dedupe?: LogDedupe): ReplayTarget {
  const claims = dedupe ? new EventIdClaims({ redis: dedupe.redis, prefix: dedupe.prefix, ttlSeconds: dedupe.ttlSeconds }) : undefined;
  return {
    kind: 'log',
    description,
    maxBatch: 1000,
    async send(events) {
      let fresh = events;
      if (claims) {
        // Distinct ids per claim; a repeat within the batch is a duplicate.
        const seen = new Set<string>();
        const unique = events.filter((e) => !seen.has(e.eventId) && seen.add(e.eventId));
        const isFresh = await claims.claim(unique);
        fresh = unique.filter((_, i) => isFresh[i]);
      }
      if (fresh.length > 0) {
        try {
          await eventLog.append(fresh);
        } catch (err) {
          if (claims) await claims.release(fresh.map((e) => e.eventId)).catch(() => undefined);
          throw err;
        }
      }
      return { accepted: fresh.length, duplicates: events.length - fresh.length, rejected: [] };
    },
  };
}

interface ProblemBody {
  detail?: string;
  title?: string;
  fields?: { field: string; message: string; index?: number }[];
}

/**
 * `POST <url>/v1/events` in batches of ≤ 500 with `Authorization: Bearer <key>`. The API
 * de-duplicates by eventId (the answer's `duplicates`). 400: the invalid events (problem fields
 * with an index) are rejected and the rest re-sent. 429 / 5xx / network errors are retried with
 * backoff (up to `retries` times), then Unavailable.
 */
export function apiTarget(o: { url: string; key?: string; retries?: number; timeoutMs?: number }): ReplayTarget {
  const endpoint = `${o.url.replace(/\/+$/, '')}/v1/events`;
  const retries = o.retries ?? 6;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  const post = async (events: ShowroomEvent[], signal?: AbortSignal): Promise<SendResult> => {
    const body = JSON.stringify({ events: events.map(({ receivedAt: _r, ...rest }) => rest) });
    let attempt = 0;
    for (;;) {
      let res: Response;
      try {
        res = await fetch(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
      } catch (err) {
        if (++attempt > retries) throw new Unavailable(`POST ${endpoint} failed: ${errorMessage(err)}`, err);
        await backoff(attempt, signal);
        continue;
      }
      if (res.status === 202 || res.status === 200) {
        const r = (await res.json()) as { accepted?: number; duplicates?: number };
        return { accepted: r.accepted ?? events.length, duplicates: r.duplicates ?? 0, rejected: [] };
      }
      const text = await res.text();
      if (res.status === 400) {
        let problem: ProblemBody = {};
        try {
          problem = JSON.parse(text) as ProblemBody;
        } catch {
          // not a problem document
        }
        const bad = new Map<number, string[]>();
        for (const f of problem.fields ?? []) {
          if (f.index === undefined) continue;
          const list = bad.get(f.index) ?? [];
          list.push(`${f.field.replace(/^events\[\d+\]\./, '')} ${f.message}`);
          bad.set(f.index, list);
        }
        if (bad.size === 0) throw new InvalidArgument(`POST ${endpoint} refused the batch: ${problem.detail ?? text.slice(0, 300)}`);
        const rejected = [...bad.entries()].map(([i, errors]) => ({ eventId: events[i]?.eventId ?? `#${i}`, errors }));
        const rest = events.filter((_, i) => !bad.has(i));
        const more = rest.length > 0 ? await post(rest, signal) : { accepted: 0, duplicates: 0, rejected: [] };
        return { accepted: more.accepted, duplicates: more.duplicates, rejected: [...rejected, ...more.rejected] };
      }
      if (res.status === 401 || res.status === 403) throw new InvalidArgument(`POST ${endpoint}: ${res.status} ${res.statusText}; pass a valid API key with --key`);
      if (res.status === 429 || res.status >= 500) {
        if (++attempt > retries) throw new Unavailable(`POST ${endpoint}: ${res.status} ${text.slice(0, 200)} after ${retries} retries`);
        const retryAfter = Number(res.headers.get('retry-after'));
        await backoff(attempt, signal, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
        continue;
      }
      throw new Unavailable(`POST ${endpoint}: unexpected ${res.status} ${text.slice(0, 200)}`);
    }
  };
  return { kind: 'api', description: endpoint, maxBatch: MAX_EVENTS_PER_REQUEST, send: post };
}

async function backoff(attempt: number, signal?: AbortSignal, ms?: number): Promise<void> {
  const wait = ms ?? Math.min(5000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2);
  await sleep(wait, signal);
}
