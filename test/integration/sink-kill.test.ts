import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { deleteKeysWithPrefix, createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { SINK_GROUP } from '../../online/sink/offline-sink.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOTAL = 100_000;
const KILLS = 6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fault test (issue 4): the sink (a real child process: test/support/sink-child.ts, or `showroom
 * sink` with SINK_KILL_VIA_CLI=1) is SIGKILLed at random
 * moments while 100,000 events flow in and restarted each time; afterwards the distinct
 * eventIds in the lake are exactly the appended ones. Duplicates (from batches written but not
 * yet acknowledged when the process died) are allowed and reported.
 */
describe('offline sink survives SIGKILL', function () {
  this.timeout(240_000);
  let prefix: string;
  let admin: Redis;
  let log: RedisStreamsEventLog;
  let dir: string;
  let child: ChildProcess | undefined;

  before(async () => {
    prefix = `test:sinkkill:${randomUUID().slice(0, 8)}:`;
    admin = createRedis(REDIS_URL, 'test-admin', { enableOfflineQueue: true });
    log = new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, partitions: 4, trimIntervalMs: 0 });
    dir = await mkdtemp(path.join(tmpdir(), 'sink-kill-'));
    await mkdir(path.join(dir, 'tmp'), { recursive: true });
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await log.close();
    await deleteKeysWithPrefix(admin, prefix);
    await admin.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing across 6 kills while 100,000 events are appended', async () => {
    const lakeDir = path.join(dir, 'lake');
    const env = {
      ...process.env,
      REDIS_URL,
      SHOWROOM_REDIS_PREFIX: prefix,
      LAKE_URL: `file://${lakeDir}`,
      SHOWROOM_SINK_MAX_AGE_MS: '300',
      SHOWROOM_SINK_MAX_ROWS: '20000',
      SHOWROOM_LOG_LEVEL: 'info',
      TMPDIR: path.join(dir, 'tmp'),
      SINK_CONSUMER: 'kill-test-sink',
    };
    let stderr = '';
    let ready = false;
    /** Events the running child has received (sink-child only). */
    let eventsIn = 0;
    const startSink = (): ChildProcess => {
      // SINK_KILL_VIA_CLI=1 runs the real `showroom sink`; the default small entry starts ~4x faster.
      const args = process.env.SINK_KILL_VIA_CLI
        ? ['--import', 'tsx', 'scripts/cli.ts', 'sink', '--metrics-port', '0', '--consumer', 'kill-test-sink', '--json']
        : ['--import', 'tsx', 'test/support/sink-child.ts'];
      ready = false;
      const c = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      c.stderr?.on('data', (d: Buffer) => {
        const text = d.toString();
        if (text.includes('offline sink started')) ready = true;
        stderr = (stderr + text).slice(-4000);
      });
      eventsIn = 0;
      let partial = '';
      c.stdout?.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.startsWith('stats ')) eventsIn = (JSON.parse(line.slice(6)) as { eventsIn: number }).eventsIn;
      });
      return c;
    };

    // Producer: 100,000 events in batches of 500, spread over the kill phase.
    const base = Date.parse('2026-03-05T06:00:00.000Z');
    let appended = 0;
    const producer = (async () => {
      for (let b = 0; b < TOTAL / 500; b++) {
        const batch: ShowroomEvent[] = [];
        for (let i = 0; i < 500; i++) {
          const n = b * 500 + i;
          batch.push({
            eventId: `k-${n}`,
            type: 'view',
            customerId: `c-${n % 1009}`,
            vehicleId: `v-${n % 4001}`,
            occurredAt: new Date(base + n * 90).toISOString(), // 100k × 90 ms = 2.5 h → 3 hour partitions
            receivedAt: new Date(base + n * 90 + 1000).toISOString(),
          });
        }
        await log.append(batch);
        appended += batch.length;
        if (b % 10 === 9) await sleep(60);
      }
    })();

    let kills = 0;
    child = startSink();
    while (kills < KILLS) {
      // Kill at a random moment once the process has batches in hand (with the CLI, which does
      // not report progress, once it has subscribed).
      const deadline = Date.now() + 15_000; // nothing left to read: kill anyway
      const working = () => (process.env.SINK_KILL_VIA_CLI ? ready : eventsIn > 0);
      while (!working() && Date.now() < deadline && child.exitCode === null) await sleep(5);
      await sleep(Math.floor(Math.random() * (process.env.SINK_KILL_VIA_CLI ? 1500 : 600)));
      assert.equal(child.exitCode, null, `sink exited by itself: ${stderr}`);
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      kills += 1;
      child = startSink();
    }
    await producer;
    assert.equal(appended, TOTAL);

    // Drain, then stop cleanly.
    const deadline = Date.now() + 150_000;
    while ((await log.lag(SINK_GROUP)).some((p) => p.lag > 0)) {
      assert.ok(Date.now() < deadline, `sink did not drain: ${JSON.stringify(await log.lag(SINK_GROUP))} ${stderr}`);
      assert.equal(child.exitCode, null, `sink exited by itself: ${stderr}`);
      await sleep(100);
    }
    while (!ready && Date.now() < deadline) await sleep(10); // SIGINT before start-up would just kill it
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, `sink exit code (stderr: ${stderr})`);

    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const glob = path.join(lakeDir, 'events', '**', '*.parquet').replace(/'/g, "''");
      const reader = await conn.runAndReadAll(
        `SELECT count(*)::BIGINT AS total, count(DISTINCT eventId)::BIGINT AS distinct_ids,
                count(DISTINCT eventId) FILTER (WHERE regexp_full_match(eventId, 'k-[0-9]+') AND CAST(substr(eventId, 3) AS BIGINT) < ${TOTAL})::BIGINT AS expected_ids,
                count(DISTINCT filename)::BIGINT AS files
         FROM read_parquet('${glob}', filename = true)`,
      );
      const row = reader.getRowObjectsJS()[0] as { total: bigint; distinct_ids: bigint; expected_ids: bigint; files: bigint };
      const duplicates = Number(row.total) - Number(row.distinct_ids);
      console.log(`      sink-kill: ${kills} kills, ${row.files} files, ${row.total} rows, ${row.distinct_ids} distinct, ${duplicates} duplicates`);
      assert.equal(Number(row.distinct_ids), TOTAL, 'distinct eventIds in the lake = appended');
      assert.equal(Number(row.expected_ids), TOTAL, 'and they are exactly the appended ones');
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
