import { hostname } from 'node:os';
import {
  EventHubConsumerClient,
  EventHubProducerClient,
  earliestEventPosition,
  latestEventPosition,
  type EventData,
  type PartitionContext,
  type ReceivedEventData,
  type RetryOptions,
  type Subscription as SdkSubscription,
} from '@azure/event-hubs';
import { BlobCheckpointStore } from '@azure/eventhubs-checkpointstore-blob';
import { ContainerClient } from '@azure/storage-blob';
import type { Registry } from 'prom-client';
import type { Config } from '../config/config.js';
import { parseEvent, partitionKeyOf, type ShowroomEvent } from '../domain/event.js';
import { parseEventFast } from '../domain/fast-event-parse.js';
import { ConfigError, InvalidArgument, Unavailable, errorMessage } from '../errors/app-error.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import type { BatchHandler, EventLog, LogBatch, PartitionLag, SubscribeOptions, Subscription, UndecodableRecord } from './event-log.js';
import { EventLogMetrics } from './event-log-metrics.js';

/** Where checkpoints and partition ownership live (Azure Blob / Azurite). */
export type CheckpointContainer = ContainerClient | { connectionString: string; containerName: string };

export interface EventHubsEventLogOptions {
  /** Event Hubs connection string (`Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...[;EntityPath=hub]`). */
  connectionString: string;
  /** Event hub name; required unless the connection string has `EntityPath`. */
  eventHubName?: string;
  /** Blob container for checkpoints and ownership (created if missing on first subscribe). */
  checkpoints: CheckpointContainer;
  /** Partition count reported before the hub was asked (default 4); updated by `ping()`/`lag()`. */
  partitionCount?: number;
  /** How often each consumer instance re-balances partition ownership, ms (default 10 000). */
  loadBalancingIntervalMs?: number;
  /**
   * `balanced` (default) claims one partition per interval, the steadiest for long-running
   * fleets; `greedy` claims its whole fair share at once (faster start, more stealing).
   */
  loadBalancingStrategy?: 'balanced' | 'greedy';
  /** Ownership not renewed for this long is free to claim, ms (default 60 000). */
  ownershipExpirationMs?: number;
  /** SDK retries for sends and management calls (defaults: 3 retries, 60 s per try). */
  retry?: { maxRetries?: number; retryDelayMs?: number; maxRetryDelayMs?: number; timeoutMs?: number };
  /** Partition keys sent concurrently by one `append` (default 32). */
  sendConcurrency?: number;
  /** First and longest wait between redeliveries of a batch whose handler rejected, ms (default 100 / 5000). */
  redeliveryBackoffMs?: { initial: number; max: number };
  logger?: Logger;
  /** Prometheus registry for the event-log metrics (see EventLogMetrics). */
  registry?: Registry;
}

/**
 * Builds the Event Hubs log from the configuration: `EVENTHUBS_CONNECTION_STRING`, `EVENTHUB_NAME`,
 * checkpoints in `SHOWROOM_EVENTHUBS_CHECKPOINT_STORE` (a Blob connection string) /
 * `SHOWROOM_EVENTHUBS_CHECKPOINT_CONTAINER`. Throws ConfigError when a setting is missing or malformed.
 */
export function createEventHubsEventLog(config: Config, deps: { logger?: Logger; registry?: Registry } = {}): EventHubsEventLog {
  if (!config.eventHubsConnectionString) {
    throw new ConfigError('EVENTHUBS_CONNECTION_STRING is not set', [{ field: 'EVENTHUBS_CONNECTION_STRING', message: 'is required for Event Hubs' }]);
  }
  if (!config.eventHubsCheckpointStore) {
    throw new ConfigError('SHOWROOM_EVENTHUBS_CHECKPOINT_STORE must be a Blob storage connection string when Event Hubs is used', [
      { field: 'SHOWROOM_EVENTHUBS_CHECKPOINT_STORE', message: 'is required with EVENTHUBS_CONNECTION_STRING' },
    ]);
  }
  return new EventHubsEventLog({
    connectionString: config.eventHubsConnectionString,
    // EntityPath in the connection string wins (the SDK rejects a different eventHubName).
    eventHubName: /(^|;)\s*EntityPath=/i.test(config.eventHubsConnectionString) ? undefined : config.eventHubName,
    checkpoints: { connectionString: config.eventHubsCheckpointStore, containerName: config.eventHubsCheckpointContainer },
    logger: deps.logger,
    registry: deps.registry,
  });
}

/** Hides keys and signatures that SDK error messages may quote from a connection string. */
function redactSecrets(text: string): string {
  return text.replace(/(SharedAccessKey|SharedAccessSignature|AccountKey)=[^;"']*/gi, '$1=[redacted]');
}

/** Decodes one received event body (JSON of a ShowroomEvent) into an event or an undecodable record. */
export function decodeEventBody(
  body: unknown,
  partition: string,
  position: string,
): { ok: true; event: ShowroomEvent } | { ok: false; record: UndecodableRecord } {
  let raw: string;
  if (Buffer.isBuffer(body)) raw = body.toString('utf8');
  else if (body instanceof Uint8Array) raw = Buffer.from(body).toString('utf8');
  else if (typeof body === 'string') raw = body;
  else raw = JSON.stringify(body) ?? String(body);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { ok: false, record: { partition, position, raw, reason: `not JSON: ${errorMessage(err)}` } };
  }
  const fast = parseEventFast(json, { keepReceivedAt: true });
  if (fast) return { ok: true, event: fast };
  const r = parseEvent(json, { keepReceivedAt: true });
  if (!r.ok) {
    const reason = `invalid event: ${r.fields.map((f) => `${f.field} ${f.message}`).join('; ')}`;
    return { ok: false, record: { partition, position, raw, reason } };
  }
  return { ok: true, event: r.event };
}

/**
 * EventLog on Azure Event Hubs (`@azure/event-hubs` v6) with checkpoints and partition ownership
 * in Blob storage (`@azure/eventhubs-checkpointstore-blob`).
 *
 * - `append`: events are grouped by `partitionKeyOf(event)`; each group goes out as as many
 *   `sendBatch` calls as the link's max message size needs (`createBatch({ partitionKey })`),
 *   in order, one group after another per key; different keys are sent concurrently. Resolves once
 *   the service accepted every batch; otherwise rejects with Unavailable (an event larger than one
 *   message rejects with InvalidArgument). Not atomic and not idempotent: after a rejection some
 *   groups may be stored, and a retried call stores them again (consumers dedupe by `eventId`).
 * - `subscribe`: an `EventHubConsumerClient` per subscription, load-balancing partitions across
 *   all instances of the group (balanced strategy by default, owner level 0 so a new owner steals the link).
 *   Each batch holds events of one partition in sequence order; positions are sequence numbers.
 *   The checkpoint (last event of the batch) is written only after the handler resolves. When the
 *   handler rejects, the SAME batch is handed to it again after a backoff (100 ms doubling to 5 s),
 *   until it resolves, the partition is lost to another instance, or the subscription closes —
 *   nothing after it in that partition is delivered meanwhile, so order is kept. A batch that was
 *   never checkpointed (crash, close, lost partition) is redelivered from the last checkpoint by
 *   whichever instance owns the partition next.
 * - Retention is the hub's (Event Hubs: 1–7 days standard, up to 90 premium): a group that falls
 *   further behind loses events; watch `lag`.
 * - No client connects in the constructor; the first call does.
 */
export class EventHubsEventLog implements EventLog {
  private knownPartitionCount: number;
  private readonly connectionString: string;
  private readonly eventHubName?: string;
  private readonly producer: EventHubProducerClient;
  private readonly container: ContainerClient;
  private readonly checkpointStore: BlobCheckpointStore;
  private readonly retryOptions: RetryOptions;
  private readonly loadBalancingIntervalMs: number;
  private readonly loadBalancingStrategy: 'balanced' | 'greedy';
  private readonly ownershipExpirationMs: number;
  private readonly sendConcurrency: number;
  private readonly backoff: { initial: number; max: number };
  private readonly logger: Logger;
  private readonly metrics: EventLogMetrics;
  private readonly subscriptions = new Set<EventHubsSubscription>();
  private readonly groups = new Set<string>();
  private containerReady?: Promise<void>;
  private closed = false;

  constructor(options: EventHubsEventLogOptions) {
    this.connectionString = options.connectionString;
    this.eventHubName = options.eventHubName || undefined;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'event-hubs-event-log' });
    this.knownPartitionCount = options.partitionCount ?? 4;
    const r = options.retry ?? {};
    this.retryOptions = {
      ...(r.maxRetries === undefined ? {} : { maxRetries: r.maxRetries }),
      ...(r.retryDelayMs === undefined ? {} : { retryDelayInMs: r.retryDelayMs }),
      ...(r.maxRetryDelayMs === undefined ? {} : { maxRetryDelayInMs: r.maxRetryDelayMs }),
      ...(r.timeoutMs === undefined ? {} : { timeoutInMs: r.timeoutMs }),
    };
    this.loadBalancingIntervalMs = options.loadBalancingIntervalMs ?? 10_000;
    this.loadBalancingStrategy = options.loadBalancingStrategy ?? 'balanced';
    this.ownershipExpirationMs = options.ownershipExpirationMs ?? 60_000;
    this.sendConcurrency = Math.max(1, options.sendConcurrency ?? 32);
    this.backoff = options.redeliveryBackoffMs ?? { initial: 100, max: 5000 };
    try {
      // Parses the connection string only; the AMQP connection opens on first use.
      this.producer = this.eventHubName
        ? new EventHubProducerClient(this.connectionString, this.eventHubName, { retryOptions: this.retryOptions })
        : new EventHubProducerClient(this.connectionString, { retryOptions: this.retryOptions });
      this.container =
        options.checkpoints instanceof ContainerClient
          ? options.checkpoints
          : new ContainerClient(options.checkpoints.connectionString, options.checkpoints.containerName);
    } catch (err) {
      const message = redactSecrets(errorMessage(err));
      throw new ConfigError(`Event Hubs configuration is invalid: ${message}`, [{ field: 'EVENTHUBS_CONNECTION_STRING', message }]);
    }
    this.checkpointStore = new BlobCheckpointStore(this.container);
    this.metrics = new EventLogMetrics(options.registry);
    this.metrics.watchLag(this);
  }

  get partitionCount(): number {
    return this.knownPartitionCount;
  }

  /** The hub name the clients use. */
  get hubName(): string {
    return this.producer.eventHubName;
  }

  async append(events: ShowroomEvent[]): Promise<void> {
    if (this.closed) throw new Unavailable('event log is closed');
    if (events.length === 0) return;
    const byKey = new Map<string, ShowroomEvent[]>();
    for (const e of events) {
      const key = partitionKeyOf(e);
      const list = byKey.get(key);
      if (list) list.push(e);
      else byKey.set(key, [e]);
    }
    const groups = [...byKey.entries()];
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      while (failure === undefined && next < groups.length) {
        const [key, list] = groups[next++]!;
        try {
          await this.sendKey(key, list);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.sendConcurrency, groups.length) }, worker));
    if (failure !== undefined) {
      if (failure instanceof InvalidArgument) throw failure;
      throw new Unavailable(`Event Hubs did not accept the events: ${errorMessage(failure)}`, failure);
    }
    this.metrics.appendedEvents(events.length);
  }

  /** Sends one key's events in order, in as many batches as the size limit needs. Returns the batch count. */
  async sendKey(partitionKey: string, events: ShowroomEvent[]): Promise<number> {
    let sent = 0;
    let batch = await this.producer.createBatch({ partitionKey });
    for (const e of events) {
      const data: EventData = { body: Buffer.from(JSON.stringify(e)), contentType: 'application/json' };
      if (batch.tryAdd(data)) continue;
      if (batch.count === 0) {
        throw new InvalidArgument(`event ${e.eventId} is larger than the ${batch.maxSizeInBytes}-byte Event Hubs message limit`, [
          { field: 'eventId', message: `event ${e.eventId} is too large` },
        ]);
      }
      await this.producer.sendBatch(batch);
      sent++;
      batch = await this.producer.createBatch({ partitionKey });
      if (!batch.tryAdd(data)) {
        throw new InvalidArgument(`event ${e.eventId} is larger than the ${batch.maxSizeInBytes}-byte Event Hubs message limit`, [
          { field: 'eventId', message: `event ${e.eventId} is too large` },
        ]);
      }
    }
    if (batch.count > 0) {
      await this.producer.sendBatch(batch);
      sent++;
    }
    return sent;
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.closed) throw new Unavailable('event log is closed');
    await this.ensureContainer();
    const consumerId = options.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const clientOptions = {
      identifier: consumerId,
      retryOptions: this.retryOptions,
      loadBalancingOptions: {
        strategy: this.loadBalancingStrategy,
        updateIntervalInMs: this.loadBalancingIntervalMs,
        partitionOwnershipExpirationIntervalInMs: this.ownershipExpirationMs,
      },
    };
    const client = this.eventHubName
      ? new EventHubConsumerClient(options.group, this.connectionString, this.eventHubName, this.checkpointStore, clientOptions)
      : new EventHubConsumerClient(options.group, this.connectionString, this.checkpointStore, clientOptions);
    const sub = new EventHubsSubscription({
      client,
      group: options.group,
      handler,
      maxBatchSize: options.maxBatchSize ?? 1000,
      maxWaitMs: options.maxWaitMs ?? 100,
      startFrom: options.startFrom ?? 'earliest',
      backoff: this.backoff,
      logger: this.logger.child({ group: options.group, consumer: consumerId }),
      onDelivered: (n) => this.metrics.deliveredEvents(options.group, n),
      onClosed: (s) => this.subscriptions.delete(s),
    });
    this.subscriptions.add(sub);
    this.groups.add(options.group);
    sub.start();
    return sub;
  }

  /** Groups this instance subscribed (reported by the lag metric). */
  lagGroups(): string[] {
    return [...this.groups];
  }

  /**
   * Per-partition lag of `group`: last enqueued sequence number minus the group's checkpointed
   * sequence number (all retained events when the group has no checkpoint on that partition).
   */
  async lag(group: string): Promise<PartitionLag[]> {
    await this.ensureContainer();
    try {
      const props = await this.producer.getEventHubProperties();
      this.knownPartitionCount = props.partitionIds.length;
      const [partitions, checkpoints] = await Promise.all([
        Promise.all(props.partitionIds.map((id) => this.producer.getPartitionProperties(id))),
        this.checkpointStore.listCheckpoints(this.producer.fullyQualifiedNamespace, this.producer.eventHubName, group),
      ]);
      const bySeq = new Map(checkpoints.map((c) => [c.partitionId, c.sequenceNumber]));
      return partitions.map((p) => {
        if (p.isEmpty) return { partition: p.partitionId, lag: 0 };
        const done = bySeq.get(p.partitionId) ?? p.beginningSequenceNumber - 1;
        return { partition: p.partitionId, lag: Math.max(0, p.lastEnqueuedSequenceNumber - Math.max(done, p.beginningSequenceNumber - 1)) };
      });
    } catch (err) {
      throw new Unavailable(`cannot read Event Hubs lag of group ${group}: ${errorMessage(err)}`, err);
    }
  }

  async ping(): Promise<void> {
    try {
      const props = await this.producer.getEventHubProperties();
      this.knownPartitionCount = props.partitionIds.length;
    } catch (err) {
      throw new Unavailable(`Event Hubs is unreachable: ${errorMessage(err)}`, err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.metrics.unwatchLag(this);
    await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
    await this.producer.close().catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'closing the Event Hubs producer failed'));
  }

  private ensureContainer(): Promise<void> {
    this.containerReady ??= this.container.createIfNotExists().then(
      () => undefined,
      (err: unknown) => {
        this.containerReady = undefined;
        throw new Unavailable(`cannot reach the checkpoint container ${this.container.containerName}: ${errorMessage(err)}`, err);
      },
    );
    return this.containerReady;
  }
}

interface SubscriptionParams {
  client: EventHubConsumerClient;
  group: string;
  handler: BatchHandler;
  maxBatchSize: number;
  maxWaitMs: number;
  startFrom: 'earliest' | 'latest';
  backoff: { initial: number; max: number };
  logger: Logger;
  onDelivered: (n: number) => void;
  onClosed: (s: EventHubsSubscription) => void;
}

class EventHubsSubscription implements Subscription {
  private sdkSubscription?: SdkSubscription;
  private closing = false;
  private closedPromise?: Promise<void>;
  private readonly inFlight = new Set<Promise<void>>();
  /** Partitions this instance lost or closed: their retry loops stop. */
  private readonly released = new WeakSet<PartitionContext>();
  private readonly wakeups = new Set<() => void>();

  constructor(private readonly p: SubscriptionParams) {}

  start(): void {
    this.sdkSubscription = this.p.client.subscribe(
      {
        processEvents: (events, context) => this.processEvents(events, context),
        processError: async (err, context) => {
          if (this.closing) return;
          const code = (err as Error & { code?: string }).code;
          const partition = context.partitionId || undefined;
          // A partition moving to another instance of the group is routine load balancing.
          if (code === 'ReceiverDisconnectedError') this.p.logger.info({ partition }, 'partition taken over by another consumer');
          else this.p.logger.warn({ err: errorMessage(err), code, partition }, 'Event Hubs consumer error');
        },
        processInitialize: async (context) => {
          this.released.delete(context);
        },
        processClose: async (reason, context) => {
          this.released.add(context);
          this.p.logger.debug({ partition: context.partitionId, reason }, 'partition released');
          this.wake();
        },
      },
      {
        maxBatchSize: this.p.maxBatchSize,
        maxWaitTimeInSeconds: Math.max(0.01, this.p.maxWaitMs / 1000),
        startPosition: this.p.startFrom === 'latest' ? latestEventPosition : earliestEventPosition,
        skipParsingBodyAsJson: true,
      },
    );
  }

  private processEvents(events: ReceivedEventData[], context: PartitionContext): Promise<void> {
    if (events.length === 0 || this.closing) return Promise.resolve();
    const run = this.deliver(events, context);
    this.inFlight.add(run);
    return run.finally(() => this.inFlight.delete(run));
  }

  private async deliver(events: ReceivedEventData[], context: PartitionContext): Promise<void> {
    const partition = context.partitionId;
    const batch: LogBatch = { partition, events: [], positions: [], undecodable: [] };
    for (const e of events) {
      const position = String(e.sequenceNumber);
      const r = decodeEventBody(e.body, partition, position);
      if (r.ok) {
        batch.events.push(r.event);
        batch.positions.push(position);
      } else {
        batch.undecodable.push(r.record);
      }
    }
    let delay = this.p.backoff.initial;
    for (let attempt = 1; ; attempt++) {
      if (this.closing || this.released.has(context)) return;
      try {
        await this.p.handler(batch);
        break;
      } catch (err) {
        this.p.logger.warn({ err: errorMessage(err), partition, attempt, retryInMs: delay }, 'batch handler failed; redelivering the same batch');
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.p.backoff.max);
      }
    }
    if (this.released.has(context)) return;
    // Checkpoint failures propagate: the SDK stops this partition's pump and the processor
    // restarts it from the last stored checkpoint (the batch is redelivered).
    await context.updateCheckpoint(events[events.length - 1]!);
    this.p.onDelivered(batch.events.length);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeups.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.wakeups]) w();
  }

  close(): Promise<void> {
    this.closedPromise ??= (async () => {
      this.closing = true;
      this.wake();
      // Let the batches in hand finish (handler + checkpoint) before the links go away.
      await Promise.allSettled([...this.inFlight]);
      try {
        await this.sdkSubscription?.close();
      } catch (err) {
        this.p.logger.warn({ err: errorMessage(err) }, 'closing the Event Hubs subscription failed');
      }
      await this.p.client.close().catch((err: unknown) => this.p.logger.warn({ err: errorMessage(err) }, 'closing the Event Hubs consumer failed'));
      this.p.onClosed(this);
    })();
    return this.closedPromise;
  }
}
