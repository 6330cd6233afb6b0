import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readEventsParquet } from '../../shared/lake/parquet-codec.js';
import { runBackfill } from '../../scripts/backfill/backfill.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { tempLake, writeSyntheticLake } from '../support/offline-lake-fixture.js';

const run = promisify(execFile);
const AS_OF = '2026-03-08';

describe('showroom backfill', function () {
  this.timeout(90_000);
  let cosmos: TestCosmos;
  let fx: Awaited<ReturnType<typeof tempLake>>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    cosmos = await startTestCosmos();
    fx = await tempLake();
    await writeSyntheticLake(fx.lake, fx.dir, { customers: 200, vehicles: 80, days: 7, asOf: `${AS_OF}T00:00:00Z`, seed: 3 });
    env = {
      ...process.env,
      LAKE_URL: `file://${fx.lake.root}`,
      COSMOS_ENDPOINT: cosmos.endpoint,
      COSMOS_KEY: cosmos.key,
      SHOWROOM_COSMOS_DATABASE: cosmos.database,
      SHOWROOM_DATA_DIR: join(fx.dir, 'data'),
      SHOWROOM_LOG_LEVEL: 'warn',
    };
  });
  after(async () => {
    await cosmos?.stop();
    await fx?.cleanup();
  });

  it('two days → two runs as of each day, only the last activated with --activate; a re-run changes nothing', async () => {
    const cli = (args: string[]) => run('npx', ['tsx', 'scripts/cli.ts', ...args], { env, maxBuffer: 1 << 24 });
    const { stdout } = await cli(['backfill', '--from', '2026-03-07', '--to', '2026-03-08', '--activate', '--lookback-days', '7', '--top-n', '10', '--threads', '0', '--json']);
    const s = JSON.parse(stdout) as { activated?: string; days: { date: string; runId: string; asOf: string; status: string; activated: boolean }[] };
    assert.deepEqual(
      s.days.map((d) => [d.runId, d.asOf, d.status, d.activated]),
      [
        ['backfill-2026-03-07', '2026-03-07T00:00:00.000Z', 'succeeded', false],
        ['backfill-2026-03-08', '2026-03-08T00:00:00.000Z', 'succeeded', true],
      ],
    );
    assert.equal(s.activated, 'backfill-2026-03-08');
    const store = await cosmos.openStore();
    assert.equal((await store.getActiveRun('item-knn'))?.runId, 'backfill-2026-03-08');
    assert.equal((await store.getRun('item-knn', 'backfill-2026-03-07'))?.activatedAt, undefined);

    // Without --activate nothing changes the active run; finished days are not recomputed.
    const again = await runBackfill({ lake: fx.lake, store, from: '2026-03-06', to: '2026-03-07', lookbackDays: 7, topN: 10, threads: 0 });
    assert.deepEqual(again.days.map((d) => [d.runId, d.activated, d.alreadyDone]), [
      ['backfill-2026-03-06', false, false],
      ['backfill-2026-03-07', false, true],
    ]);
    assert.equal(again.activated, undefined);
    assert.equal((await store.getActiveRun('item-knn'))?.runId, 'backfill-2026-03-08');
  });

  it('--lake-from rebuilds the partitions of the range from a file (one file per partition), then runs', async () => {
    const store = await cosmos.openStore();
    const file = join(fx.dir, 'rebuild.jsonl');
    const lines = [
      { eventId: 'rb-1', type: 'view', customerId: 'c000001', vehicleId: 'v00001', occurredAt: '2026-03-06T10:05:00Z' },
      { eventId: 'rb-2', type: 'lead', customerId: 'c000001', vehicleId: 'v00002', occurredAt: '2026-03-06T10:06:00Z' },
      { eventId: 'rb-3', type: 'view', customerId: 'c000002', occurredAt: '2026-03-06T10:07:00Z' },
    ];
    await writeFile(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const before = await fx.lake.list('events/date=2026-03-06/hour=10/');
    const s = await runBackfill({ lake: fx.lake, store, from: '2026-03-07', to: '2026-03-07', lookbackDays: 1, topN: 10, threads: 0, model: 'popularity', lakeFrom: { source: file, rejectsFile: join(fx.dir, 'rb.rejects.jsonl') } });
    assert.equal(s.rebuild?.events, 2);
    assert.equal(s.rebuild?.partitions, 1);
    assert.equal(s.rebuild?.rejected, 1);
    assert.equal(s.rebuild?.replacedFiles, before.length);
    assert.match(await readFile(join(fx.dir, 'rb.rejects.jsonl'), 'utf8'), /vehicleId/);
    const after = await fx.lake.list('events/date=2026-03-06/hour=10/');
    assert.equal(after.length, 1);
    assert.match(after[0]!.key, /backfill-[0-9a-f]{12}-00000000\.parquet$/);
    const events = await readEventsParquet(join(fx.lake.root, after[0]!.key));
    assert.deepEqual(events.map((e) => e.eventId), ['rb-1', 'rb-2']);
    assert.equal(s.days[0]?.status, 'succeeded');
  });
});
