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
