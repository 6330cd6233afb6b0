import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Conflict, InvalidArgument, NotFound } from '../../shared/errors/app-error.js';
import { neighborId, predictionId, type NeighborDoc, type PredictionDoc, type RunRecord } from '../../shared/domain/prediction.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';

/** A store for one suite, as the adapter's test file builds it. */
export interface PredictionStoreFixture {
  /** An initialised store on an isolated database / namespace. */
  store: PredictionStore;
  /** Closes the store and removes what the fixture created. */
  cleanup(): Promise<void>;
}

export function prediction(model: string, runId: string, customerId: string, n = 100, ttl?: number): PredictionDoc {
  return {
    id: predictionId(model, runId, customerId),
    customerId,
    model,
    runId,
    generatedAt: '2026-11-27T02:00:00.000Z',
    items: Array.from({ length: n }, (_, i) => ({ vehicleId: `v${i}`, score: Math.round((1 - i / n) * 1e4) / 1e4 })),
    ...(ttl === undefined ? {} : { ttl }),
  };
}

export function neighbors(model: string, runId: string, vehicleId: string): NeighborDoc {
  return {
    id: neighborId(model, runId, vehicleId),
    vehicleId,
    model,
    runId,
    neighbors: [{ vehicleId: `${vehicleId}-n1`, score: 0.9 }, { vehicleId: `${vehicleId}-n2`, score: 0.5 }],
  };
}

export function run(model: string, runId: string, createdAt: string, status: RunRecord['status'] = 'succeeded'): RunRecord {
  return {
    id: runId,
    kind: 'run',
    model,
    runId,
    status,
    asOf: '2026-11-27T00:00:00.000Z',
    params: { k: 50 },
    counts: { customers: 3 },
    timings: { read: 12 },
    createdAt,
    updatedAt: createdAt,
  };
}

/** Every PredictionStore adapter runs this suite. Each test uses its own model name. */
export function predictionStoreContract(name: string, factory: () => Promise<PredictionStoreFixture>): void {
  describe(`PredictionStore contract: ${name}`, function () {
    this.timeout(30_000);
    let fx: PredictionStoreFixture;
    let store: PredictionStore;
    let model: string;

    before(async function () {
      fx = await factory();
      store = fx.store;
    });
    after(async function () {
      await fx?.cleanup();
    });
    beforeEach(function () {
      model = `m-${randomUUID().slice(0, 8)}`;
    });

    it('init is idempotent and ping answers', async function () {
      await store.init();
      await store.ping();
    });

    it('upserts predictions and reads them back by point read, TTL field included', async function () {
      const docs = [prediction(model, 'r1', 'c1', 100, 3600), prediction(model, 'r1', 'c2', 5), prediction(model, 'r2', 'c1', 3)];
      const res = await store.upsertPredictions(docs);
      assert.deepEqual(res.failed, []);
      assert.equal(res.written, 3);
      const back = await store.getPrediction(model, 'r1', 'c1');
      assert.deepEqual(back, docs[0]);
      assert.equal(back?.ttl, 3600);
      assert.equal(back?.items.length, 100);
      assert.deepEqual((await store.getPrediction(model, 'r2', 'c1'))?.items, docs[2]?.items);
      assert.equal(await store.getPrediction(model, 'r1', 'nobody'), undefined);
      assert.equal(await store.getPrediction('no-such-model', 'r1', 'c1'), undefined);
    });

    it('re-upserting the same documents is idempotent', async function () {
      const docs = [prediction(model, 'r1', 'c1', 4), prediction(model, 'r1', 'c2', 4)];
      await store.upsertPredictions(docs);
      const changed = { ...prediction(model, 'r1', 'c1', 2) };
      const res = await store.upsertPredictions([changed, docs[1] as PredictionDoc]);
      assert.equal(res.written, 2);
      assert.equal(await store.countPredictions(model, 'r1'), 2);
      assert.equal((await store.getPrediction(model, 'r1', 'c1'))?.items.length, 2);
    });

    it('bulk-writes many documents with progress and reports each failed document', async function () {
      const docs = Array.from({ length: 250 }, (_, i) => prediction(model, 'r1', `c${i}`, 10));
      // Documents Cosmos DB refuses: an empty id and an id with a slash.
      const bad = [{ ...prediction(model, 'r1', 'bad', 1), id: '' }, { ...prediction(model, 'r1', 'bad2', 1), id: `${model}/r1/bad2` }];
      const progress: number[] = [];
      const res = await store.upsertPredictions([...docs.slice(0, 120), ...bad, ...docs.slice(120)], {
        concurrency: 3,
        onProgress: (n) => progress.push(n),
      });
      assert.equal(res.written, 250);
      assert.deepEqual(res.failed.map((f) => f.id).sort(), ['', `${model}/r1/bad2`]);
      for (const f of res.failed) assert.ok(f.status >= 400 && f.status < 500 && f.message.length > 0, JSON.stringify(f));
      assert.ok(progress.length >= 3, 'progress reported per chunk');
      assert.deepEqual([...progress].sort((a, b) => a - b), progress, 'progress is monotonic');
      assert.equal(progress[progress.length - 1], 250);
      assert.equal(await store.countPredictions(model, 'r1'), 250);
      assert.equal((await store.getPrediction(model, 'r1', 'c249'))?.customerId, 'c249');
    });

    it('writes neighbours, reads one, and lists exactly one run’s', async function () {
      const r1 = ['a', 'b', 'c'].map((v) => neighbors(model, 'r1', v));
      const r2 = [neighbors(model, 'r2', 'a')];
      const res = await store.upsertNeighbors([...r1, ...r2]);
      assert.equal(res.written, 4);
      const listed = await store.listNeighbors(model, 'r1');
      assert.deepEqual(listed.map((d) => d.vehicleId).sort(), ['a', 'b', 'c']);
      assert.deepEqual(listed.find((d) => d.vehicleId === 'b'), r1[1]);
      assert.deepEqual(await store.getNeighbors(model, 'r2', 'a'), r2[0]);
      assert.equal(await store.getNeighbors(model, 'r2', 'b'), undefined);
      assert.deepEqual(await store.listNeighbors(model, 'r9'), []);
    });

    it('counts a run’s predictions and deletes a run’s documents only', async function () {
      await store.upsertPredictions([...['c1', 'c2', 'c3'].map((c) => prediction(model, 'old', c, 2)), prediction(model, 'keep', 'c1', 2)]);
      await store.upsertNeighbors([neighbors(model, 'old', 'v1'), neighbors(model, 'keep', 'v1')]);
      assert.equal(await store.countPredictions(model, 'old'), 3);
      assert.equal(await store.countPredictions(model, 'keep'), 1);
      assert.equal(await store.deleteRunDocuments(model, 'old'), 4);
      assert.equal(await store.countPredictions(model, 'old'), 0);
      assert.deepEqual(await store.listNeighbors(model, 'old'), []);
      assert.equal(await store.countPredictions(model, 'keep'), 1);
      assert.equal((await store.listNeighbors(model, 'keep')).length, 1);
      assert.equal(await store.deleteRunDocuments(model, 'old'), 0, 'deleting again deletes nothing');
    });

    it('keeps a run registry: put, replace, get, list newest first with a limit', async function () {
      await store.putRun(run(model, 'r1', '2026-11-25T02:00:00.000Z'));
      await store.putRun(run(model, 'r3', '2026-11-27T02:00:00.000Z', 'running'));
      await store.putRun(run(model, 'r2', '2026-11-26T02:00:00.000Z'));
      await store.putRun({ ...run(model, 'r3', '2026-11-27T02:00:00.000Z'), stage: 'activate', metrics: { k: 10, precision: 0.1, recall: 0.2, ndcg: 0.3, map: 0.05, coverage: 0.4, customers: 3 } });
      const r3 = await store.getRun(model, 'r3');
      assert.equal(r3?.status, 'succeeded');
      assert.equal(r3?.metrics?.ndcg, 0.3);
      assert.deepEqual(r3?.params, { k: 50 });
      assert.equal(await store.getRun(model, 'nope'), undefined);
      assert.deepEqual((await store.listRuns(model)).map((r) => r.runId), ['r3', 'r2', 'r1']);
      assert.deepEqual((await store.listRuns(model, { limit: 2 })).map((r) => r.runId), ['r3', 'r2']);
      assert.deepEqual(await store.listRuns(`${model}-other`), []);
    });

    it('updateRun: 8 concurrent read-modify-write updates of one run record (created by the first) lose nothing', async function () {
      const shards = 8;
      const completions = Array.from({ length: shards }, (_, k) =>
        store.updateRun(model, 'r1', async (current) => {
          const r = current ?? { ...run(model, 'r1', '2026-11-27T02:00:00.000Z', 'running'), counts: {}, shards: { total: shards, done: [] } };
          // Work between the read and the write: every completion reads before any writes.
          await new Promise((resolve) => setTimeout(resolve, 10));
          r.counts[`predictions_shard${k}`] = 100 + k;
          r.counts.predictionsWritten = Object.entries(r.counts).filter(([key]) => key.startsWith('predictions_shard')).reduce((s, [, v]) => s + v, 0);
          r.shards = { total: shards, done: [...new Set([...(r.shards?.done ?? []), k])].sort((a, b) => a - b) };
          return r;
        }),
      );
      const results = await Promise.all(completions);
      const stored = await store.getRun(model, 'r1');
      assert.deepEqual(stored?.shards, { total: shards, done: [0, 1, 2, 3, 4, 5, 6, 7] });
      for (let k = 0; k < shards; k += 1) assert.equal(stored?.counts[`predictions_shard${k}`], 100 + k, `shard ${k}`);
      assert.equal(stored?.counts.predictionsWritten, 8 * 100 + 28);
      assert.equal(stored?.status, 'running');
      assert.ok(results.some((r) => r.shards?.done.length === shards), 'the last update returns the merged record');
      assert.ok(!Number.isNaN(Date.parse(stored?.updatedAt ?? '')));
    });

    it('updateRun refuses a record of another run and leaves the stored one unchanged', async function () {
      await store.putRun(run(model, 'r1', '2026-11-27T02:00:00.000Z'));
      await assert.rejects(store.updateRun(model, 'r1', (r) => ({ ...r!, runId: 'r2' })), InvalidArgument);
      const updated = await store.updateRun(model, 'r1', (r) => ({ ...r!, status: 'failed', error: 'x' }));
      assert.equal(updated.status, 'failed');
      assert.equal((await store.getRun(model, 'r1'))?.error, 'x');
      assert.equal((await store.listRuns(model)).length, 1);
    });

    it('flips the active-run pointer with optimistic concurrency', async function () {
      for (const [id, day] of [['r1', 25], ['r2', 26], ['r3', 27]] as const) await store.putRun(run(model, id, `2026-11-${day}T02:00:00.000Z`));
      assert.equal(await store.getActiveRun(model), undefined);
      const first = await store.activateRun(model, 'r1', { expectedRunId: null });
      assert.equal(first.runId, 'r1');
      assert.equal(first.previousRunId, undefined);
      await assert.rejects(store.activateRun(model, 'r2', { expectedRunId: null }), Conflict);
      const second = await store.activateRun(model, 'r2', { expectedRunId: 'r1' });
      assert.equal(second.previousRunId, 'r1');
      await assert.rejects(store.activateRun(model, 'r3', { expectedRunId: 'r1' }), (err: unknown) => err instanceof Conflict && err.details.activeRunId === 'r2');
      const active = await store.getActiveRun(model);
      assert.equal(active?.runId, 'r2');
      assert.equal(active?.previousRunId, 'r1');
      assert.equal(active?.kind, 'active');
      assert.ok(!Number.isNaN(Date.parse(active?.activatedAt ?? '')));
      // Rollback without an expectation.
      assert.equal((await store.activateRun(model, 'r1')).previousRunId, 'r2');
      await assert.rejects(store.activateRun(model, 'missing-run'), NotFound);
      // The pointer is not a run.
      assert.deepEqual((await store.listRuns(model)).map((r) => r.runId), ['r3', 'r2', 'r1']);
    });

    it('lets exactly one of two racing activations with the same expectation win', async function () {
      for (const id of ['r1', 'a', 'b']) await store.putRun(run(model, id, '2026-11-27T02:00:00.000Z'));
      await store.activateRun(model, 'r1');
      const results = await Promise.allSettled([
        store.activateRun(model, 'a', { expectedRunId: 'r1' }),
        store.activateRun(model, 'b', { expectedRunId: 'r1' }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      assert.ok(lost[0]?.reason instanceof Conflict, String(lost[0]?.reason));
      const active = await store.getActiveRun(model);
      assert.equal(active?.runId, (won[0] as PromiseFulfilledResult<{ runId: string }>).value.runId);
    });

    it('summarises models: active run and newest run', async function () {
      await store.putRun(run(model, 'r1', '2026-11-25T02:00:00.000Z'));
      await store.putRun(run(model, 'r2', '2026-11-26T02:00:00.000Z', 'failed'));
      await store.activateRun(model, 'r1');
      const summary = (await store.listModels()).find((m) => m.model === model);
      assert.equal(summary?.activeRunId, 'r1');
      assert.ok(summary?.activatedAt);
      assert.equal(summary?.lastRun?.runId, 'r2');
      assert.equal(summary?.lastRun?.status, 'failed');
    });
  });
}
