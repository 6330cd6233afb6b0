import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { RedisStreamsEventLog } from '../../shared/event-log/redis-streams-event-log.js';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { createRedis, type Redis } from '../../shared/redis/redis-connection.js';
import { generateDataset } from '../../scripts/generate/generate-dataset.js';
import { replay } from '../../scripts/replay/replay.js';
import { logTarget } from '../../scripts/replay/replay-targets.js';
import { parseMapping } from '../../offline/import/event-import.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = promisify(execFile);

describe('showroom replay (lake and files → Redis Streams log)', function () {
  this.timeout(60_000);
  let dir: string;
  let lake: LocalLake;
  let redis: Redis;
  let sourceCount: number;
  const prefixes: string[] = [];
  const logs: RedisStreamsEventLog[] = [];

  const newLog = () => {
    const prefix = `test-replay-${randomUUID().slice(0, 8)}:`;
    prefixes.push(prefix);
    const log = new RedisStreamsEventLog({ redisUrl: REDIS_URL, prefix, partitions: 2, retentionMs: 3600_000 });
    logs.push(log);
    return { prefix, log };
  };

  /** eventIds of every entry of the log's streams, duplicates included. */
  const entries = async (prefix: string): Promise<string[]> => {
    const ids: string[] = [];
    for (const n of [0, 1]) {
      const rows = (await redis.xrange(`${prefix}log:${n}`, '-', '+')) as [string, string[]][];
      for (const [, fields] of rows) ids.push((JSON.parse(fields[1]!) as { eventId: string }).eventId);
    }
    return ids;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'showroom-replay-'));
    lake = new LocalLake(join(dir, 'lake'));
    const g = await generateDataset({ customers: 120, vehicles: 60, days: 2, seed: 7, end: '2026-03-02', lake, stagingDir: dir });
    sourceCount = g.events;
    redis = createRedis(REDIS_URL, 'test');
  });
  after(async () => {
    for (const l of logs) await l.close();
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}*`);
      if (keys.length) await redis.del(...keys);
    }
    redis?.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('replaying the lake twice leaves exactly the source events (distinct eventIds); dry-run sends nothing', async () => {
    const { prefix, log } = newLog();
    const stateDir = join(dir, 'state-twice');
    const dry = await replay({ source: 'lake', lake, dryRun: true, stateDir });
    assert.equal(dry.events, sourceCount);
    assert.equal(dry.sent, 0);
    assert.equal((await entries(prefix)).length, 0);
    const first = await replay({ source: 'lake', lake, target: logTarget(log), stateDir });
    const second = await replay({ source: 'lake', lake, target: logTarget(log), stateDir });
    assert.equal(first.sent, sourceCount);
    assert.equal(second.sent, sourceCount);
    assert.ok(first.complete && second.complete);
    const ids = await entries(prefix);
    assert.equal(ids.length, 2 * sourceCount);
    assert.equal(new Set(ids).size, sourceCount);
  });

  it('with the API dedupe keys the second replay appends nothing and counts duplicates', async () => {
    const { prefix, log } = newLog();
    const stateDir = join(dir, 'state-dedupe');
    const dedupe = { redis, prefix };
    const first = await replay({ source: 'lake', lake, target: logTarget(log, 'log', dedupe), stateDir });
    const second = await replay({ source: 'lake', lake, target: logTarget(log, 'log', dedupe), stateDir });
    assert.deepEqual([first.accepted, first.duplicates], [sourceCount, 0]);
    assert.deepEqual([second.sent, second.accepted, second.duplicates], [sourceCount, 0, sourceCount]);
    assert.equal((await entries(prefix)).length, sourceCount);
  });

  it('an interrupted replay (abort halfway) continues with resume and ends with the same set', async () => {
    const { prefix, log } = newLog();
    const stateDir = join(dir, 'state-resume');
    const controller = new AbortController();
    const half = Math.floor(sourceCount / 2);
    const first = await replay({
      source: 'lake',
      lake,
      target: logTarget(log),
      stateDir,
      batchSize: 50,
      concurrency: 2,
      signal: controller.signal,
      onProgress: (done) => {
        if (done >= half) controller.abort();
      },
    });
    assert.equal(first.interrupted, true);
    assert.ok(first.position >= half && first.position < sourceCount, `stopped at ${first.position}`);
    const position = JSON.parse(await readFile(first.positionFile!, 'utf8')) as { position: number; complete: boolean };
    assert.equal(position.position, first.position);
    assert.equal(position.complete, false);
    const second = await replay({ source: 'lake', lake, target: logTarget(log), stateDir, resume: true, batchSize: 50 });
    assert.equal(second.resumed, true);
    assert.equal(second.startPosition, first.position);
    assert.equal(second.position, sourceCount);
    assert.equal(second.sent, sourceCount - first.position);
    const ids = await entries(prefix);
    assert.equal(new Set(ids).size, sourceCount);
    // Resuming a finished replay sends nothing.
    const third = await replay({ source: 'lake', lake, target: logTarget(log), stateDir, resume: true });
    assert.equal(third.sent, 0);
    assert.equal(third.complete, true);
  });

  it('a rate holds the pace', async () => {
    const { log } = newLog();
    const started = Date.now();
    const rate = Math.ceil(sourceCount / 1.5);
    const r = await replay({ source: 'lake', lake, target: logTarget(log), stateDir: join(dir, 'state-rate'), rate });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.sent, sourceCount);
    // Paced, not flat out (the lake replays in well under 0.5 s unpaced).
    assert.ok(seconds >= 1.2, `${r.sent} events in ${seconds} s at --rate ${rate}`);
    assert.ok(r.rate <= rate * 1.1, `achieved ${r.rate}/s at --rate ${rate}`);
  });

  it('invalid rows are counted, written to the rejects file and the valid ones sent', async () => {
    const { prefix, log } = newLog();
    const file = join(dir, 'mixed.jsonl');
    await writeFile(
      file,
      [
        JSON.stringify({ eventId: 'x1', type: 'view', customerId: 'c1', vehicleId: 'v1', occurredAt: '2026-03-01T10:00:00Z' }),
        JSON.stringify({ eventId: 'x2', type: 'view', customerId: 'c1', occurredAt: '2026-03-01T10:01:00Z' }),
        '{not json',
        JSON.stringify({ eventId: 'x3', type: 'lead', customerId: 'c2', vehicleId: 'v2', occurredAt: 'yesterday' }),
        JSON.stringify({ eventId: 'x4', type: 'favorite', customerId: 'c2', vehicleId: 'v2', occurredAt: '2026-03-01T11:00:00Z' }),
      ].join('\n'),
    );
    const rejectsFile = join(dir, 'mixed.rejects.jsonl');
    const r = await replay({ source: file, target: logTarget(log), stateDir: join(dir, 'state-mixed'), rejectsFile });
    assert.equal(r.sent, 2);
    assert.equal(r.rejected, 3);
    const lines = (await readFile(rejectsFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; errors: string[] });
    assert.deepEqual(lines.map((l) => l.line), [2, 3, 4]);
    assert.match(lines[0]!.errors.join(), /vehicleId/);
    assert.match(lines[1]!.errors.join(), /invalid JSON/);
    assert.match(lines[2]!.errors.join(), /occurredAt/);
    assert.deepEqual((await entries(prefix)).sort(), ['x1', 'x4']);
  });

  it('bad sources end with a clear message: missing file, wrong columns (rejects written), corrupt Parquet', async () => {
    const stateDir = join(dir, 'state-bad');
    await assert.rejects(replay({ source: join(dir, 'nope.csv'), dryRun: true, stateDir }), (e: Error) => e instanceof InvalidArgument && /does not exist/.test(e.message));
    const csv = join(dir, 'wrong.csv');
    await writeFile(csv, 'user,item,when\nu1,i1,1772359200\nu2,i2,1772359260\n');
    const rejectsFile = join(dir, 'wrong.rejects.jsonl');
    await assert.rejects(replay({ source: csv, dryRun: true, stateDir, rejectsFile, type: 'view' }), (e: Error) => {
      assert.ok(e instanceof InvalidArgument);
      assert.match(e.message, /no column for customerId, vehicleId, occurredAt/);
      assert.match(e.message, /\[user, item, when\]/);
      assert.match(e.message, /2 rows rejected/);
      return true;
    });
    assert.equal((await readFile(rejectsFile, 'utf8')).trim().split('\n').length, 2);
    // The same file with a mapping replays.
    const ok = await replay({ source: csv, dryRun: true, stateDir, type: 'view', mapping: parseMapping('customerId=user,vehicleId=item,occurredAt=when:unix') });
    assert.equal(ok.events, 2);
    const corrupt = join(dir, 'corrupt.parquet');
    await writeFile(corrupt, Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 7)]));
    await assert.rejects(replay({ source: corrupt, dryRun: true, stateDir }), (e: Error) => e instanceof InvalidArgument && /cannot read .*corrupt\.parquet as parquet/.test(e.message));
  });

  it('the CLI prints one line and exits 1 for a missing source', async () => {
    const env = { ...process.env, SHOWROOM_DATA_DIR: join(dir, 'cli'), SHOWROOM_LOG_LEVEL: 'warn' };
    await assert.rejects(run('npx', ['tsx', 'scripts/cli.ts', 'replay', '--source', join(dir, 'missing.jsonl'), '--json'], { env }), (e: { code?: number; stdout?: string; stderr?: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr ?? '', /missing\.jsonl does not exist/);
      assert.equal((JSON.parse(e.stdout ?? '{}') as { ok: boolean }).ok, false);
      return true;
    });
  });
});
