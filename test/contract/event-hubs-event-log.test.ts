import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { EventHubConsumerClient, earliestEventPosition, latestEventPosition, type EventPosition, type ReceivedEventData } from '@azure/event-hubs';
import { Registry } from 'prom-client';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { ConfigError, InvalidArgument, Unavailable } from '../../shared/errors/app-error.js';
import type { EventLog } from '../../shared/event-log/event-log.js';
import { loadConfig } from '../../shared/config/config.js';
import { createEventHubsEventLog, EventHubsEventLog, type EventHubsEventLogOptions } from '../../shared/event-log/event-hubs-event-log.js';
import { startAzuriteBlob, type AzuriteBlob } from '../support/azurite.js';
import { partitionForKey, startEventHubsPeer, type EventHubsPeer, type EventHubsPeerOptions } from '../support/event-hubs-peer.js';
import { eventLogContract, type EventLogFixture } from './event-log-contract.js';

let azurite: AzuriteBlob | undefined;

async function ensureAzurite(): Promise<AzuriteBlob> {
  azurite ??= await startAzuriteBlob();
  return azurite;
}

/** A fresh hub (its own in-process peer) and a fresh checkpoint container; fast load balancing. */
async function eventHubsFixture(
  extra: Partial<EventHubsEventLogOptions> = {},
  peerOptions: EventHubsPeerOptions = {},
): Promise<EventLogFixture & { log: EventHubsEventLog; peer: EventHubsPeer }> {
  const blob = await ensureAzurite();
  const peer = await startEventHubsPeer({ hub: `hub-${randomUUID().slice(0, 8)}`, partitions: 4, ...peerOptions });
  const containerName = `ckpt-${randomUUID().slice(0, 12)}`;
  const make = () =>
    new EventHubsEventLog({
      connectionString: peer.connectionString,
      checkpoints: { connectionString: blob.connectionString, containerName },
      loadBalancingIntervalMs: 150,
      ownershipExpirationMs: 10_000,
      retry: { maxRetries: 1, retryDelayMs: 50, timeoutMs: 3000 },
      redeliveryBackoffMs: { initial: 20, max: 200 },
      ...extra,
    });
  const log = make();
  const opened: EventLog[] = [log];
  return {
    log,
    peer,
    async open() {
      const other = make();
      opened.push(other);
      return other;
    },
    async appendRaw(_target, raw) {
      peer.injectRaw('0', raw);
    },
    async cleanup() {
      await Promise.all(opened.map((l) => l.close()));
      await peer.stop();
      await BlobServiceClient.fromConnectionString(blob.connectionString).getContainerClient(containerName).deleteIfExists();
    },
  };
}

describe('Event Hubs (rhea peer + Azurite)', function () {
  this.timeout(60_000);

  before(async function () {
    await ensureAzurite();
  });

  after(async function () {
    await azurite?.stop();
    azurite = undefined;
  });

  eventLogContract('Azure Event Hubs', () => eventHubsFixture(), { settleMs: 1500 });

  describe('EventHubsEventLog (Event Hubs specifics)', function () {
    let fx: Awaited<ReturnType<typeof eventHubsFixture>> | undefined;

    afterEach(async function () {
      await fx?.cleanup();
      fx = undefined;
    });

    it('splits a large append into as many sendBatch calls as the message size limit needs', async function () {
      fx = await eventHubsFixture({}, { maxMessageSize: 8 * 1024 });
      // One customer: one partition key, in order; ~300 bytes each → several 8 KiB batches.
      const events = Array.from({ length: 200 }, (_, i) => event('c-big', i));
      const before = fx.peer.batchesReceived;
      await fx.log.append(events);
      const batches = fx.peer.batchesReceived - before;
      const bytes = events.reduce((s, e) => s + JSON.stringify(e).length, 0);
      assert.ok(batches >= Math.ceil(bytes / (8 * 1024)), `${batches} batches for ${bytes} bytes`);
      const stored = fx.peer.partitionIds.flatMap((p) => fx!.peer.bodies(p).map((b) => ({ p, e: JSON.parse(b) as ShowroomEvent })));
      assert.equal(stored.length, 200);
      assert.equal(new Set(stored.map((s) => s.p)).size, 1, 'one key → one partition');
      assert.deepEqual(
        stored.map((s) => s.e.eventId),
        events.map((e) => e.eventId),
        'order kept across batches',
      );
    });

    it('sends many keys concurrently, each key to one partition', async function () {
      fx = await eventHubsFixture();
      const events = Array.from({ length: 300 }, (_, i) => event(`c-${i % 60}`, i));
      await fx.log.append(events);
      const where = new Map<string, Set<string>>();
      for (const p of fx.peer.partitionIds) {
        for (const b of fx.peer.bodies(p)) {
          const e = JSON.parse(b) as ShowroomEvent;
          const set = where.get(e.customerId!) ?? new Set();
          set.add(p);
          where.set(e.customerId!, set);
        }
      }
      assert.equal(where.size, 60);
      for (const [c, ps] of where) {
        assert.deepEqual([...ps], [String(partitionForKey(`c:${c}`, 4))], `${c} in the partition the service's hash picks`);
      }
      const used = fx.peer.partitionIds.filter((p) => fx!.peer.count(p) > 0);
      assert.ok(used.length >= 3, 'keys spread over partitions');
    });

    it('rejects an event larger than one message with InvalidArgument', async function () {
      fx = await eventHubsFixture({}, { maxMessageSize: 512 });
      const tooBig: ShowroomEvent = { ...event('c-1', 0), sessionId: 's'.repeat(128), properties: { query: 'q'.repeat(256) } };
      assert.ok(JSON.stringify(tooBig).length > 512);
      await assert.rejects(fx.log.append([tooBig]), InvalidArgument);
    });

    it('rejects append with Unavailable when the hub refuses or is gone, never reporting success', async function () {
      fx = await eventHubsFixture({ retry: { maxRetries: 0, timeoutMs: 1500 } });
      await fx.log.append([event('c-1', 0)]);
      fx.peer.rejectSends = true;
      await assert.rejects(fx.log.append([event('c-2', 1)]), Unavailable);
      fx.peer.rejectSends = false;
      await fx.log.append([event('c-3', 2)]);
      await fx.peer.stop();
      await assert.rejects(fx.log.append([event('c-4', 3)]), Unavailable);
      await assert.rejects(fx.log.ping(), Unavailable);
    });

    it('computes lag from partition properties minus checkpoints, per partition', async function () {
      fx = await eventHubsFixture();
      assert.deepEqual(
        (await fx.log.lag('g')).map((l) => l.lag),
        [0, 0, 0, 0],
        'empty hub',
      );
      const events = Array.from({ length: 40 }, (_, i) => event(`c-${i % 8}`, i));
      await fx.log.append(events);
      const counts = fx.peer.partitionIds.map((p) => fx!.peer.count(p));
      assert.deepEqual(
        (await fx.log.lag('g')).map((l) => l.lag),
        counts,
        'no checkpoint: everything is lag',
      );
      let seen = 0;
      const sub = await fx.log.subscribe({ group: 'g', maxBatchSize: 5 }, async (b) => {
        seen += b.events.length;
      });
      while (seen < 40) await new Promise((r) => setTimeout(r, 20));
      await sub.close();
      assert.deepEqual(
        (await fx.log.lag('g')).map((l) => l.lag),
        [0, 0, 0, 0],
      );
      fx.peer.injectRaw('2', 'x');
      fx.peer.injectRaw('2', 'y');
      assert.deepEqual(
        (await fx.log.lag('g')).map((l) => l.lag),
        [0, 0, 2, 0],
      );
    });

    it('a receiver with a higher owner level steals the partition link (amqp:link:stolen)', async function () {
      fx = await eventHubsFixture({}, { partitions: 1 });
      await fx.log.append([event('c-1', 0)]);
      const errors: string[] = [];
      const mk = () => new EventHubConsumerClient('$Default', fx!.peer.connectionString);
      const first = mk();
      const second = mk();
      const got: ReceivedEventData[] = [];
      const handlers = (tag: string) => ({
        processEvents: async (evs: ReceivedEventData[]) => {
          got.push(...evs);
        },
        processError: async (err: Error) => {
          errors.push(`${tag}:${(err as Error & { code?: string }).code ?? err.name}`);
        },
      });
      const s1 = first.subscribe('0', handlers('first'), { ownerLevel: 1, startPosition: earliestEventPosition, maxWaitTimeInSeconds: 0.1 });
      while (got.length < 1) await new Promise((r) => setTimeout(r, 20));
      const s2 = second.subscribe('0', handlers('second'), { ownerLevel: 2, startPosition: earliestEventPosition, maxWaitTimeInSeconds: 0.1 });
      const deadline = Date.now() + 5000;
      while (!errors.some((e) => e.startsWith('first:ReceiverDisconnectedError')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(
        errors.some((e) => e.startsWith('first:ReceiverDisconnectedError')),
        `first receiver stolen: ${errors.join(', ')}`,
      );
      await Promise.all([s1.close(), s2.close()]);
      await Promise.all([first.close(), second.close()]);
    });

    it('peer: reports last-enqueued properties to a receiver that tracks them', async function () {
      fx = await eventHubsFixture({}, { partitions: 1 });
      await fx.log.append(Array.from({ length: 3 }, (_, i) => event('c-1', i)));
      const client = new EventHubConsumerClient('$Default', fx.peer.connectionString);
      let last: number | undefined;
      const sub = client.subscribe(
        '0',
        {
          processEvents: async (evs, ctx) => {
            if (evs.length > 0) last = ctx.lastEnqueuedEventProperties?.sequenceNumber;
          },
          processError: async () => {},
        },
        { startPosition: earliestEventPosition, trackLastEnqueuedEventProperties: true, maxBatchSize: 1, maxWaitTimeInSeconds: 0.1 },
      );
      const deadline = Date.now() + 5000;
      while (last === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await sub.close();
      await client.close();
      assert.equal(last, 2);
    });

    it('counts appended and delivered events in the registry', async function () {
      const registry = new Registry();
      fx = await eventHubsFixture({ registry });
      await fx.log.append(Array.from({ length: 6 }, (_, i) => event(`c-${i}`, i)));
      let delivered = 0;
      const sub = await fx.log.subscribe({ group: 'm' }, async (b) => {
        delivered += b.events.length;
      });
      while (delivered < 6) await new Promise((r) => setTimeout(r, 20));
      await sub.close();
      const text = await registry.metrics();
      assert.match(text, /showroom_event_log_appended_total 6/);
      assert.match(text, /showroom_event_log_delivered_total\{group="m"\} 6/);
    });

    it('createEventHubsEventLog builds the log from configuration', async function () {
      fx = await eventHubsFixture();
      const blob = await ensureAzurite();
      const config = loadConfig({
        EVENTHUBS_CONNECTION_STRING: fx.peer.connectionString,
        SHOWROOM_EVENTHUBS_CHECKPOINT_STORE: blob.connectionString,
        SHOWROOM_EVENTHUBS_CHECKPOINT_CONTAINER: `cfg-${randomUUID().slice(0, 8)}`,
      });
      const log = createEventHubsEventLog(config);
      try {
        assert.equal(log.hubName, fx.peer.hub, 'EntityPath of the connection string wins over EVENTHUB_NAME');
        await log.ping();
        await log.append([event('c-cfg', 0)]);
        assert.equal(fx.peer.partitionIds.reduce((n, p) => n + fx!.peer.count(p), 0), 1);
      } finally {
        await log.close();
      }
      assert.throws(() => createEventHubsEventLog(loadConfig({ EVENTHUBS_CONNECTION_STRING: fx!.peer.connectionString })), ConfigError);
    });

    it('peer: honours offset, sequence-number and enqueued-time start positions', async function () {
      fx = await eventHubsFixture({}, { partitions: 1 });
      for (let i = 0; i < 5; i++) fx.peer.injectRaw('0', `body-${i}`);
      await new Promise((r) => setTimeout(r, 20));
      const cutoff = new Date();
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 5; i < 8; i++) fx.peer.injectRaw('0', `body-${i}`);
      const client = new EventHubConsumerClient('$Default', fx.peer.connectionString);
      const firstSeq = async (startPosition: EventPosition, expected: number): Promise<number[]> => {
        const got: number[] = [];
        const sub = client.subscribe(
          '0',
          {
            processEvents: async (evs) => {
              got.push(...evs.map((e) => e.sequenceNumber));
            },
            processError: async () => {},
          },
          { startPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 0.1 },
        );
        // Until the expected count arrived, then a little longer to catch extras.
        const deadline = Date.now() + 5000;
        while (got.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 100));
        await sub.close();
        return got;
      };
      try {
        const all = await firstSeq(earliestEventPosition, 8);
        assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert.deepEqual(await firstSeq({ sequenceNumber: 3 }, 4), [4, 5, 6, 7]);
        assert.deepEqual(await firstSeq({ sequenceNumber: 3, isInclusive: true }, 5), [3, 4, 5, 6, 7]);
        const props = await client.getPartitionProperties('0');
        assert.equal(props.lastEnqueuedSequenceNumber, 7);
        // Offsets are opaque strings; the one of event 6 is the start of "after 6".
        const offsets: string[] = [];
        const sub = client.subscribe(
          '0',
          {
            processEvents: async (evs) => {
              offsets.push(...evs.map((e) => e.offset));
            },
            processError: async () => {},
          },
          { startPosition: earliestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 0.1 },
        );
        while (offsets.length < 8) await new Promise((r) => setTimeout(r, 20));
        await sub.close();
        assert.deepEqual(await firstSeq({ offset: offsets[6]! }, 1), [7]);
        assert.deepEqual(await firstSeq({ offset: offsets[6]!, isInclusive: true }, 2), [6, 7]);
        assert.deepEqual(await firstSeq({ enqueuedOn: cutoff }, 3), [5, 6, 7]);
        // `latest`: only what arrives after the receiver attached.
        const latest: number[] = [];
        const sub2 = client.subscribe(
          '0',
          {
            processEvents: async (evs) => {
              latest.push(...evs.map((e) => e.sequenceNumber));
            },
            processError: async () => {},
          },
          { startPosition: latestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 0.1 },
        );
        const deadline = Date.now() + 5000;
        while (fx.peer.receivers('0') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        fx.peer.injectRaw('0', 'body-8');
        while (latest.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await sub2.close();
        assert.deepEqual(latest, [8]);
      } finally {
        await client.close();
      }
    });

    it('reports a bad connection string as ConfigError without quoting the key', function () {
      assert.throws(
        () =>
          new EventHubsEventLog({
            connectionString: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=s3cr3t;UseDevelopmentEmulator=true',
            checkpoints: { connectionString: 'UseDevelopmentStorage=true', containerName: 'unused' },
          }),
        (err: Error) => err instanceof ConfigError && /EntityPath/.test(err.message) && !err.message.includes('s3cr3t'),
      );
    });

    it('does not connect in the constructor', async function () {
      const log = new EventHubsEventLog({
        connectionString: 'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=x;SharedAccessKey=y;EntityPath=nowhere;UseDevelopmentEmulator=true',
        checkpoints: { connectionString: (await ensureAzurite()).connectionString, containerName: 'unused' },
        retry: { maxRetries: 0, timeoutMs: 1000 },
      });
      assert.equal(log.partitionCount, 4);
      await assert.rejects(log.ping(), Unavailable);
      await log.close();
    });
  });
});

function event(customerId: string, i: number): ShowroomEvent {
  const at = new Date(Date.UTC(2026, 0, 1, 12, 0, 0, i)).toISOString();
  return {
    eventId: `ev-${randomUUID()}`,
    type: 'view',
    customerId,
    vehicleId: `v-${i % 50}`,
    occurredAt: at,
    receivedAt: at,
    properties: { channel: 'web', position: i, query: 'blue hatchback under 20k with low mileage and a sunroof' },
  };
}
