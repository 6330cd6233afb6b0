import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
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
const CLI = path.join(ROOT, 'dist/scripts/cli.js');
const KILLS = 6;
/** Production: a batch of BATCH events every TICK_MS (2,000 events/s) for the whole kill phase. */
const BATCH = 100;
const TICK_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a sink process says about itself on /metrics. */
interface SinkGauges {
  eventsIn: number;
  eventsOut: number;
  buffered: number;
}

async function scrape(port: number): Promise<SinkGauges> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    assert.ok(m, `no ${name} in /metrics`);
    return Number(m[1]);
  };
  return { eventsIn: value('showroom_sink_events_in_total'), eventsOut: value('showroom_sink_events_out_total'), buffered: value('showroom_sink_buffered_events') };
}

/** A running `showroom sink` (the real CLI from dist/) and what its stderr told. */
interface SinkProcess {
  child: ChildProcess;
  /** Port of its /metrics, once it has logged it. */
  metricsPort(): number | undefined;
  stderr(): string;
}

/**
 * Fault test (issue 4, issue 14.9): the real `showroom sink` process is SIGKILLed 6 times while
 * events are appended at a steady rate through the whole kill phase, and restarted each time.
 * Each kill hits a sink at work: it has written events in this life and, at the kill, the log
 * holds entries of its group not yet checkpointed (lag, which counts delivered-but-unacknowledged
 * entries) or the sink holds rows in its buffers (its /metrics). Afterwards the distinct eventIds
 * in the lake are exactly the appended ones: each appended event is there, nothing else is.
 * Delivery is at least once: rows of batches written but not yet acknowledged when the process
 * died are written again by the next life (the batch job de-duplicates by eventId); their count
 * is reported.
 */
describe('offline sink survives SIGKILL', function () {
  this.timeout(300_000);
  let prefix: string;
  let admin: Redis;
  let log: RedisStreamsEventLog;
  let dir: string;
  let sink: SinkProcess | undefined;

  before(async function () {
    await access(CLI).catch(() => assert.fail(`${CLI} is missing: run npm run build`));
    prefix = `test:sinkkill:${randomUUID().slice(0, 8)}:`;
    admin = createRedis(REDIS_URL, 'test-admin', { enableOfflineQueue: true });
    log = new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, partitions: 4, trimIntervalMs: 0 });
    dir = await mkdtemp(path.join(tmpdir(), 'sink-kill-'));
    await mkdir(path.join(dir, 'tmp'), { recursive: true });
  });

  after(async () => {
    if (sink && sink.child.exitCode === null) sink.child.kill('SIGKILL');
    await log.close();
    await deleteKeysWithPrefix(admin, prefix);
    await admin.quit();
    await rm(dir, { recursive: true, force: true });
  });

  it(`loses nothing across ${KILLS} kills of \`showroom sink\`, each while it holds work`, async () => {
    const lakeDir = path.join(dir, 'lake');
    const env = {
      ...process.env,
      REDIS_URL,
      SHOWROOM_REDIS_PREFIX: prefix,
      SHOWROOM_EVENT_LOG_PARTITIONS: '4',
      LAKE_URL: `file://${lakeDir}`,
      SHOWROOM_SINK_MAX_AGE_MS: '300',
      SHOWROOM_SINK_MAX_ROWS: '20000',
      SHOWROOM_LOG_LEVEL: 'info',
      TMPDIR: path.join(dir, 'tmp'),
    };
    const startSink = (): SinkProcess => {
      const child = spawn(process.execPath, [CLI, 'sink', '--metrics-port', '0', '--consumer', 'kill-test-sink', '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let port: number | undefined;
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-8000);
        port ??= Number(/"metrics":"http:\/\/127\.0\.0\.1:(\d+)\/metrics"/.exec(stderr)?.[1]) || undefined;
      });
      child.stdout?.resume();
      return { child, metricsPort: () => port, stderr: () => stderr };
    };
    const waitFor = async <T>(what: string, s: SinkProcess, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> => {
      const deadline = Date.now() + ms;
      for (;;) {
        assert.equal(s.child.exitCode, null, `sink exited by itself while waiting for ${what}: ${s.stderr()}`);
        const v = await probe();
        if (v !== undefined) return v;
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}: ${s.stderr()}`);
        await sleep(20);
      }
    };
    const lagOf = async () => (await log.lag(SINK_GROUP)).reduce((n, p) => n + p.lag, 0);

    // Producer: BATCH events every TICK_MS until the kill phase is over.
    const base = Date.parse('2026-03-05T06:00:00.000Z');
    let appended = 0;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const batch: ShowroomEvent[] = [];
        for (let i = 0; i < BATCH; i++) {
          const n = appended + i;
          batch.push({
            eventId: `k-${n}`,
            type: 'view',
            customerId: `c-${n % 1009}`,
            vehicleId: `v-${n % 4001}`,
            occurredAt: new Date(base + n * 90).toISOString(), // 90 ms apart: ~40k events per hour partition
            receivedAt: new Date(base + n * 90 + 1000).toISOString(),
          });
        }
        await log.append(batch);
        appended += batch.length;
        await sleep(TICK_MS);
      }
    })();

    const atKill: { appended: number; lag: number; buffered: number; eventsOut: number }[] = [];
    try {
      while (atKill.length < KILLS) {
        const s = (sink = startSink());
        const port = await waitFor('the metrics port', s, () => s.metricsPort());
        // At work: it has written events in this life (so kills land at any stage: reading,
        // buffering, encoding, uploading, acknowledging)...
        await waitFor('events written', s, async () => ((await scrape(port)).eventsOut > 0 ? true : undefined));
        await sleep(Math.floor(Math.random() * 1000));
        // ...and holds some at the kill.
        const [lag, gauges] = await Promise.all([lagOf(), scrape(port)]);
        assert.ok(lag > 0 || gauges.buffered > 0, `kill ${atKill.length + 1} would hit an idle sink (lag ${lag}, buffered ${gauges.buffered})`);
        assert.equal(s.child.exitCode, null, `sink exited by itself: ${s.stderr()}`);
        const exited = new Promise((r) => s.child.once('exit', r));
        s.child.kill('SIGKILL');
        await exited;
        atKill.push({ appended, lag, buffered: gauges.buffered, eventsOut: gauges.eventsOut });
      }
    } finally {
      producing = false;
      await producer;
    }
    assert.ok(
      atKill.every((k, i) => i === 0 || k.appended > atKill[i - 1]!.appended),
      `production went on through the kill phase: ${JSON.stringify(atKill.map((k) => k.appended))}`,
    );

    // The last life drains the log, then stops cleanly.
    const last = (sink = startSink());
    await waitFor('the metrics port', last, () => last.metricsPort());
    await waitFor('the log drained', last, async () => ((await lagOf()) === 0 ? true : undefined), 150_000);
    const exited = new Promise<number | null>((r) => last.child.once('exit', (code) => r(code)));
    last.child.kill('SIGINT');
    assert.equal(await exited, 0, `sink exit code (stderr: ${last.stderr()})`);

    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const glob = path.join(lakeDir, 'events', '**', '*.parquet').replace(/'/g, "''");
      const reader = await conn.runAndReadAll(
        `SELECT count(*)::BIGINT AS total, count(DISTINCT eventId)::BIGINT AS distinct_ids,
                count(DISTINCT eventId) FILTER (WHERE regexp_full_match(eventId, 'k-[0-9]+') AND CAST(substr(eventId, 3) AS BIGINT) < ${appended})::BIGINT AS expected_ids,
                count(DISTINCT filename)::BIGINT AS files
         FROM read_parquet('${glob}', filename = true)`,
      );
      const row = reader.getRowObjectsJS()[0] as { total: bigint; distinct_ids: bigint; expected_ids: bigint; files: bigint };
      const duplicates = Number(row.total) - Number(row.distinct_ids);
      console.log(
        `      sink-kill: ${appended} events appended over ${KILLS} kills (at each kill: lag ${atKill.map((k) => k.lag).join('/')}, buffered ${atKill.map((k) => k.buffered).join('/')}, written in that life ${atKill.map((k) => k.eventsOut).join('/')}); ${row.files} files, ${row.total} rows, ${row.distinct_ids} distinct, ${duplicates} duplicates`,
      );
      assert.equal(Number(row.distinct_ids), appended, 'distinct eventIds in the lake = appended');
      assert.equal(Number(row.expected_ids), appended, 'and they are exactly the appended ones');
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
