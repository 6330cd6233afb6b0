import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { runBatch, scoreShardStage, type BatchContext } from '../../offline/batch/batch-pipeline.js';
import { ComputePool } from '../../offline/batch/compute-pool.js';
import { DuckDbLakeReader } from '../../offline/lake-reader/duckdb-lake-reader.js';
import { getModel } from '../../offline/models/registry.js';
import { createPipelineStages } from '../../offline/worker/pipeline-stages.js';
import { skippedRowsLine } from '../../scripts/commands/batch-command.js';
import type { StageContext } from '../../offline/worker/batch-worker.js';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import type { RunRecord } from '../../shared/domain/prediction.js';
import { InvalidDocumentId } from '../../shared/prediction-store/cosmos-prediction-store.js';
import type { PredictionStore } from '../../shared/prediction-store/prediction-store.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake, vehicle, writeEvents, writeSnapshot, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const AS_OF = '2026-03-08T00:00:00.000Z';
const MODEL = 'item-knn';
/** Customers whose ids Cosmos DB cannot hold, or that changed on the way into the lake. */
const BAD_CUSTOMERS = ['evil/c1', '<script>x</script>', 'a#b', 'x\uD800'];

/** A logger that keeps its lines (to check what was logged, and how often). */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger: Logger = pino({ level: 'debug' }, stream);
  return { logger, lines };
}

/**
 * Issue 13, defect 3: the lake may already hold events whose ids are outside the id alphabet
 * (written before the schema enforced it, or by other producers). The batch job skips and counts
 * them; one bad row never fails a run.
 */
describe('offline batch with ids outside the id alphabet in the lake (local lake → embedded Cosmos)', function () {
  this.timeout(120_000);
  let cosmos: TestCosmos;
  let store: PredictionStore;
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let goodCustomers: Set<string>;

  before(async () => {
    cosmos = await startTestCosmos();
    store = await cosmos.openStore();
    fx = await tempLake();
    const lakeData = await writeSyntheticLake(fx.lake, fx.dir, { customers: 150, vehicles: 60, days: 7, asOf: AS_OF });
    goodCustomers = new Set(lakeData.events.filter((e) => e.customerId && e.vehicleId).map((e) => e.customerId!));
    // Rows written straight to Parquet, bypassing the API schema.
    const at = (h: number) => new Date(Date.parse(AS_OF) - h * 3_600_000).toISOString();
    const vids = lakeData.vehicles.slice(0, 6).map((v) => v.vehicleId);
    const bad: ShowroomEvent[] = [];
    let n = 0;
    for (const customerId of BAD_CUSTOMERS) {
      for (const vehicleId of vids) bad.push({ eventId: `bad-${n++}`, type: 'view', customerId, vehicleId, occurredAt: at(5 + n), receivedAt: at(5 + n) });
    }
    bad.push({ eventId: `bad-${n++}`, type: 'favorite', customerId: 'c000001', vehicleId: 'v/1', occurredAt: at(3), receivedAt: at(3) });
    bad.push({ eventId: 'e/1', type: 'view', customerId: 'c-only-bad-event', vehicleId: vids[0]!, occurredAt: at(3), receivedAt: at(3) });
    // After asOf: only a catalog read at a later instant applies it.
    bad.push({ eventId: `bad-${n++}`, type: 'vehicle_listed', vehicleId: 'v#2', occurredAt: at(-1), receivedAt: at(-1), properties: { vehicle: { make: 'Kia', model: 'Rio', year: 2020, bodyStyle: 'sedan', price: 9_000 } } });
    await writeEvents(fx.lake, fx.dir, bad, 'legacy', 0);
    // The catalog snapshot of the asOf day holds a vehicle the store cannot hold either.
    const snapshot = lakeData.vehicles.map((v) => (lakeData.sold.has(v.vehicleId) ? { ...v, soldAt: at(30) } : v));
    await writeSnapshot(fx.lake, fx.dir, AS_OF.slice(0, 10), [...snapshot, vehicle('v?3')]);
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  it('the lake reader leaves out and counts the rows, per field, with a few examples', async () => {
    const reader = new DuckDbLakeReader(fx.lake);
    try {
      const data = await reader.readDataset({ asOf: AS_OF, lookbackDays: 7 });
      const { examples, ...counts } = data.stats.skipped!;
      assert.deepEqual(counts, { eventId: 1, customerId: BAD_CUSTOMERS.length * 6, vehicleId: 1, catalogVehicleId: 1 });
      assert.ok(examples.length >= 3 && examples.length <= 5, JSON.stringify(examples));
      assert.ok(examples.some((x) => x.startsWith('customerId ')) && examples.some((x) => x.includes('e/1')) && examples.some((x) => x.includes('v/1')), JSON.stringify(examples));
      assert.deepEqual(new Set(data.customerIds), goodCustomers);
      for (const id of [...data.customerIds, ...data.vehicleIds]) assert.match(id, /^[A-Za-z0-9._:@+=~|-]{1,128}$/);
      // The snapshot row and an inventory event (listed after the snapshot) are both left out of the catalog.
      const later = await reader.readCatalog('2026-03-08T02:00:00.000Z');
      assert.equal(later.skippedVehicleIds?.count, 2);
      assert.ok(!later.vehicles.has('v#2') && !later.forSale.has('v#2') && !later.vehicles.has('v?3'));
    } finally {
      reader.close();
    }
  });

  it('an inline run succeeds and is activated; good customers have predictions; the skipped counts are on the run record', async () => {
    const { logger, lines } = capturingLogger();
    const r = await runBatch({ lake: fx.lake, store, asOf: AS_OF, lookbackDays: 7, topN: 10, threads: 0, runId: 'bad-ids-inline', logger });
    assert.equal(r.run.status, 'succeeded', r.run.error);
    assert.equal(r.activated, true);
    assert.equal((await store.getActiveRun(MODEL))?.runId, 'bad-ids-inline');
    const stored = await store.getRun(MODEL, 'bad-ids-inline');
    assert.deepEqual(
      { e: stored?.counts.skippedInvalidEventId, c: stored?.counts.skippedInvalidCustomerId, v: stored?.counts.skippedInvalidVehicleId, cat: stored?.counts.skippedInvalidCatalogVehicleId },
      { e: 1, c: BAD_CUSTOMERS.length * 6, v: 1, cat: 1 },
    );
    // The `showroom batch run` summary shows them.
    assert.equal(skippedRowsLine(stored!.counts), `skipped lake rows with an id outside the id alphabet: eventId 1, customerId ${BAD_CUSTOMERS.length * 6}, vehicleId 1, catalog vehicleId 1`);
    assert.equal(stored?.counts.customers, goodCustomers.size);
    assert.equal(await store.countPredictions(MODEL, 'bad-ids-inline'), goodCustomers.size);
    for (const c of [...goodCustomers].slice(0, 10)) assert.ok((await store.getPrediction(MODEL, 'bad-ids-inline', c))?.items.length, c);
    const nb = await store.listNeighbors(MODEL, 'bad-ids-inline');
    assert.ok(nb.length > 0 && nb.every((d) => /^[A-Za-z0-9._:@+=~|-]+$/.test(d.vehicleId)));
    // Logged once, with examples, not once per row.
    const skippedLogs = lines.filter((l) => String(l.msg).includes('id outside the id alphabet'));
    assert.equal(skippedLogs.length, 1, JSON.stringify(lines.map((l) => l.msg)));
    assert.ok(Array.isArray(skippedLogs[0]!.examples));
  });

  it('the queue stages (BullMQ worker path) record the same counts and finalize', async () => {
    const stages = createPipelineStages({ lake: fx.lake, store, threads: 0, config: { topN: 10, lookbackDays: 7 } });
    const job = { model: MODEL, runId: 'bad-ids-queue', asOf: AS_OF, shards: 2, trigger: 'manual' as const, requestedAt: AS_OF };
    const ctx: StageContext = {
      logger: silentLogger(),
      signal: new AbortController().signal,
      onProgress: () => undefined,
      async updateRun(mutate) {
        const now = new Date().toISOString();
        const r: RunRecord = (await store.getRun(MODEL, job.runId)) ?? { id: job.runId, kind: 'run', model: MODEL, runId: job.runId, status: 'pending', asOf: AS_OF, params: {}, counts: {}, timings: {}, createdAt: now, updatedAt: now };
        await mutate(r);
        await store.putRun(r);
        return r;
      },
    };
    await stages.train(job, ctx);
    await stages.scoreShard(job, 0, 2, ctx);
    await stages.scoreShard(job, 1, 2, ctx);
    const out = await stages.finalize(job, ctx);
    const run = await store.getRun(MODEL, job.runId);
    assert.equal(out.activated, true, JSON.stringify(out));
    assert.equal(run?.counts.skippedInvalidCustomerId, BAD_CUSTOMERS.length * 6);
    assert.equal(run?.counts.skippedInvalidVehicleId, 1);
    assert.equal(run?.counts.predictionsWritten, goodCustomers.size);
    assert.equal(await store.countPredictions(MODEL, job.runId), goodCustomers.size);
  });

  it('defence in depth: a prediction the store refuses as invalid is counted and skipped, the rest written', async () => {
    // A dataset as another reader might hand it over: one customer id Cosmos DB cannot hold.
    const reader = new DuckDbLakeReader(fx.lake);
    const data = await reader.readDataset({ asOf: AS_OF, lookbackDays: 7 }).finally(() => reader.close());
    const customerIds = data.customerIds.slice();
    customerIds[0] = 'evil/c1';
    const model = getModel(MODEL);
    const pool = new ComputePool(0);
    const { logger, lines } = capturingLogger();
    const ctx: BatchContext = { lake: fx.lake, store, config: { predictionTtlDays: 14, gateNdcgTolerance: 0.1, gateCoverageTolerance: 0.2, lookbackDays: 7, topN: 10 }, logger, onProgress: () => undefined, pool };
    try {
      const artefact = model.train(data, model.defaultParams);
      const s = await scoreShardStage(ctx, model, 'bad-ids-depth', artefact, { ...data, customerIds }, { topN: 10, params: model.defaultParams });
      assert.equal(s.rejected, 1);
      assert.equal(s.written, customerIds.length - 1);
      assert.equal(await store.countPredictions(MODEL, 'bad-ids-depth'), customerIds.length - 1);
      assert.equal(lines.filter((l) => String(l.msg).includes('refused by the store as invalid')).length, 1);
      // A point read of such an id is refused before any request (it would address another path).
      for (const id of ['evil/c1', 'a#b', 'a?b', 'a\\b']) {
        await assert.rejects(store.getPrediction(MODEL, 'bad-ids-depth', id), (err: unknown) => err instanceof InvalidDocumentId && err.id === `${MODEL}:bad-ids-depth:${id}` && err.status === 400);
      }
    } finally {
      await pool.close();
    }
  });
});
