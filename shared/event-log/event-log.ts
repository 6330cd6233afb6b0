import type { ShowroomEvent } from '../domain/event.js';

/** A message the log holds that is not a valid event (kept for the dead-letter folder). */
export interface UndecodableRecord {
  partition: string;
  position: string;
  raw: string;
  reason: string;
}

/** A batch delivered to a subscriber: events of ONE partition, in log order. */
export interface LogBatch {
  partition: string;
  events: ShowroomEvent[];
  /** Log positions (stream ids / sequence numbers) of `events`, same order. */
  positions: string[];
  undecodable: UndecodableRecord[];
}

export interface SubscribeOptions {
  /** Consumer group (e.g. `offline-sink`, `online-profiles`). Each group sees every event. */
  group: string;
  /** Name of this instance within the group (default: host-pid-random). */
  consumer?: string;
  /** Most events per batch (default 1000). */
  maxBatchSize?: number;
  /** Longest a batch waits to fill before delivery, ms (default 100). */
  maxWaitMs?: number;
  /** Where a new group starts: `earliest` (default) or `latest`. */
  startFrom?: 'earliest' | 'latest';
  /**
   * Batches handed to the handler before earlier ones resolved (default 1: the next batch waits
   * for the handler). More lets a buffering consumer (the sink) hold batches until its output
   * is durable. Batches of one partition are still delivered in log order but may resolve
   * (checkpoint) in any order. Adapters may deliver fewer at once.
   */
  maxInFlightBatches?: number;
}

/**
 * Handles one batch. Resolve to checkpoint it; reject to have it redelivered (at least once).
 */
export type BatchHandler = (batch: LogBatch) => Promise<void>;

export interface Subscription {
  /** Stops fetching, waits for the batch in hand to finish and checkpoint. */
  close(): Promise<void>;
}

export interface PartitionLag {
  partition: string;
  /** Events appended but not yet checkpointed by the group. */
  lag: number;
}

/**
 * The durable event log (Redis Streams embedded, Azure Event Hubs in production).
 *
 * - `append` resolves only once every event is durable in the log; it rejects with
 *   Unavailable otherwise, never reporting success for an event not stored.
 * - Partitioned by `partitionKeyOf(event)`: one customer's events stay in order.
 * - `subscribe` delivers at least once; a batch is checkpointed only after its handler resolves.
 *   Undecodable messages of a batch are checkpointed with it (the handler dead-letters them).
 * - Retention: adapter-specific. Redis Streams trims by age only (SHOWROOM_EVENT_LOG_RETENTION_HOURS)
 *   and never past what a consumer group has not acknowledged; Event Hubs keeps events for the
 *   hub's retention period, whether or not a group read them.
 */
export interface EventLog {
  readonly partitionCount: number;
  /**
   * Appends events, each to the partition of its partition key, in array order. Not idempotent:
   * after a rejection some events may be stored, and a retry stores them again (consumers
   * de-duplicate by `eventId`).
   */
  append(events: ShowroomEvent[]): Promise<void>;
  subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription>;
  /** Per-partition lag of a group (for metrics). */
  lag(group: string): Promise<PartitionLag[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
