import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { Unavailable } from '../../shared/errors/app-error.js';
import { loadConfig } from '../../shared/config/config.js';
import { createEventLog } from '../../shared/event-log/create-event-log.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { partitionOf, RedisStreamsEventLog, type RedisStreamsEventLogOptions } from '../../shared/event-log/redis-streams-event-log.js';
import { deleteKeysWithPrefix, createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { eventLogContract, type EventLogFixture } from './event-log-contract.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A fresh log on a unique prefix; small reclaim idle time so redelivery tests take milliseconds. */
async function redisFixture(extra: Partial<RedisStreamsEventLogOptions> = {}): Promise<EventLogFixture & { log: RedisStreamsEventLog; admin: Redis; prefix: string }> {
  const prefix = `test:evl:${randomUUID().slice(0, 8)}:`;
  const admin = createRedis(REDIS_URL, 'test-admin', { enableOfflineQueue: true });
  const make = () => new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, claimMinIdleMs: 300, claimIntervalMs: 100, trimIntervalMs: 0, ...extra });
  const log = make();
  const opened: EventLog[] = [log];
  return {
    log,
    admin,
    prefix,
    async open() {
      const other = make();
      opened.push(other);
      return other;
    },
    async appendRaw(target, raw) {
      await (target as RedisStreamsEventLog).appendRaw(0, raw);
    },
    async cleanup() {
      await Promise.all(opened.map((l) => l.close()));
      await deleteKeysWithPrefix(admin, prefix);
      await admin.quit();
    },
  };
}

eventLogContract('Redis Streams', () => redisFixture());

describe('RedisStreamsEventLog (Redis specifics)', function () {
  this.timeout(20_000);
  let fx: Awaited<ReturnType<typeof redisFixture>>;

  afterEach(async function () {
    await fx?.cleanup();
  });

  it('maps a partition key to a stable partition (FNV-1a)', function () {
    assert.equal(partitionOf('c:customer-1', 4), partitionOf('c:customer-1', 4));
    // Pinned values: changing the hash would remap every customer's stream.
    assert.deepEqual(['c:a', 'c:b', 'v:123', 'c:customer-1'].map((k) => partitionOf(k, 4)), [3, 2, 3, 2]);
    assert.equal(partitionOf('c:customer-1', 1024), 802);
    const counts = new Array(4).fill(0);
    for (let i = 0; i < 4000; i++) counts[partitionOf(`c:customer-${i}`, 4)]++;
    for (const n of counts) assert.ok(n > 800 && n < 1200, `balanced partitions: ${counts.join(',')}`);
  });

  it('writes one stream per partition, one JSON field per entry', async function () {
    fx = await redisFixture({ partitions: 3 });
    const events = Array.from({ length: 30 }, (_, i) => event(`c-${i}`));
    await fx.log.append(events);
    let total = 0;
    for (let n = 0; n < 3; n++) {
      const entries = await fx.admin.xrange(`${fx.prefix}log:${n}`, '-', '+');
      for (const [, fields] of entries) {
        assert.equal(fields[0], 'e');
        const e = JSON.parse(fields[1]) as ShowroomEvent;
        assert.equal(fx.log.partitionOfEvent(e), n);
      }
      total += entries.length;
    }
    assert.equal(total, 30);
  });

  it('trims by age only, never past what a group has not acknowledged', async function () {
    fx = await redisFixture({ partitions: 1, retentionMs: 1000 });
    const key = `${fx.prefix}log:0`;
    await fx.log.append(Array.from({ length: 10 }, () => event('c-1')));
    // Young entries stay.
    assert.equal(await fx.log.trim(), 0);
    // A group that has read nothing holds everything back, even past retention.
    await fx.log.ensureGroup('slow', 'earliest');
    assert.equal(await fx.log.trim(Date.now() + 60_000), 0);
    // Delivered but unacknowledged (pending) entries are kept too.
    const read = (await fx.admin.call('XREADGROUP', 'GROUP', 'slow', 'c1', 'COUNT', 4, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
    const ids = read[0][1].map(([id]) => id);
    assert.equal(await fx.log.trim(Date.now() + 60_000), 0);
    // Acknowledge two: exactly those two may go.
    await fx.admin.xack(key, 'slow', ids[0], ids[1]);
    assert.equal(await fx.log.trim(Date.now() + 60_000), 2);
    assert.equal(await fx.admin.xlen(key), 8);
    const [first] = await fx.admin.xrange(key, '-', '+', 'COUNT', 1);
    assert.equal(first[0], ids[2]);
  });

  it('trims old entries when every group has acknowledged them', async function () {
    fx = await redisFixture({ partitions: 1, retentionMs: 200 });
    const key = `${fx.prefix}log:0`;
    await fx.log.append(Array.from({ length: 5 }, () => event('c-1')));
    await new Promise((r) => setTimeout(r, 300));
    const fresh = Array.from({ length: 3 }, () => event('c-1'));
    await fx.log.append(fresh);
    assert.equal(await fx.log.trim(), 5);
    assert.equal(await fx.admin.xlen(key), 3);
  });

  it('re-reads its own pending entries first when a consumer restarts under the same name', async function () {
    fx = await redisFixture({ claimMinIdleMs: 60_000 }); // no reclaim: only the own-pending path can deliver
    const events = Array.from({ length: 8 }, (_, i) => event(`c-${i}`));
    await fx.log.append(events);
    let failed = 0;
    const first = await fx.log.subscribe({ group: 'named', consumer: 'worker-1' }, async () => {
      failed++;
      throw new Error('crash');
    });
    while (failed === 0) await new Promise((r) => setTimeout(r, 10));
    await first.close();
    const other = (await fx.open()) as RedisStreamsEventLog;
    const got = new Set<string>();
    const again = await other.subscribe({ group: 'named', consumer: 'worker-1' }, async (b) => {
      for (const e of b.events) got.add(e.eventId);
    });
    const deadline = Date.now() + 5000;
    while (got.size < events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await again.close();
    assert.equal(got.size, events.length);
    // Everything acknowledged: the consumer removed itself from the group.
    const consumers = (await fx.admin.call('XINFO', 'CONSUMERS', `${fx.prefix}log:0`, 'named')) as unknown[];
    assert.equal(consumers.length, 0);
  });

  it('pipelines deliveries with maxInFlightBatches and keeps held entries from being reclaimed', async function () {
    fx = await redisFixture(); // claimMinIdleMs 300: a held batch would be reclaimed without the heartbeat
    const events = Array.from({ length: 40 }, (_, i) => event(`c-${i}`));
    await fx.log.append(events);
    const held: (() => void)[] = [];
    const got = new Set<string>();
    let failOnce = true;
    const a = await fx.log.subscribe({ group: 'pipe', consumer: 'a', maxBatchSize: 5, maxInFlightBatches: 100 }, async (b) => {
      for (const e of b.events) got.add(e.eventId);
      if (failOnce) {
        failOnce = false;
        throw new Error('first batch fails once: retried in place');
      }
      await new Promise<void>((resolve) => held.push(resolve));
    });
    try {
      await pipelinedChecks();
    } finally {
      held.splice(0).forEach((r) => r());
    }
    async function pipelinedChecks() {
      // Every event arrives while no handler has resolved yet: deliveries are pipelined.
      const deadline = Date.now() + 5000;
      while (got.size < events.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got.size, events.length);
      // A second consumer sees none of them while they are held longer than claimMinIdleMs.
      const other = await fx.open();
      let stolen = 0;
      const b = await other.subscribe({ group: 'pipe', consumer: 'b' }, async (batch) => {
        stolen += batch.events.length;
      });
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(stolen, 0, 'held entries are not reclaimed by another consumer');
      assert.ok((await fx.log.lag('pipe')).reduce((s, p) => s + p.lag, 0) === events.length, 'nothing checkpointed yet');
      for (const resolve of held.splice(0)) resolve();
      const lagDeadline = Date.now() + 5000;
      while ((await fx.log.lag('pipe')).reduce((s, p) => s + p.lag, 0) > 0) {
        assert.ok(Date.now() < lagDeadline, 'every batch checkpointed once its handler resolved');
        held.splice(0).forEach((r) => r());
        await new Promise((r) => setTimeout(r, 20));
      }
      await b.close();
      const closing = a.close();
      held.splice(0).forEach((r) => r());
      await closing;
      assert.equal(stolen, 0);
    }
  });

  it('rejects append with Unavailable after close', async function () {
    fx = await redisFixture();
    await fx.log.close();
    await assert.rejects(fx.log.append([event('c-1')]), Unavailable);
  });

  it('registers appended, delivered and lag metrics', async function () {
    const registry = new Registry();
    fx = await redisFixture({ registry });
    await fx.log.append(Array.from({ length: 7 }, (_, i) => event(`c-${i}`)));
    let delivered = 0;
    const sub = await fx.log.subscribe({ group: 'metrics' }, async (b) => {
      delivered += b.events.length;
    });
    while (delivered < 7) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    await fx.log.append([event('c-x')]);
    const text = await registry.metrics();
    assert.match(text, /showroom_event_log_appended_total 8/);
    assert.match(text, /showroom_event_log_delivered_total\{group="metrics"\} 7/);
    const lagLines = text.split('\n').filter((l) => l.startsWith('showroom_event_log_lag{'));
    assert.equal(lagLines.length, 4);
    assert.equal(lagLines.reduce((s, l) => s + Number(l.split(' ').pop()), 0), 1);
  });
});

describe('createEventLog', function () {
  it('builds the Redis Streams log from the configuration when no Event Hubs connection string is set', async function () {
    const prefix = `test:evl:${randomUUID().slice(0, 8)}:`;
    const config = loadConfig({ REDIS_URL, SHOWROOM_REDIS_PREFIX: prefix, SHOWROOM_EVENT_LOG_PARTITIONS: '3' });
    const log = createEventLog(config);
    const admin = createRedis(REDIS_URL, 'test-admin', { enableOfflineQueue: true });
    try {
      assert.ok(log instanceof RedisStreamsEventLog);
      assert.equal(log.partitionCount, 3);
      await log.append([event('c-1')]);
      assert.equal((await log.lag('nobody')).reduce((s, p) => s + p.lag, 0), 1);
      assert.equal(log.streamKey(0), `${prefix}log:0`);
    } finally {
      await log.close();
      await deleteKeysWithPrefix(admin, prefix);
      await admin.quit();
    }
  });
});

function event(customerId: string): ShowroomEvent {
  const at = new Date().toISOString();
  return { eventId: randomUUID(), type: 'view', customerId, vehicleId: 'v-1', occurredAt: at, receivedAt: at };
}
