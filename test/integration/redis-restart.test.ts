import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { Unavailable } from '../../shared/errors/app-error.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { createRedis } from '../../shared/redis/redis-connection.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

function event(customerId: string): ShowroomEvent {
  const at = new Date().toISOString();
  return { eventId: randomUUID(), type: 'view', customerId, vehicleId: 'v-1', occurredAt: at, receivedAt: at };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `append` until it resolves (Redis back), failing after `timeoutMs`. */
async function appendWhenBack(log: RedisStreamsEventLog, events: ShowroomEvent[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await log.append(events);
    } catch (err) {
      assert.ok(err instanceof Unavailable, `only Unavailable while Redis is away, got ${String(err)}`);
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

describe('Redis restart under the Redis Streams event log', function () {
  this.timeout(30_000);
  let server: RedisServer | undefined;
  let log: RedisStreamsEventLog | undefined;
  let dir: string | undefined;

  afterEach(async function () {
    await log?.close();
    await server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
    log = server = dir = undefined;
  });

  it('rejects appends with Unavailable while Redis is down, and works again after it restarts', async function () {
    server = await startRedisServer();
    log = new RedisStreamsEventLog({ redisUrl: server.url, prefix: 'restart:', trimIntervalMs: 0, appendTimeoutMs: 2000 });
    const received = new Set<string>();
    const sub = await log.subscribe({ group: 'g', maxWaitMs: 50 }, async (b) => {
      for (const e of b.events) received.add(e.eventId);
    });
    const before = Array.from({ length: 20 }, (_, i) => event(`c-${i}`));
    await log.append(before);

    await server.kill('SIGKILL');
    const down = Array.from({ length: 10 }, (_, i) => event(`c-${i}`));
    const started = Date.now();
    for (let attempt = 0; attempt < 5; attempt++) {
      await assert.rejects(log.append(down), (err: unknown) => err instanceof Unavailable && err.status === 503);
    }
    assert.ok(Date.now() - started < 5 * 2000 + 1000, 'rejections come within the append timeout');
    await assert.rejects(log.ping(), Unavailable);

    await server.start();
    const after = Array.from({ length: 20 }, (_, i) => event(`c-${i}`));
    await appendWhenBack(log, after);
    await log.ping();

    // The server kept nothing: exactly what was appended after the restart is in the log.
    const admin = createRedis(server.url, 'test-admin', { enableOfflineQueue: true });
    try {
      let total = 0;
      for (let n = 0; n < log.partitionCount; n++) total += await admin.xlen(log.streamKey(n));
      assert.equal(total, after.length);
    } finally {
      admin.disconnect();
    }
    // The subscription survives the restart (its group is recreated) and sees new events.
    const deadline = Date.now() + 10_000;
    while (!after.every((e) => received.has(e.eventId))) {
      assert.ok(Date.now() < deadline, `subscriber got ${after.filter((e) => received.has(e.eventId)).length}/${after.length} events after restart`);
      await sleep(50);
    }
    await sub.close();
  });

  it('never reports success for an event that was not stored, with producers appending through the crash', async function () {
    dir = await mkdtemp(path.join(tmpdir(), 'redis-aof-'));
    // fsync every write, so whatever Redis acknowledged survives SIGKILL.
    server = await startRedisServer(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
    log = new RedisStreamsEventLog({ redisUrl: server.url, prefix: 'crash:', trimIntervalMs: 0, appendTimeoutMs: 1000 });
    await log.ping();
    const acknowledged: string[] = [];
    let rejected = 0;
    let stop = false;
    const producers = Array.from({ length: 4 }, async (_, p) => {
      while (!stop) {
        const batch = Array.from({ length: 20 }, (_, i) => event(`c-${p}-${i}`));
        try {
          await log!.append(batch);
          acknowledged.push(...batch.map((e) => e.eventId));
        } catch (err) {
          assert.ok(err instanceof Unavailable, `append fails only with Unavailable, got ${String(err)}`);
          rejected++;
          await sleep(20);
        }
      }
    });
    await sleep(300);
    await server.kill('SIGKILL');
    await sleep(300);
    await server.start();
    await sleep(1500);
    stop = true;
    await Promise.all(producers);
    assert.ok(rejected > 0, 'some appends failed while Redis was down');
    assert.ok(acknowledged.length > 0);

    const admin = createRedis(server.url, 'test-admin', { enableOfflineQueue: true });
    try {
      const stored = new Set<string>();
      for (let n = 0; n < log.partitionCount; n++) {
        for (const [, fields] of await admin.xrange(log.streamKey(n), '-', '+')) stored.add((JSON.parse(fields[1]) as ShowroomEvent).eventId);
      }
      const missing = acknowledged.filter((id) => !stored.has(id));
      assert.deepEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged events are missing`);
    } finally {
      admin.disconnect();
    }
  });
});
