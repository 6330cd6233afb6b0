import assert from 'node:assert/strict';
import { neighborId, predictionId, type NeighborDoc, type PredictionDoc, type RunRecord } from '../../shared/domain/prediction.js';
import type { Vehicle } from '../../shared/domain/vehicle.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';

/** Ten sedans `s0`..`s9` and ten SUVs `u0`..`u9`. */
export function smallCatalog(): Vehicle[] {
  const out: Vehicle[] = [];
  for (let i = 0; i < 10; i++) out.push({ vehicleId: `s${i}`, make: 'Toyota', model: 'Camry', trim: 'LE', year: 2020, bodyStyle: 'Sedan', price: 22_000 + i * 500 });
  for (let i = 0; i < 10; i++) out.push({ vehicleId: `u${i}`, make: 'Honda', model: 'CR-V', trim: 'EX', year: 2021, bodyStyle: 'SUV', price: 27_000 + i * 400 });
  return out;
}

/** The popularity list of `seedServingRun`'s run (what a degraded answer without predictions serves). */
export const POPULAR = ['u9', 's9', 'u8', 's8'];

/**
 * Writes a succeeded, activated run of `model` (neighbours of `smallCatalog`, one prediction
 * document per entry of `lists`, popularity `POPULAR`) for serving tests.
 */
export async function seedServingRun(store: PredictionStore, model: string, runId: string, lists: Record<string, string[]>): Promise<void> {
  const createdAt = '2026-01-02T02:00:00.000Z';
  const vehicles = smallCatalog();
  const neighbors: NeighborDoc[] = vehicles.map(({ vehicleId, ...vehicle }) => ({
    id: neighborId(model, runId, vehicleId),
    vehicleId,
    model,
    runId,
    vehicle,
    neighbors: vehicles.filter((o) => o.bodyStyle === vehicle.bodyStyle && o.vehicleId !== vehicleId).map((o, i) => ({ vehicleId: o.vehicleId, score: 0.9 - i * 0.05 })),
  }));
  const predictions: PredictionDoc[] = Object.entries(lists).map(([customerId, ids]) => ({
    id: predictionId(model, runId, customerId),
    customerId,
    model,
    runId,
    generatedAt: createdAt,
    items: ids.map((vehicleId, i) => ({ vehicleId, score: 1 - i * 0.05 })),
  }));
  const w1 = await store.upsertNeighbors(neighbors);
  const w2 = await store.upsertPredictions(predictions);
  assert.equal(w1.failed.length + w2.failed.length, 0);
  const run: RunRecord = {
    id: runId,
    kind: 'run',
    model,
    runId,
    status: 'succeeded',
    asOf: createdAt,
    params: {},
    counts: {},
    timings: {},
    popularity: { overall: POPULAR.map((vehicleId, i) => ({ vehicleId, score: 40 - i * 5 })), byBodyStyle: {}, byPriceBand: {} },
    createdAt,
    updatedAt: createdAt,
    finishedAt: createdAt,
  };
  await store.putRun(run);
  await store.activateRun(model, runId);
}
