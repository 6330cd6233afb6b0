import { randomUUID } from 'node:crypto';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { deleteKeysWithPrefix, createRedis, waitForRedis } from '../../shared/redis/redis-connection.js';

export interface AppendBenchOptions {
  redisUrl: string;
  /** Events appended in each measurement (default 200,000). */
  events?: number;
  /** Events per `append` call / XADD pipeline (default 100). */
  batchSize?: number;
  /** Appends in flight at once (default 16). */
  concurrency?: number;
  partitions?: number;
  /** Alternating rounds of each measurement; the best round of each is reported (default 3). */
  rounds?: number;
}

export interface AppendBenchResult {
  events: number;
  batchSize: number;
  concurrency: number;
  /** RedisStreamsEventLog.append, events/s. */
  appendPerSec: number;
  /** The same number of bare `XADD k * e <json>` in pipelines of `batchSize`, events/s. */
  bareXaddPerSec: number;
  /** appendPerSec / bareXaddPerSec. */
  ratio: number;
  /** Every round's figures, events/s. */
  rounds: { appendPerSec: number; bareXaddPerSec: number }[];
}

/**
 * Measures event-log append throughput against a bare XADD pipeline on the same Redis, in the
 * same run, alternating the two for `rounds` rounds (best of each reported: robust to a busy host). Writes under a scratch prefix (`bench:evl:<uuid>:`) and deletes it afterwards.
 */
export async function benchEventLogAppend(options: AppendBenchOptions): Promise<AppendBenchResult> {
  const total = options.events ?? 200_000;
  const batchSize = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 16;
  const partitions = options.partitions ?? 4;
  const prefix = `bench:evl:${randomUUID().slice(0, 8)}:`;
  const batches = Math.ceil(total / batchSize);
  const made = makeBatches(batches, batchSize);

  const log = new RedisStreamsEventLog({ redisUrl: options.redisUrl, prefix, partitions, trimIntervalMs: 0 });
  const bare = createRedis(options.redisUrl, 'bench-bare');
  try {
    await log.ping();
    await waitForRedis(bare);
    const payloads = made.map((b) => b.map((e) => JSON.stringify(e)));
    const bareKeys = Array.from({ length: partitions }, (_, n) => `${prefix}bare:${n}`);
    const xadds = (lines: string[]) => {
      const p = bare.pipeline();
      for (let i = 0; i < lines.length; i++) p.xadd(bareKeys[i % partitions], '*', 'e', lines[i]);
      return p.exec().then(() => undefined);
    };
    await runConcurrent(made.slice(0, Math.min(50, batches)), concurrency, (b) => log.append(b)); // warm-up
    await runConcurrent(payloads.slice(0, Math.min(50, batches)), concurrency, xadds);
    const rounds: { appendPerSec: number; bareXaddPerSec: number }[] = [];
    for (let r = 0; r < (options.rounds ?? 3); r++) {
      const appendPerSec = await timed(total, () => runConcurrent(made, concurrency, (b) => log.append(b)));
      const bareXaddPerSec = await timed(total, () => runConcurrent(payloads, concurrency, xadds));
      rounds.push({ appendPerSec, bareXaddPerSec });
      await deleteKeysWithPrefix(bare, prefix); // same stream sizes every round
    }
    const appendPerSec = Math.max(...rounds.map((r) => r.appendPerSec));
    const bareXaddPerSec = Math.max(...rounds.map((r) => r.bareXaddPerSec));
    return { events: batches * batchSize, batchSize, concurrency, appendPerSec, bareXaddPerSec, ratio: appendPerSec / bareXaddPerSec, rounds };
  } finally {
    await log.close();
    await deleteKeysWithPrefix(bare, prefix).catch(() => undefined);
    bare.disconnect();
  }
}

function makeBatches(batches: number, batchSize: number): ShowroomEvent[][] {
  const at = new Date().toISOString();
  return Array.from({ length: batches }, (_, b) =>
    Array.from({ length: batchSize }, (_, i) => ({
      eventId: randomUUID(),
      type: 'view' as const,
      customerId: `c-${(b * batchSize + i) % 10_000}`,
      vehicleId: `v-${i % 500}`,
      sessionId: `s-${b % 1000}`,
      occurredAt: at,
      receivedAt: at,
      properties: { channel: 'web', position: i % 20 },
    })),
  );
}

async function timed(events: number, run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return Math.round(events / seconds);
}

async function runConcurrent<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

