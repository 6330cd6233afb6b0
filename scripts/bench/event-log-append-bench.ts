import { randomUUID } from 'node:crypto';
import { partitionKeyOf, type ShowroomEvent } from '../../shared/domain/event.js';
import { APPEND_SCRIPT_CHUNK, APPEND_SCRIPT_LUA, RedisStreamsEventLog, partitionOf } from '../../shared/event-log/redis-streams-event-log.js';
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
  /**
   * The ceiling: the script `append` runs (APPEND_SCRIPT_LUA), called bare with `EVALSHA` on one
   * ioredis connection — the same events pre-serialised and pre-grouped by partition, one call per
   * partition of a batch, pipelined, same batch size and concurrency — events/s.
   */
  bareScriptPerSec: number;
  /** A reference, not a ceiling: the same events as bare `XADD k * e <json>`, one per event, in pipelines of `batchSize`, events/s. */
  bareXaddPerSec: number;
  /** appendPerSec / bareScriptPerSec. */
  ratio: number;
  /** Every round's figures, events/s. */
  rounds: { appendPerSec: number; bareScriptPerSec: number; bareXaddPerSec: number }[];
}

/**
 * Measures event-log append throughput against its ceiling — the same Lua script called bare
 * (EVALSHA, no adapter) — and a bare XADD pipeline (a reference) on the same Redis, in the same
 * run, alternating the three for `rounds` rounds (best of each reported: robust to a busy host).
 * Writes under a scratch prefix (`bench:evl:<uuid>:`) and deletes it afterwards.
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
    // The same grouping `append` does (partition of each event, chunks of APPEND_SCRIPT_CHUNK), done up front.
    const scriptKeys = Array.from({ length: partitions }, (_, n) => `${prefix}lua:${n}`);
    const grouped = made.map((b) => {
      const byPartition: string[][] = scriptKeys.map(() => []);
      for (const e of b) byPartition[partitionOf(partitionKeyOf(e), partitions)]!.push(JSON.stringify(e));
      const calls: { key: string; args: string[] }[] = [];
      byPartition.forEach((lines, n) => {
        for (let i = 0; i < lines.length; i += APPEND_SCRIPT_CHUNK) calls.push({ key: scriptKeys[n]!, args: lines.slice(i, i + APPEND_SCRIPT_CHUNK) });
      });
      return calls;
    });
    const sha = String(await bare.script('LOAD', APPEND_SCRIPT_LUA));
    const scripts = (calls: { key: string; args: string[] }[]) => {
      const p = bare.pipeline();
      for (const c of calls) p.evalsha(sha, 1, c.key, ...c.args);
      return p.exec().then((results) => {
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0]!;
      });
    };
    const warm = Math.min(50, batches);
    await runConcurrent(made.slice(0, warm), concurrency, (b) => log.append(b));
    await runConcurrent(grouped.slice(0, warm), concurrency, scripts);
    await runConcurrent(payloads.slice(0, warm), concurrency, xadds);
    const rounds: { appendPerSec: number; bareScriptPerSec: number; bareXaddPerSec: number }[] = [];
    for (let r = 0; r < (options.rounds ?? 3); r++) {
      const appendPerSec = await timed(total, () => runConcurrent(made, concurrency, (b) => log.append(b)));
      const bareScriptPerSec = await timed(total, () => runConcurrent(grouped, concurrency, scripts));
      const bareXaddPerSec = await timed(total, () => runConcurrent(payloads, concurrency, xadds));
      rounds.push({ appendPerSec, bareScriptPerSec, bareXaddPerSec });
      await deleteKeysWithPrefix(bare, prefix); // same stream sizes every round
    }
    const best = (k: keyof (typeof rounds)[number]) => Math.max(...rounds.map((r) => r[k]));
    const appendPerSec = best('appendPerSec');
    const bareScriptPerSec = best('bareScriptPerSec');
    return { events: batches * batchSize, batchSize, concurrency, appendPerSec, bareScriptPerSec, bareXaddPerSec: best('bareXaddPerSec'), ratio: appendPerSec / bareScriptPerSec, rounds };
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

