import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { deleteKeysWithPrefix, createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { SINK_GROUP, startOfflineSink, type OfflineSink } from '../../online/sink/offline-sink.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function makeEvents(n: number, tag: string, hours = 1): ShowroomEvent[] {
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

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('offline sink: drained backlog', function () {
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

  it('writes the held rest of a drained backlog once the lag shows nothing else outstanding, not after idleFlushMs', async () => {
    const events = makeEvents(3000, 'drained');
    await log.append(events);
    // Files far larger than the backlog, no age flush, a long idle flush: only the drained check can write early.
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 100_000, maxAgeMs: 60_000, batchSize: 500, idleFlushMs: 20_000, drainedFlushMs: 50 });
    await waitFor('every event in the lake', () => sink!.stats().eventsOut === events.length, 10_000);
    await waitFor('the group to catch up', async () => (await log.lag(SINK_GROUP)).every((p) => p.lag === 0), 5000);
  });

  it('waits for idleFlushMs while another consumer of the group holds entries', async () => {
    const events = makeEvents(3000, 'other');
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
    const events = makeEvents(12_000, 'stuck', 6);
    await log.append(events);
    const t0 = Date.now();
    sink = await startOfflineSink({ eventLog: log, lake, logger: silentLogger(), maxRows: 1000, maxAgeMs: 60_000, batchSize: 500, idleFlushMs: 20_000, drainedFlushMs: 20_000 });
    await waitFor('every event in the lake', () => sink!.stats().eventsOut === events.length, 15_000);
    assert.ok(Date.now() - t0 < 15_000);
  });
});
