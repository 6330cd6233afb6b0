import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { eventFileKey, partitionOf, vehicleSnapshotKey } from '../../shared/lake/lake-paths.js';
import { writeEventsParquet, writeVehiclesParquet } from '../../shared/lake/parquet-codec.js';

/** A temporary local lake; `cleanup()` removes it. */
export async function tempLake(): Promise<{ lake: LocalLake; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'showroom-offline-'));
  return { lake: new LocalLake(join(dir, 'lake')), dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes events into their hour partitions (one file per partition per call, `writer-seq`). */
export async function writeEvents(lake: LocalLake, dir: string, events: ShowroomEvent[], writer = 'test', seq = 0): Promise<void> {
  const groups = new Map<string, ShowroomEvent[]>();
  for (const e of events) {
    const p = partitionOf(e.occurredAt);
    const key = eventFileKey(p.date, p.hour, writer, seq);
    const list = groups.get(key) ?? [];
    list.push(e);
    groups.set(key, list);
  }
  let i = 0;
  for (const [key, list] of groups) {
    const tmp = join(dir, `ev-${writer}-${seq}-${i++}.parquet`);
    await writeEventsParquet(tmp, list);
    await lake.put(key, tmp);
  }
}

export async function writeSnapshot(lake: LocalLake, dir: string, date: string, vehicles: Vehicle[]): Promise<void> {
  const tmp = join(dir, `veh-${date}.parquet`);
  await writeVehiclesParquet(tmp, vehicles);
  await lake.put(vehicleSnapshotKey(date), tmp);
}

let counter = 0;
/** A customer event with defaults. */
export function ev(type: ShowroomEvent['type'], customerId: string | undefined, vehicleId: string | undefined, occurredAt: string, extra: Partial<ShowroomEvent> = {}): ShowroomEvent {
  counter += 1;
  return {
    eventId: `e${counter}`,
    type,
    ...(customerId ? { customerId } : {}),
    ...(vehicleId ? { vehicleId } : {}),
    occurredAt,
    receivedAt: occurredAt,
    ...extra,
  };
}

export function vehicle(id: string, extra: Partial<Vehicle> = {}): Vehicle {
  return { vehicleId: id, make: 'Toyota', model: 'RAV4', year: 2021, bodyStyle: 'suv', price: 24_000, ...extra };
}

/**
 * A small structured lake for batch tests: vehicles in segments (body style × price band),
 * customers who mostly engage with one or two segments, daily catalog snapshots, a few sales.
 * Deterministic for a seed. Returns what it wrote.
 */
export async function writeSyntheticLake(
  lake: LocalLake,
  dir: string,
  o: { customers: number; vehicles: number; days: number; asOf: string; eventsPerCustomer?: number; seed?: number },
): Promise<{ events: ShowroomEvent[]; vehicles: Vehicle[]; sold: Set<string> }> {
  let s = o.seed ?? 7;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const bodies = ['suv', 'sedan', 'truck', 'hatchback', 'coupe'];
  const prices = [12_000, 20_000, 30_000, 42_000, 60_000];
  const makes = ['Toyota', 'Ford', 'Kia', 'BMW'];
  const segments = bodies.length * prices.length;
  const asOfMs = Date.parse(o.asOf);
  const startMs = asOfMs - o.days * 86_400_000;
  const vehicles: Vehicle[] = Array.from({ length: o.vehicles }, (_, i) => {
    const seg = i % segments;
    return {
      vehicleId: `v${String(i).padStart(5, '0')}`,
      make: makes[i % makes.length]!,
      model: `M${seg}`,
      year: 2015 + (i % 9),
      bodyStyle: bodies[Math.floor(seg / prices.length)]!,
      price: prices[seg % prices.length]! + (i % 7) * 300,
      listedAt: new Date(startMs - 86_400_000).toISOString(),
    };
  });
  const bySeg: Vehicle[][] = Array.from({ length: segments }, () => []);
  vehicles.forEach((v, i) => bySeg[i % segments]!.push(v));
  const events: ShowroomEvent[] = [];
  const sold = new Set<string>();
  const per = o.eventsPerCustomer ?? 12;
  let n = 0;
  for (let c = 0; c < o.customers; c++) {
    const customerId = `c${String(c).padStart(6, '0')}`;
    const home = Math.floor(rand() * segments);
    const second = Math.floor(rand() * segments);
    const count = 2 + Math.floor(rand() * per);
    for (let e = 0; e < count; e++) {
      const r = rand();
      const seg = r < 0.65 ? home : r < 0.85 ? second : Math.floor(rand() * segments);
      const pool = bySeg[seg]!;
      // Within a segment, a few vehicles draw most attention.
      const v = pool[Math.floor(Math.pow(rand(), 2) * pool.length)]!;
      const t = startMs + rand() * (asOfMs - startMs);
      const x = rand();
      const type = x < 0.75 ? 'view' : x < 0.88 ? 'favorite' : x < 0.95 ? 'lead' : x < 0.98 ? 'test_drive' : 'hide';
      const at = new Date(Math.floor(t)).toISOString();
      events.push({ eventId: `g${n++}`, type, customerId, vehicleId: v.vehicleId, occurredAt: at, receivedAt: at });
    }
    if (rand() < 0.05) {
      const v = bySeg[home]![0]!;
      const t = new Date(asOfMs - Math.floor(rand() * 2 * 86_400_000)).toISOString();
      events.push({ eventId: `g${n++}`, type: 'purchase', customerId, vehicleId: v.vehicleId, occurredAt: t, receivedAt: t });
      if (!sold.has(v.vehicleId)) {
        sold.add(v.vehicleId);
        events.push({ eventId: `g${n++}`, type: 'vehicle_sold', vehicleId: v.vehicleId, occurredAt: t, receivedAt: t });
      }
    }
  }
  await writeEvents(lake, dir, events, 'gen', 0);
  for (let d = startMs - 86_400_000; d <= asOfMs; d += 86_400_000) {
    const date = new Date(d).toISOString().slice(0, 10);
    const snap = vehicles.map((v) => {
      const soldEv = events.find((e) => e.type === 'vehicle_sold' && e.vehicleId === v.vehicleId);
      return soldEv && Date.parse(soldEv.occurredAt) < d ? { ...v, soldAt: soldEv.occurredAt } : v;
    });
    await writeSnapshot(lake, dir, date, snap);
  }
  return { events, vehicles, sold };
}
