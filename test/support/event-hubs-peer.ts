import type { Server } from 'node:net';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Receiver, type Sender } from 'rhea';

/**
 * An AMQP 1.0 peer (on `rhea`) that speaks the part of the Azure Event Hubs protocol the
 * official `@azure/event-hubs` v6 client uses, so the real SDK can be tested without Azure:
 *
 * - SASL ANONYMOUS (PLAIN and MSSBCBS are accepted too); plain TCP, as the client uses with
 *   `UseDevelopmentEmulator=true` (the port comes from the `Endpoint=sb://host:port` of the string).
 * - `$cbs` put-token: every token is accepted (status-code 202).
 * - `$management` READ of `com.microsoft:eventhub` and `com.microsoft:partition`.
 * - Senders to `<hub>` (partition key in `x-opt-partition-key` → the service's hash → partition; no key →
 *   round-robin) and `<hub>/Partitions/<id>`; batched messages (format 0x80013700, one data
 *   section per inner message) and plain messages; `max_message_size` is advertised and enforced.
 * - Receivers on `<hub>/ConsumerGroups/<cg>/Partitions/<id>` honouring the selector filter on
 *   `x-opt-offset`, `x-opt-sequence-number` (`>` and `>=`) and `x-opt-enqueued-time` (`>`) and link
 *   credit; events carry `x-opt-sequence-number`, `x-opt-offset`, `x-opt-enqueued-time`,
 *   `x-opt-partition-key` (and the last-enqueued delivery annotations when the receiver asks for
 *   `com.microsoft:enable-receiver-runtime-metric`, i.e. `trackLastEnqueuedEventProperties`).
 * - Owner level (`com.microsoft:epoch`): a receiver with epoch >= the current one detaches the
 *   older receivers of that consumer group + partition with `amqp:link:stolen`; a lower epoch, or
 *   no epoch while an epoch receiver is attached, is refused with the same condition.
 *
 * Storage is in memory; nothing expires (no retention), sequence numbers start at 0 and offsets
 * are byte positions (as strings).
 */
export interface EventHubsPeer {
  port: number;
  hub: string;
  partitionIds: string[];
  /** `Endpoint=sb://127.0.0.1:<port>;...;EntityPath=<hub>;UseDevelopmentEmulator=true` */
  connectionString: string;
  /** Appends a raw event (body as a data section) to a partition, as if a producer sent it. */
  injectRaw(partition: string, body: Buffer | string, partitionKey?: string): void;
  /** Number of events stored in a partition. */
  count(partition: string): number;
  /** Bodies stored in a partition (decoded as UTF-8), for assertions. */
  bodies(partition: string): string[];
  /** Receiver links attached to a partition right now (all consumer groups). */
  receivers(partition: string): number;
  /** Batched transfers received so far (one per `sendBatch`). */
  readonly batchesReceived: number;
  /** While true, every transfer to the hub is rejected with `amqp:internal-error` (the SDK retries it, then fails). */
  rejectSends: boolean;
  stop(): Promise<void>;
}

export interface EventHubsPeerOptions {
  hub?: string;
  partitions?: number;
  /** Largest message the peer accepts, advertised on sender links (default 1 MiB like Event Hubs standard). */
  maxMessageSize?: number;
}

const BATCH_FORMAT = 0x80013700;

interface StoredEvent {
  seq: number;
  offset: number;
  enqueuedAt: number;
  partitionKey?: string;
  message: Message;
}

interface PartitionState {
  id: string;
  events: StoredEvent[];
  nextOffset: number;
}

interface ConsumerLink {
  sender: Sender;
  connection: Connection;
  group: string;
  partition: PartitionState;
  epoch: number | undefined;
  next: number;
  scheduled: boolean;
  /** The client asked for `com.microsoft:enable-receiver-runtime-metric` (last enqueued info per event). */
  runtimeMetrics: boolean;
}

interface RemoteAttach {
  source?: { address?: string; filter?: unknown } | null;
  target?: { address?: string } | null;
  properties?: Record<string, unknown> | null;
  desired_capabilities?: string | string[] | null;
}

interface DataSection {
  typecode: number;
  content: Buffer | Buffer[];
  multiple?: boolean;
}

function remoteAttach(link: Sender | Receiver): RemoteAttach {
  return ((link as unknown as { remote: { attach?: RemoteAttach } }).remote.attach ?? {}) as RemoteAttach;
}

/**
 * Partition of a partition key as the Event Hubs service computes it (Jenkins lookup3 over the
 * UTF-8 bytes, high ^ low word cast to int16, modulo the partition count) — ported from the
 * SDK's `impl/partitionKeyToIdMapper.js`, which mirrors the service.
 */
export function partitionForKey(partitionKey: string, partitionCount: number): number {
  const data = Buffer.from(partitionKey, 'utf8');
  let a: number, b: number, c: number;
  a = b = c = 0xdeadbeef + data.length;
  let index = 0;
  let size = data.length;
  while (size > 12) {
    a += data.readUInt32LE(index);
    b += data.readUInt32LE(index + 4);
    c += data.readUInt32LE(index + 8);
    a -= c; a ^= (c << 4) | (c >>> 28); c += b;
    b -= a; b ^= (a << 6) | (a >>> 26); a += c;
    c -= b; c ^= (b << 8) | (b >>> 24); b += a;
    a -= c; a ^= (c << 16) | (c >>> 16); c += b;
    b -= a; b ^= (a << 19) | (a >>> 13); a += c;
    c -= b; c ^= (b << 4) | (b >>> 28); b += a;
    index += 12;
    size -= 12;
  }
  if (size > 0) {
    if (size === 12) {
      a += data.readUInt32LE(index);
      b += data.readUInt32LE(index + 4);
      c += data.readUInt32LE(index + 8);
    } else {
      if (size >= 11) c += data[index + 10]! << 16;
      if (size >= 10) c += data[index + 9]! << 8;
      if (size >= 9) c += data[index + 8]!;
      if (size >= 8) b += data.readUInt32LE(index + 4);
      else {
        if (size >= 7) b += data[index + 6]! << 16;
        if (size >= 6) b += data[index + 5]! << 8;
        if (size >= 5) b += data[index + 4]!;
      }
      if (size >= 4) a += data.readUInt32LE(index);
      else {
        if (size >= 3) a += data[index + 2]! << 16;
        if (size >= 2) a += data[index + 1]! << 8;
        a += data[index]!;
      }
    }
    c ^= b; c -= (b << 14) | (b >>> 18);
    a ^= c; a -= (c << 11) | (c >>> 21);
    b ^= a; b -= (a << 25) | (a >>> 7);
    c ^= b; c -= (b << 16) | (b >>> 16);
    a ^= c; a -= (c << 4) | (c >>> 28);
    b ^= a; b -= (a << 14) | (a >>> 18);
    c ^= b; c -= (b << 24) | (b >>> 8);
  }
  const hash = new Int16Array([(c >>> 0) ^ (b >>> 0)])[0]!;
  return Math.abs(hash % partitionCount);
}

/** Finds the selector expression anywhere inside a decoded source filter. */
function findSelector(value: unknown, depth = 0): string | undefined {
  if (depth > 6 || value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value.includes('amqp.annotation.') ? value : undefined;
  if (typeof value !== 'object') return undefined;
  for (const v of Object.values(value as Record<string, unknown>)) {
    const found = findSelector(v, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Index of the first event a receiver with this selector should get. */
function startIndex(partition: PartitionState, selector: string | undefined): number {
  if (!selector) return 0;
  const m = /amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time)\s*(>=|>)\s*'([^']*)'/.exec(selector);
  if (!m) throw new Error(`unsupported selector: ${selector}`);
  const [, field, op, raw] = m as unknown as [string, string, string, string];
  const events = partition.events;
  if (field === 'offset') {
    if (raw === '@latest') return events.length;
    const v = Number(raw);
    if (!Number.isFinite(v)) throw new Error(`bad offset: ${raw}`);
    const i = events.findIndex((e) => (op === '>=' ? e.offset >= v : e.offset > v));
    return i === -1 ? events.length : i;
  }
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`bad ${field}: ${raw}`);
  const i = events.findIndex((e) => {
    const x = field === 'sequence-number' ? e.seq : e.enqueuedAt;
    return op === '>=' ? x >= v : x > v;
  });
  return i === -1 ? events.length : i;
}

function bodyBuffers(body: unknown): Buffer[] {
  if (body && typeof body === 'object' && 'typecode' in body) {
    const s = body as DataSection;
    if (s.typecode !== 0x75) throw new Error(`unexpected body section 0x${s.typecode.toString(16)} in a batch`);
    return Array.isArray(s.content) ? s.content : [s.content];
  }
  if (Buffer.isBuffer(body)) return [body];
  throw new Error('batch message without data sections');
}

/** Starts the peer on a free loopback port. Call `stop()` in `after()`. */
export async function startEventHubsPeer(options: EventHubsPeerOptions = {}): Promise<EventHubsPeer> {
  const hub = options.hub ?? 'showroom-events';
  const partitionCount = options.partitions ?? 4;
  const maxMessageSize = options.maxMessageSize ?? 1024 * 1024;
  const createdAt = new Date();
  const partitions = new Map<string, PartitionState>();
  for (let i = 0; i < partitionCount; i++) partitions.set(String(i), { id: String(i), events: [], nextOffset: 0 });
  const partitionIds = [...partitions.keys()];
  const consumers = new Set<ConsumerLink>();
  const replyLinks = new Map<Connection, Map<string, Sender>>();
  const connections = new Set<Connection>();
  let roundRobin = 0;
  let batchesReceived = 0;

  const container = rhea.create_container({ id: 'event-hubs-peer' });
  const mechs = container.sasl_server_mechanisms as Record<string, unknown> & { enable_anonymous(): void; enable_plain(cb: () => boolean): void };
  mechs.enable_anonymous();
  mechs.enable_plain(() => true);
  mechs['MSSBCBS'] = () => ({
    outcome: undefined as boolean | undefined,
    username: 'mssbcbs',
    start() {
      this.outcome = true;
    },
  });

  const consumerRe = new RegExp(`^${escapeRe(hub)}/ConsumerGroups/([^/]+)/Partitions/([^/]+)$`, 'i');
  const senderRe = new RegExp(`^${escapeRe(hub)}(?:/Partitions/([^/]+))?$`, 'i');

  function store(partition: PartitionState, message: Message, partitionKey: string | undefined, size: number): void {
    const event: StoredEvent = {
      seq: partition.events.length,
      offset: partition.nextOffset,
      enqueuedAt: Date.now(),
      message,
      ...(partitionKey === undefined ? {} : { partitionKey }),
    };
    partition.nextOffset += Math.max(1, size);
    partition.events.push(event);
  }

  function route(partitionId: string | undefined, partitionKey: string | undefined): PartitionState {
    if (partitionId !== undefined) {
      const p = partitions.get(partitionId);
      if (!p) throw new Error(`partition ${partitionId} does not exist`);
      return p;
    }
    if (partitionKey !== undefined) return partitions.get(partitionIds[partitionForKey(partitionKey, partitionIds.length)]!)!;
    return partitions.get(partitionIds[roundRobin++ % partitionIds.length]!)!;
  }

  /**
   * Sends what the link's credit allows. Deferred to the next turn so that a detach/end read in
   * the same buffer as a flow is seen first (no transfer on a link the client already closed).
   */
  function pump(link: ConsumerLink): void {
    if (link.scheduled) return;
    link.scheduled = true;
    setImmediate(() => {
      link.scheduled = false;
      pumpNow(link);
    });
  }

  function pumpNow(link: ConsumerLink): void {
    if (!consumers.has(link) || !link.sender.is_open() || !link.sender.is_remote_open()) return;
    const events = link.partition.events;
    while (link.next < events.length && link.sender.sendable()) {
      const e = events[link.next++]!;
      const annotations: Record<string, unknown> = {
        ...(e.message.message_annotations ?? {}),
        'x-opt-sequence-number': rhea.types.wrap_long(e.seq),
        'x-opt-offset': String(e.offset),
        'x-opt-enqueued-time': new Date(e.enqueuedAt),
      };
      if (e.partitionKey !== undefined) annotations['x-opt-partition-key'] = e.partitionKey;
      const out = { ...e.message, message_annotations: annotations } as Message;
      if (link.runtimeMetrics) {
        const last = events[events.length - 1]!;
        out.delivery_annotations = {
          last_enqueued_sequence_number: rhea.types.wrap_long(last.seq),
          last_enqueued_offset: String(last.offset),
          last_enqueued_time_utc: new Date(last.enqueuedAt),
          runtime_info_retrieval_time_utc: new Date(),
        };
      }
      link.sender.send(out);
    }
  }

  function pumpPartition(partition: PartitionState): void {
    for (const c of consumers) if (c.partition === partition) pump(c);
  }

  function reply(ctx: EventContext, request: Message, status: number, description: string, body?: unknown): void {
    const conn = ctx.connection;
    const to = typeof request.reply_to === 'string' ? request.reply_to : undefined;
    const link = to ? replyLinks.get(conn)?.get(to) : undefined;
    if (!link) return;
    const response: Message = {
      correlation_id: request.message_id,
      to,
      application_properties: { 'status-code': status, 'status-description': description },
      ...(body === undefined ? {} : { body }),
    } as Message;
    link.send(response);
  }

  function onManagement(ctx: EventContext, msg: Message): void {
    const props = (msg.application_properties ?? {}) as Record<string, unknown>;
    if (props.operation !== 'READ') return reply(ctx, msg, 400, `unsupported operation ${String(props.operation)}`);
    if (props.name !== hub) return reply(ctx, msg, 404, `event hub ${String(props.name)} not found`);
    if (props.type === 'com.microsoft:eventhub') {
      return reply(ctx, msg, 200, 'OK', {
        name: hub,
        type: 'com.microsoft:eventhub',
        created_at: createdAt,
        partition_count: partitionIds.length,
        partition_ids: partitionIds,
      });
    }
    if (props.type === 'com.microsoft:partition') {
      const p = partitions.get(String(props.partition));
      if (!p) return reply(ctx, msg, 404, `partition ${String(props.partition)} not found`);
      const last = p.events[p.events.length - 1];
      return reply(ctx, msg, 200, 'OK', {
        name: hub,
        type: 'com.microsoft:partition',
        partition: p.id,
        begin_sequence_number: rhea.types.wrap_long(0),
        last_enqueued_sequence_number: rhea.types.wrap_long(last ? last.seq : -1),
        last_enqueued_offset: last ? String(last.offset) : '-1',
        last_enqueued_time_utc: new Date(last ? last.enqueuedAt : 0),
        is_partition_empty: p.events.length === 0,
      });
    }
    return reply(ctx, msg, 400, `unsupported type ${String(props.type)}`);
  }

  function onEventTransfer(ctx: EventContext, receiver: Receiver, delivery: Delivery): void {
    const address = remoteAttach(receiver).target?.address ?? '';
    const m = senderRe.exec(address);
    if (!m) {
      delivery.reject({ condition: 'amqp:not-found', description: `no entity ${address}` });
      return;
    }
    const ctxAny = ctx as EventContext & { format?: number };
    const raw = ctx.message as unknown;
    try {
      if (peer.rejectSends) throw new Error('peer is rejecting sends');
      const size = Buffer.isBuffer(raw) ? raw.length : 0;
      if (size > maxMessageSize) {
        delivery.reject({ condition: 'amqp:link:message-size-exceeded', description: `message of ${size} bytes exceeds ${maxMessageSize}` });
        return;
      }
      let inner: { message: Message; size: number }[];
      let envelopeKey: unknown;
      if (Buffer.isBuffer(raw)) {
        const envelope = rhea.message.decode(raw) as unknown as Message;
        envelopeKey = envelope.message_annotations?.['x-opt-partition-key'];
        if (ctxAny.format === BATCH_FORMAT) {
          inner = bodyBuffers(envelope.body).map((b) => ({ message: rhea.message.decode(b) as unknown as Message, size: b.length }));
        } else {
          inner = [{ message: envelope, size: raw.length }];
        }
      } else {
        const single = raw as Message;
        envelopeKey = single.message_annotations?.['x-opt-partition-key'];
        inner = [{ message: single, size: 1 }];
      }
      batchesReceived++;
      const key = typeof envelopeKey === 'string' ? envelopeKey : undefined;
      const target = route(m[1], key);
      for (const { message, size: s } of inner) {
        const k = message.message_annotations?.['x-opt-partition-key'];
        store(target, message, typeof k === 'string' ? k : key, s);
      }
      delivery.accept();
      pumpPartition(target);
    } catch (err) {
      delivery.reject({ condition: 'amqp:internal-error', description: (err as Error).message });
    }
  }

  function onConsumerOpen(sender: Sender, connection: Connection, address: string): void {
    const m = consumerRe.exec(address)!;
    const group = m[1]!;
    const partition = partitions.get(m[2]!);
    sender.set_source({ address });
    const attach = remoteAttach(sender);
    if (attach.target) sender.set_target(attach.target as { address: string });
    // Events go out pre-settled: the client sends no dispositions that could race a session end.
    (sender as unknown as { local: { attach: { snd_settle_mode: number } } }).local.attach.snd_settle_mode = 1;
    if (!partition) {
      sender.close({ condition: 'amqp:not-found', description: `partition ${m[2]} does not exist` });
      return;
    }
    const rawEpoch = attach.properties?.['com.microsoft:epoch'];
    const epoch = rawEpoch === undefined || rawEpoch === null ? undefined : Number(rawEpoch);
    const rivals = [...consumers].filter((c) => c.group.toLowerCase() === group.toLowerCase() && c.partition === partition);
    const highest = rivals.reduce<number | undefined>((h, c) => (c.epoch === undefined ? h : Math.max(h ?? -Infinity, c.epoch)), undefined);
    if (epoch === undefined && highest !== undefined) {
      sender.close({ condition: 'amqp:link:stolen', description: `an owner-level (epoch ${highest}) receiver is active on partition ${partition.id}` });
      return;
    }
    if (epoch !== undefined && highest !== undefined && epoch < highest) {
      sender.close({ condition: 'amqp:link:stolen', description: `a receiver with a higher epoch (${highest}) is active on partition ${partition.id}` });
      return;
    }
    if (epoch !== undefined) {
      for (const rival of rivals) {
        consumers.delete(rival);
        rival.sender.close({
          condition: 'amqp:link:stolen',
          description: `New receiver with higher epoch of '${epoch}' is created hence current receiver with epoch '${rival.epoch ?? 'none'}' is getting disconnected.`,
        });
      }
    }
    let next: number;
    try {
      next = startIndex(partition, findSelector(attach.source?.filter));
    } catch (err) {
      sender.close({ condition: 'amqp:invalid-field', description: (err as Error).message });
      return;
    }
    const caps = attach.desired_capabilities;
    const runtimeMetrics = (Array.isArray(caps) ? caps : caps ? [caps] : []).includes('com.microsoft:enable-receiver-runtime-metric');
    const link: ConsumerLink = { sender, connection, group, partition, epoch, next, scheduled: false, runtimeMetrics };
    consumers.add(link);
    sender.on('sendable', () => pump(link));
  }

  container.on('connection_open', (ctx: EventContext) => {
    connections.add(ctx.connection);
  });
  container.on('sender_open', (ctx: EventContext) => {
    const sender = ctx.sender!;
    const attach = remoteAttach(sender);
    const address = attach.source?.address ?? '';
    if (address === '$cbs' || address === '$management') {
      sender.set_source({ address });
      if (attach.target) sender.set_target(attach.target as { address: string });
      (sender as unknown as { local: { attach: { snd_settle_mode: number } } }).local.attach.snd_settle_mode = 1;
      let byName = replyLinks.get(ctx.connection);
      if (!byName) replyLinks.set(ctx.connection, (byName = new Map()));
      byName.set(sender.name, sender);
      const targetAddress = attach.target?.address;
      if (targetAddress) byName.set(targetAddress, sender);
      return;
    }
    if (consumerRe.test(address)) return onConsumerOpen(sender, ctx.connection, address);
    sender.set_source({ address });
    sender.close({ condition: 'amqp:not-found', description: `no entity ${address}` });
  });
  container.on('receiver_open', (ctx: EventContext) => {
    const receiver = ctx.receiver!;
    const attach = remoteAttach(receiver);
    const address = attach.target?.address ?? '';
    receiver.set_target({ address });
    if (attach.source) receiver.set_source(attach.source as { address: string });
    if (address === '$cbs' || address === '$management') return;
    if (!senderRe.test(address)) {
      receiver.close({ condition: 'amqp:not-found', description: `no entity ${address}` });
      return;
    }
    (receiver as unknown as { local: { attach: { max_message_size: number } } }).local.attach.max_message_size = maxMessageSize;
  });
  container.on('message', (ctx: EventContext) => {
    const receiver = ctx.receiver!;
    const delivery = ctx.delivery!;
    const address = remoteAttach(receiver).target?.address ?? '';
    if (address === '$cbs') {
      delivery.accept();
      reply(ctx, ctx.message!, 202, 'Accepted');
      return;
    }
    if (address === '$management') {
      delivery.accept();
      onManagement(ctx, ctx.message!);
      return;
    }
    onEventTransfer(ctx, receiver, delivery);
  });
  const dropLink = (ctx: EventContext) => {
    for (const c of consumers) if (c.sender === ctx.sender) consumers.delete(c);
  };
  container.on('sender_close', dropLink);
  container.on('sender_error', dropLink);
  const dropConnection = (ctx: EventContext) => {
    for (const c of consumers) if (c.connection === ctx.connection) consumers.delete(c);
    replyLinks.delete(ctx.connection);
    connections.delete(ctx.connection);
  };
  container.on('disconnected', dropConnection);
  container.on('connection_close', dropConnection);
  container.on('error', () => {
    /* link errors from clients that go away are expected */
  });

  const server: Server = container.listen({ port: 0, host: '127.0.0.1', autoaccept: false } as unknown as Parameters<typeof container.listen>[0]) as Server;
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  const peer: EventHubsPeer = {
    port,
    hub,
    partitionIds,
    connectionString: `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=x;SharedAccessKey=y;EntityPath=${hub};UseDevelopmentEmulator=true`,
    rejectSends: false,
    get batchesReceived() {
      return batchesReceived;
    },
    injectRaw(partition, body, partitionKey) {
      const p = route(partition, undefined);
      const data = typeof body === 'string' ? Buffer.from(body) : body;
      const message = { body: rhea.message.data_section(data) } as Message;
      if (partitionKey !== undefined) message.message_annotations = { 'x-opt-partition-key': partitionKey };
      store(p, message, partitionKey, data.length);
      pumpPartition(p);
    },
    count(partition) {
      return partitions.get(partition)?.events.length ?? 0;
    },
    receivers(partition) {
      return [...consumers].filter((c) => c.partition.id === partition).length;
    },
    bodies(partition) {
      return (partitions.get(partition)?.events ?? []).map((e) => {
        const b = e.message.body as unknown;
        const buf = bodyBuffers(b)[0];
        return buf ? buf.toString('utf8') : '';
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) {
          const socket = (c as unknown as { socket?: { destroy(): void } }).socket;
          c.close();
          socket?.destroy();
        }
        server.close(() => resolve());
      }),
  };
  return peer;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

