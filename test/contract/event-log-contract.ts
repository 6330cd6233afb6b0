import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { BatchHandler, EventLog, LogBatch, SubscribeOptions, Subscription } from '../../shared/event-log/event-log.js';

/** One isolated log for one test, as the adapter's test file builds it. */
export interface EventLogFixture {
  /** A fresh, empty, isolated log (unique key prefix / hub). */
  log: EventLog;
  /** Another instance on the SAME underlying log, as a second process would open it. Closed by `cleanup`. */
  open(): Promise<EventLog>;
  /** Optional: writes a raw message that is not an event to some partition of `log`. */
  appendRaw?(log: EventLog, raw: string): Promise<void>;
  /** Closes every instance and removes what the fixture created. */
  cleanup(): Promise<void>;
}

export interface EventLogContractOptions {
  /** Longest a test waits for deliveries, ms (default 10 s). */
  deliveryTimeoutMs?: number;
  /** Pause after subscribing two instances of one group before appending (partition balancing), ms. */
  settleMs?: number;
}

/**
 * The EventLog contract: every adapter (Redis Streams, Event Hubs) runs this suite. Adapter-neutral:
 * it only uses the port and the fixture.
 */
export function eventLogContract(name: string, factory: () => Promise<EventLogFixture>, options: EventLogContractOptions = {}): void {
  const timeoutMs = options.deliveryTimeoutMs ?? 10_000;
  const settleMs = options.settleMs ?? 0;

  describe(`EventLog contract: ${name}`, function () {
    this.timeout(timeoutMs * 3 + 10_000);
    let fx: EventLogFixture;
    const subs: Subscription[] = [];

    beforeEach(async function () {
      fx = await factory();
    });

    afterEach(async function () {
      await Promise.all(subs.splice(0).map((s) => s.close()));
      await fx.cleanup();
    });

    async function collect(log: EventLog, opts: SubscribeOptions, onBatch?: BatchHandler): Promise<Collector> {
      const c = new Collector();
      const sub = await log.subscribe(opts, async (batch) => {
        if (onBatch) await onBatch(batch);
        c.add(batch);
      });
      subs.push(sub);
      c.subscription = sub;
      return c;
    }

    it('resolves an empty append and answers ping', async function () {
      await fx.log.append([]);
      await fx.log.ping();
      assert.ok(fx.log.partitionCount >= 1);
    });

    it('delivers events intact and in append order within a partition key', async function () {
      const customers = ['c-a', 'c-b', 'c-c', 'c-d', 'c-e'];
      const appended: ShowroomEvent[] = [];
      for (let call = 0; call < 6; call++) {
        const events = Array.from({ length: 15 }, (_, i) => makeEvent(customers[(call * 15 + i) % customers.length]));
        await fx.log.append(events);
        appended.push(...events);
      }
      const c = await collect(fx.log, { group: 'order', maxBatchSize: 7, maxWaitMs: 50 });
      await c.waitFor((got) => got.size >= appended.length, timeoutMs, 'every event');
      assert.equal(c.events.length, appended.length, 'no duplicates in the happy path');
      const byId = new Map(c.events.map((e) => [e.eventId, e]));
      for (const e of appended) assert.deepEqual(byId.get(e.eventId), e, 'event comes back unchanged');
      for (const customer of customers) {
        const sent = appended.filter((e) => e.customerId === customer).map((e) => e.eventId);
        const got = c.events.filter((e) => e.customerId === customer).map((e) => e.eventId);
        assert.deepEqual(got, sent, `order of ${customer}'s events`);
        const partitions = new Set(c.batches.flatMap((b) => (b.events.some((e) => e.customerId === customer) ? [b.partition] : [])));
        assert.equal(partitions.size, 1, `${customer}'s events come from one partition`);
      }
      for (const b of c.batches) {
        assert.equal(b.positions.length, b.events.length);
        assert.ok(b.events.length <= 7, 'maxBatchSize is honoured');
      }
    });

    it('redelivers a batch whose handler failed to another consumer after the first one dies', async function () {
      const events = Array.from({ length: 20 }, (_, i) => makeEvent(`c-${i % 4}`));
      await fx.log.append(events);
      let attempts = 0;
      const dying = await fx.log.subscribe({ group: 'sink', consumer: 'dying' }, async () => {
        attempts++;
        throw new Error('consumer crashed mid-batch');
      });
      await waitUntil(() => attempts > 0, timeoutMs, 'a first (failing) delivery');
      await dying.close();
      const other = await fx.open();
      const c = await collect(other, { group: 'sink', consumer: 'survivor' });
      await c.waitFor((got) => events.every((e) => got.has(e.eventId)), timeoutMs, 'every event at the surviving consumer');
    });

    it('retries a failed batch until the handler succeeds (no event lost)', async function () {
      const events = Array.from({ length: 12 }, (_, i) => makeEvent(`c-${i % 3}`));
      await fx.log.append(events);
      let failuresLeft = 2;
      const c = await collect(fx.log, { group: 'flaky' }, async () => {
        if (failuresLeft-- > 0) throw new Error('transient failure');
      });
      await c.waitFor((got) => events.every((e) => got.has(e.eventId)), timeoutMs, 'every event after retries');
    });

    it('resumes from the checkpoint after a restart without redelivering acknowledged events', async function () {
      const first = Array.from({ length: 10 }, (_, i) => makeEvent(`c-${i % 5}`));
      await fx.log.append(first);
      const a = await collect(fx.log, { group: 'resume' });
      await a.waitFor((got) => first.every((e) => got.has(e.eventId)), timeoutMs, 'the first events');
      await a.subscription?.close();

      const second = Array.from({ length: 10 }, (_, i) => makeEvent(`c-${i % 5}`));
      await fx.log.append(second);
      const restarted = await fx.open();
      const b = await collect(restarted, { group: 'resume' });
      await b.waitFor((got) => second.every((e) => got.has(e.eventId)), timeoutMs, 'the events appended after the checkpoint');
      await sleep(300);
      const redelivered = first.filter((e) => b.ids.has(e.eventId));
      assert.deepEqual(redelivered.map((e) => e.eventId), [], 'acknowledged events are not delivered again');
    });

    it('gives two consumer groups every event each', async function () {
      const events = Array.from({ length: 30 }, (_, i) => makeEvent(`c-${i % 7}`));
      const g1 = await collect(fx.log, { group: 'g1' });
      const g2 = await collect(fx.log, { group: 'g2' });
      await fx.log.append(events);
      for (const [name, c] of [['g1', g1], ['g2', g2]] as const) {
        await c.waitFor((got) => events.every((e) => got.has(e.eventId)), timeoutMs, `every event in ${name}`);
      }
    });

    it('shares the work of one group between two instances, every event once', async function () {
      const other = await fx.open();
      const a = await collect(fx.log, { group: 'shared', consumer: 'a' }, () => sleep(5));
      const b = await collect(other, { group: 'shared', consumer: 'b' }, () => sleep(5));
      if (settleMs > 0) await sleep(settleMs);
      const events: ShowroomEvent[] = [];
      for (let round = 0; round < 8; round++) {
        const batch = Array.from({ length: 10 }, (_, i) => makeEvent(`c-${round}-${i}`));
        await fx.log.append(batch);
        events.push(...batch);
        await sleep(20);
      }
      const union = () => new Set([...a.ids, ...b.ids]);
      await waitUntil(() => events.every((e) => union().has(e.eventId)), timeoutMs, 'every event at one of the instances');
      await sleep(300);
      assert.equal(a.events.length + b.events.length, events.length, 'each event delivered once in the happy path');
      assert.ok(a.events.length > 0 && b.events.length > 0, `both instances did work (a=${a.events.length}, b=${b.events.length})`);
    });

    it('surfaces an undecodable message without blocking the events after it', async function () {
      if (!fx.appendRaw) this.skip();
      const before = makeEvent('c-raw');
      const after = makeEvent('c-raw');
      await fx.log.append([before]);
      await fx.appendRaw(fx.log, 'this is {not an event');
      await fx.appendRaw(fx.log, JSON.stringify({ eventId: 'x', type: 'teleport' }));
      await fx.log.append([after]);
      const c = await collect(fx.log, { group: 'dead' });
      await c.waitFor((got) => got.has(before.eventId) && got.has(after.eventId), timeoutMs, 'the good events');
      await waitUntil(() => c.undecodable.length >= 2, timeoutMs, 'the undecodable messages');
      const raws = c.undecodable.map((u) => u.raw).sort();
      assert.deepEqual(raws, [JSON.stringify({ eventId: 'x', type: 'teleport' }), 'this is {not an event'].sort());
      for (const u of c.undecodable) {
        assert.ok(u.reason.length > 0, 'a reason is given');
        assert.ok(u.position.length > 0 && u.partition.length > 0);
      }
      // Acknowledged with their batch: a restart does not see them again.
      await c.subscription?.close();
      const restarted = await fx.open();
      const again = await collect(restarted, { group: 'dead' });
      await sleep(500);
      assert.equal(again.undecodable.length + again.events.length, 0);
    });

    it('reports per-partition lag of a group', async function () {
      const events = Array.from({ length: 10 }, (_, i) => makeEvent(`c-${i}`));
      await fx.log.append(events);
      const c = await collect(fx.log, { group: 'lagging' });
      await c.waitFor((got) => events.every((e) => got.has(e.eventId)), timeoutMs, 'every event');
      await c.subscription?.close();
      await waitUntil(async () => sum(await fx.log.lag('lagging')) === 0, timeoutMs, 'lag 0 after checkpointing everything');
      await fx.log.append(Array.from({ length: 5 }, (_, i) => makeEvent(`c-${i}`)));
      const lag = await fx.log.lag('lagging');
      assert.equal(lag.length, fx.log.partitionCount);
      assert.equal(sum(lag), 5);
    });
  });
}

class Collector {
  readonly batches: LogBatch[] = [];
  readonly events: ShowroomEvent[] = [];
  readonly ids = new Set<string>();
  readonly undecodable: LogBatch['undecodable'] = [];
  subscription?: Subscription;

  add(batch: LogBatch): void {
    this.batches.push(batch);
    for (const e of batch.events) {
      this.events.push(e);
      this.ids.add(e.eventId);
    }
    this.undecodable.push(...batch.undecodable);
  }

  waitFor(cond: (ids: Set<string>) => boolean, timeoutMs: number, what: string): Promise<void> {
    return waitUntil(() => cond(this.ids), timeoutMs, () => `${what} (have ${this.ids.size})`);
  }
}

let seq = 0;
function makeEvent(customerId: string): ShowroomEvent {
  seq++;
  const at = new Date(Date.UTC(2026, 0, 1, 12, 0, 0, seq)).toISOString();
  return { eventId: `ev-${randomUUID()}`, type: 'view', customerId, vehicleId: `v-${seq % 50}`, occurredAt: at, receivedAt: at };
}

function sum(lag: { lag: number }[]): number {
  return lag.reduce((s, p) => s + p.lag, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}
