import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { writeEventsParquet } from '../../shared/lake/parquet-codec.js';
import { deleteKeysWithPrefix, createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startOfflineSink } from '../../online/sink/offline-sink.js';

export interface SinkBenchOptions {
  redisUrl: string;
  /** Events in the backlog the sink drains (default 100,000). */
  events?: number;
  /** Rows per file, as `maxRows` of the sink and the chunk of the parquetjs-alone run (default 20,000). */
  maxRows?: number;
  /** Rounds; the best of each figure is reported (default 2). */
  rounds?: number;
}

export interface SinkBenchResult {
  events: number;
  /** Offline sink draining a Redis Streams backlog into a local Parquet lake, events/s. */
  sinkPerSec: number;
  /** `writeEventsParquet` alone on the same rows, same file sizes, events/s. */
  parquetAlonePerSec: number;
  /** Bare `XADD` pipelines (100 per pipeline) of the same events, events/s. */
  bareXaddPerSec: number;
  /** sinkPerSec / parquetAlonePerSec. */
  ratioToParquetAlone: number;
  /** sinkPerSec / bareXaddPerSec. */
  ratioToBareXadd: number;
  files: number;
  bytes: number;
}

/**
 * Measures the offline sink: a backlog of `events` in a scratch Redis Streams log
 * (`bench:sink:<uuid>:`) drained into a temp lake, against writing the same rows with parquetjs
 * alone and against bare XADD pipelines, in the same run. Cleans up afterwards.
 */
export async function benchOfflineSink(options: SinkBenchOptions): Promise<SinkBenchResult> {
  const total = options.events ?? 100_000;
  const maxRows = options.maxRows ?? 20_000;
  const rounds = options.rounds ?? 2;
  const events = makeEvents(total);
  const dir = await mkdtemp(path.join(tmpdir(), 'showroom-sink-bench-'));
  const redis = createRedis(options.redisUrl, 'bench-sink', { enableOfflineQueue: true });
  const prefixes: string[] = [];
  let best: SinkBenchResult | undefined;
  try {
    await waitForRedis(redis);
    for (let round = 0; round < rounds; round++) {
      // bare XADD
      const barePrefix = `bench:sink:${randomUUID().slice(0, 8)}:`;
      prefixes.push(barePrefix);
      let t = performance.now();
      for (let i = 0; i < total; i += 100) {
        const p = redis.pipeline();
        for (let j = i; j < Math.min(total, i + 100); j++) p.xadd(`${barePrefix}bare:${j % 4}`, '*', 'e', JSON.stringify(events[j]));
        await p.exec();
      }
      const bareXaddPerSec = total / ((performance.now() - t) / 1000);

      // parquetjs alone, same hour grouping and file size
      t = performance.now();
      let f = 0;
      const byHour = new Map<string, ShowroomEvent[]>();
      for (const e of events) {
        const k = e.occurredAt.slice(0, 13);
        let list = byHour.get(k);
        if (!list) byHour.set(k, (list = []));
        list.push(e);
      }
      for (const list of byHour.values()) {
        for (let i = 0; i < list.length; i += maxRows) await writeEventsParquet(path.join(dir, `alone-${round}-${f++}.parquet`), list.slice(i, i + maxRows));
      }
      const parquetAlonePerSec = total / ((performance.now() - t) / 1000);

      // the sink draining a backlog
      const prefix = `bench:sink:${randomUUID().slice(0, 8)}:`;
      prefixes.push(prefix);
      const log = new RedisStreamsEventLog({ redisUrl: options.redisUrl, prefix, trimIntervalMs: 0 });
      try {
        for (let i = 0; i < total; i += 1000) await log.append(events.slice(i, i + 1000));
        const lake = new LocalLake(path.join(dir, `lake-${round}`));
        t = performance.now();
        const sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows, maxAgeMs: 60_000 });
        while (sink.stats().eventsOut < total) await new Promise((r) => setTimeout(r, 10));
        const sinkPerSec = total / ((performance.now() - t) / 1000);
        const stats = sink.stats();
        await sink.close();
        const result: SinkBenchResult = {
          events: total,
          sinkPerSec: Math.round(sinkPerSec),
          parquetAlonePerSec: Math.round(parquetAlonePerSec),
          bareXaddPerSec: Math.round(bareXaddPerSec),
          ratioToParquetAlone: round2(sinkPerSec / parquetAlonePerSec),
          ratioToBareXadd: round2(sinkPerSec / bareXaddPerSec),
          files: stats.files,
          bytes: stats.bytes,
        };
        if (!best || result.sinkPerSec > best.sinkPerSec) best = { ...result, parquetAlonePerSec: Math.max(result.parquetAlonePerSec, best?.parquetAlonePerSec ?? 0) };
      } finally {
        await log.close();
      }
    }
  } finally {
    for (const p of prefixes) await deleteKeysWithPrefix(redis, p);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
  const r = best!;
  return { ...r, ratioToParquetAlone: round2(r.sinkPerSec / r.parquetAlonePerSec) };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function makeEvents(n: number): ShowroomEvent[] {
  const base = Date.parse('2026-03-05T06:00:00.000Z');
  return Array.from({ length: n }, (_, i) => ({
    eventId: `b-${i}-${randomUUID()}`,
    type: 'view',
    customerId: `c-${i % 5009}`,
    vehicleId: `v-${i % 20011}`,
    sessionId: `s-${i % 9001}`,
    occurredAt: new Date(base + i * 20).toISOString(),
    receivedAt: new Date(base + i * 20 + 900).toISOString(),
    properties: { channel: 'web', position: i % 20 },
  }));
}

