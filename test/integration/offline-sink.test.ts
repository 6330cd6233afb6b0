import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { partitionOf as lakePartitionOf, parseEventKey } from '../../shared/lake/lake-paths.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { readEventsParquet } from '../../shared/lake/parquet-codec.js';
import { deleteKeysWithPrefix, createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { SINK_GROUP, startOfflineSink, type OfflineSink } from '../../online/sink/offline-sink.js';
import { waitFor } from '../support/wait-for.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function makeEvents(n: number, startIso: string, stepMs: number, tag: string): ShowroomEvent[] {
  const start = Date.parse(startIso);
  return Array.from({ length: n }, (_, i) => ({
    eventId: `${tag}-${i}`,
    type: i % 7 === 0 ? 'search' : 'view',
    customerId: `c-${i % 97}`,
    ...(i % 7 === 0 ? { properties: { filters: { make: 'Volvo', priceMax: 40_000 } } } : { vehicleId: `v-${i % 311}` }),
    occurredAt: new Date(start + i * stepMs).toISOString(),
    receivedAt: new Date(start + i * stepMs + 1500).toISOString(),
  })) as ShowroomEvent[];
}

/** `n` events spread over `hours` hour partitions from 2026-03-01 09:00 (one per ms within each). */
function spreadEvents(n: number, tag: string, hours = 1): ShowroomEvent[] {
  const start = Date.parse('2026-03-01T09:00:00.000Z');
  return Array.from({ length: n }, (_, i) => ({
    eventId: `${tag}-${i}`,
    type: 'view',
    customerId: `c-${i % 97}`,
    vehicleId: `v-${i % 311}`,
    occurredAt: new Date(start + (i % hours) * 3_600_000 + i).toISOString(),
    receivedAt: new Date(start + i + 1500).toISOString(),
  }));
}

async function readLake(lake: LocalLake): Promise<Map<string, ShowroomEvent[]>> {
  const out = new Map<string, ShowroomEvent[]>();
  for (const o of await lake.list('events/')) out.set(o.key, await readEventsParquet(path.join(lake.root, o.key)));
  return out;
}

describe('offline sink (Redis Streams → Parquet lake)', function () {
  this.timeout(30_000);
  let prefix: string;
  let admin: Redis;
  let log: RedisStreamsEventLog;
  let dir: string;
  let lake: LocalLake;
  let sink: OfflineSink | undefined;

  beforeEach(async () => {
    prefix = `test:sink:${randomUUID().slice(0, 8)}:`;
    admin = createRedis(REDIS_URL, 'test-admin', { enableOfflineQueue: true });
    log = new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, partitions: 4, trimIntervalMs: 0 });
    dir = await mkdtemp(path.join(tmpdir(), 'sink-test-'));
    lake = new LocalLake(path.join(dir, 'lake'));
  });

  afterEach(async () => {
    await sink?.close();
    sink = undefined;
    await log.close();
    await deleteKeysWithPrefix(admin, prefix);
    await admin.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every event to its occurredAt hour partition, a late one to its own, and sets bad messages aside', async () => {
    const registry = new Registry();
    const events = makeEvents(3000, '2026-03-01T09:30:00.000Z', 3000, 'ev'); // 09:30 .. 11:59:57 → 3 hour partitions
    const late = makeEvents(1, '2026-02-27T03:15:00.000Z', 0, 'late')[0]!;
    await log.append(events.slice(0, 1500));
    await log.appendRaw(1, 'this is {not json');
    await log.appendRaw(2, JSON.stringify({ eventId: 'bad-1', type: 'teleport', occurredAt: '2026-03-01T10:00:00Z' }));
    await log.append([late, ...events.slice(1500)]);

    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), registry, maxRows: 700, maxAgeMs: 300, tmpDir: path.join(dir, 'tmp') });
    await waitFor('every event in the lake', () => sink!.stats().eventsOut >= events.length + 1);
    await waitFor('the group to catch up', async () => (await log.lag(SINK_GROUP)).every((p) => p.lag === 0));

    const files = await readLake(lake);
    const seen = new Map<string, number>();
    for (const [key, rows] of files) {
      const part = parseEventKey(key);
      assert.ok(part, `${key} is an event file key`);
      assert.ok(rows.length <= 700, `${key} holds ${rows.length} rows, more than maxRows`);
      assert.match(part.file, new RegExp(`^${sink.writerId}-\\d{8}\\.parquet$`));
      for (const e of rows) {
        const p = lakePartitionOf(e.occurredAt);
        assert.deepEqual({ date: part.date, hour: part.hour }, p, `${e.eventId} is in its occurredAt partition`);
        seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
      }
    }
    assert.equal(seen.size, events.length + 1, 'every distinct event is in the lake');
    for (const e of events) assert.ok(seen.has(e.eventId), `${e.eventId} in the lake`);
    const lateKeys = [...files].filter(([, rows]) => rows.some((e) => e.eventId === late.eventId)).map(([k]) => k);
    assert.equal(lateKeys.length, 1);
    assert.match(lateKeys[0]!, /^events\/date=2026-02-27\/hour=03\//);
    assert.deepEqual(files.get(lateKeys[0]!)!.map((e) => e.eventId), [late.eventId], 'the late event has a file of its own');
    const hours = new Set([...files.keys()].map((k) => k.split('/').slice(1, 3).join('/')));
    assert.deepEqual([...hours].sort(), ['date=2026-02-27/hour=03', 'date=2026-03-01/hour=09', 'date=2026-03-01/hour=10', 'date=2026-03-01/hour=11']);
    const fields = (await readLake(lake)).values().next().value![0]!;
    assert.equal(typeof fields.receivedAt, 'string');

    // dead letters: both bad messages, with their reasons, and the sink carried on
    await waitFor('dead letters', () => sink!.stats().deadLetters === 2);
    const dl = await lake.list('deadletter/');
    const records = (await Promise.all(dl.map(async (o) => (await lake.getBuffer(o.key))!.toString().trim().split('\n'))))
      .flat()
      .map((l) => JSON.parse(l) as { raw: string; reason: string; position: string });
    assert.equal(records.length, 2);
    assert.ok(records.some((r) => r.raw === 'this is {not json' && /invalid JSON/.test(r.reason)));
    assert.ok(records.some((r) => r.raw.includes('teleport') && /type/.test(r.reason)));
    assert.ok(dl.every((o) => /^deadletter\/offline-sink\/date=\d{4}-\d{2}-\d{2}\/.+\.jsonl$/.test(o.key)));

    const text = await registry.metrics();
    const value = (name: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(value('showroom_sink_events_out_total'), events.length + 1);
    assert.equal(value('showroom_sink_dead_letters_total'), 2);
    assert.equal(value('showroom_sink_flush_rows_count'), files.size);
    assert.equal(value('showroom_sink_flush_rows_sum'), events.length + 1);
    assert.equal(value('showroom_sink_consumer_lag'), 0);
    assert.match(text, /showroom_sink_last_checkpoint_age_seconds \d/);
  });

  it('checkpoints nothing before its file is durable, and a graceful close flushes and checkpoints', async () => {
    const events = makeEvents(2000, '2026-03-02T08:00:00.000Z', 100, 'held');
    await log.append(events);
    // Nothing flushes by rows, age or idleness: only close() may write.
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 1_000_000, maxAgeMs: 60_000, idleFlushMs: 60_000, serialIdleMs: 60_000 });
    await waitFor('a batch in hand', () => sink!.stats().buffered > 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await lake.list('events/'), [], 'nothing written yet');
    const lagBefore = (await log.lag(SINK_GROUP)).reduce((s, p) => s + p.lag, 0);
    assert.equal(lagBefore, events.length, 'nothing acknowledged before the file is durable');

    await sink.close();
    const ids = new Set([...(await readLake(lake)).values()].flat().map((e) => e.eventId));
    const lagAfter = (await log.lag(SINK_GROUP)).reduce((s, p) => s + p.lag, 0);
    // The batch in hand is written and acknowledged; batches not yet read stay in the log.
    assert.ok(ids.size > 0, 'close wrote the held events');
    assert.equal(lagAfter, events.length - ids.size, 'exactly the written events are acknowledged');
    assert.equal(sink.stats().buffered, 0);
    assert.equal(sink.stats().heldBatches, 0);

    // A second sink picks up the rest, including entries the first one's consumers had taken
    // but not handled when they closed (reclaimed once idle).
    const log2 = new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, partitions: 4, trimIntervalMs: 0, claimMinIdleMs: 300, claimIntervalMs: 100 });
    try {
      sink = await startOfflineSink({ eventLog: log2, lake, logger: silentLogger(), maxRows: 5000, maxAgeMs: 100 });
      await waitFor('the rest', async () => (await log.lag(SINK_GROUP)).every((p) => p.lag === 0));
      await sink.close();
    } finally {
      await log2.close();
    }
    const all = new Set([...(await readLake(lake)).values()].flat().map((e) => e.eventId));
    assert.equal(all.size, events.length);
  });

  it('writes the held rest of a drained backlog once the lag shows nothing else outstanding, not after idleFlushMs', async () => {
    const events = spreadEvents(3000, 'drained');
    await log.append(events);
    // Files far larger than the backlog, no age flush, a long idle flush: only the drained check can write early.
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 100_000, maxAgeMs: 60_000, batchSize: 500, idleFlushMs: 20_000, drainedFlushMs: 50 });
    await waitFor('every event in the lake', () => sink!.stats().eventsOut === events.length, 10_000);
    await waitFor('the group to catch up', async () => (await log.lag(SINK_GROUP)).every((p) => p.lag === 0), 5000);
  });

  it('waits for idleFlushMs while another consumer of the group holds entries', async () => {
    const events = spreadEvents(3000, 'other');
    await log.append(events);
    // Another instance of the group has taken 10 entries and not acknowledged them.
    const key = `${prefix}log:0`;
    await admin.xgroup('CREATE', key, SINK_GROUP, '0', 'MKSTREAM');
    const taken = (await admin.xreadgroup('GROUP', SINK_GROUP, 'other-instance', 'COUNT', 10, 'STREAMS', key, '>')) as [string, unknown[]][];
    assert.equal(taken[0]![1].length, 10);
    const t0 = Date.now();
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 100_000, maxAgeMs: 60_000, batchSize: 500, idleFlushMs: 1500, drainedFlushMs: 50 });
    await new Promise((r) => setTimeout(r, 800));
    // Only the first batch (delivered before the sink saw the log read ahead) may be written yet.
    assert.ok(sink.stats().eventsOut <= 500, `wrote ${sink.stats().eventsOut} events before the idle flush`);
    await waitFor('the idle flush', () => sink!.stats().eventsOut === events.length - 10, 10_000);
    assert.ok(Date.now() - t0 >= 1500, 'written by the idle flush');
  });

  it('writes at once when every subscription holds all the batches it may and no file is being written', async () => {
    // Six hour partitions: the held batches (2 subscriptions x 3) fill no buffer to maxRows.
    const events = spreadEvents(12_000, 'stuck', 6);
    await log.append(events);
    const t0 = Date.now();
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 1000, maxAgeMs: 60_000, batchSize: 500, idleFlushMs: 20_000, drainedFlushMs: 20_000 });
    await waitFor('every event in the lake', () => sink!.stats().eventsOut === events.length, 15_000);
    assert.ok(Date.now() - t0 < 15_000);
  });
});
