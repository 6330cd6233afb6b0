import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCommandResult } from '../../scripts/commands/bench-command.js';
import type { BenchResults } from '../../scripts/bench/bench-suite.js';

/** What CI runs: `showroom bench --size small --check` — a broken benchmark fails, the numbers are not judged. */
describe('showroom bench --size small --check (CLI)', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'showroom-bench-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures every figure next to its ceiling, prints JSON and writes the results files', async () => {
    const out = join(dir, 'results');
    // An earlier small run in the results folder: its figures appear beside the new ones.
    await mkdir(out);
    const previous = { size: 'small', startedAt: '2026-01-01T00:00:00.000Z', machine: { slug: 'earlier-host' }, rows: [{ group: 'serving', measure: 'GET recommendations, max throughput', value: 1234, unit: 'req/s', ceiling: 2000, ceilingName: 'bare Express', ratio: 0.62 }] };
    await writeFile(join(out, '2026-01-01-earlier-host-small.json'), JSON.stringify(previous));
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/cli.ts', 'bench', '--size', 'small', '--check', '--json', '--out', out],
        { env: { ...process.env, SHOWROOM_DATA_DIR: join(dir, 'data'), SHOWROOM_LOG_LEVEL: 'warn' }, maxBuffer: 1 << 26 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(-3000)}`)) : resolve({ stdout, stderr })),
      );
    });
    const r = JSON.parse(stdout) as BenchCommandResult;
    assert.deepEqual(r.missing, []);
    assert.equal(r.size, 'small');
    for (const group of ['serving', 'ingest', 'event log', 'sink', 'offline', 'freshness', 'memory']) {
      assert.ok(r.rows.some((x) => x.group === group), `a ${group} row`);
    }
    for (const row of r.rows) assert.ok(Number.isFinite(row.value), `${row.measure}: ${row.value}`);
    const withCeiling = r.rows.filter((x) => x.ceiling !== undefined);
    assert.ok(withCeiling.length >= 5);
    for (const row of withCeiling) assert.ok(row.ceiling! > 0 && Number.isFinite(row.ratio!), row.measure);
    for (const row of r.rows.filter((x) => x.baseline !== undefined)) assert.ok(row.baseline! > 0 && Number.isFinite(row.ratio!) && row.ceiling === undefined, row.measure);
    const measure = (m: string) => r.rows.find((x) => x.measure === m) ?? assert.fail(`no row "${m}"`);
    // The like-for-like ceilings (issue 14) and the references kept beside them.
    const get = measure('GET recommendations, max throughput');
    assert.match(get.ceilingName!, /^tuned Express: the API's createExpressServer/);
    assert.deepEqual([get.target?.limit, get.target?.goal], [0.5, 0.7]);
    assert.match(measure('GET recommendations, max throughput vs stock Express').baselineName!, /^stock Express \(default ETag\)/);
    assert.equal(r.raw.serving.tunedExpressMax.non2xx, 0);
    assert.equal(measure('GET recommendations p99 at 500 req/s').target?.limit, 5);
    const ingest = r.rows.find((x) => x.measure.startsWith('POST /v1/events, batches of 100, max throughput'))!;
    assert.ok(ingest.ceiling === r.raw.serving.ingestCeiling.eventsPerSec && r.raw.serving.ingestCeiling.non2xx === 0 && r.raw.serving.ingestCeiling.total > 0, 'ingest ceiling answered 202');
    assert.match(ingest.ceilingName!, /one bare EventLog\.append per request/);
    const append = measure('EventLog.append (Redis Streams), batches of 100');
    assert.ok(append.ceiling === r.raw.append.bareScriptPerSec && /Lua script called bare/.test(append.ceilingName!));
    assert.equal(measure('EventLog.append vs one XADD per event, batches of 100').baseline, r.raw.append.bareXaddPerSec);
    // Popularity is the baseline of nDCG, with 4 significant digits, not a ceiling, and no target.
    const ndcg = measure('nDCG@10 item-knn (held-out day)');
    assert.ok(ndcg.ceiling === undefined && ndcg.target === undefined && ndcg.baselineName === 'popularity nDCG@10 (baseline)');
    const popularity = r.raw.offline.popularityNdcg!;
    assert.ok(popularity > 0 && ndcg.baseline === Number(popularity.toPrecision(4)), `${ndcg.baseline} vs ${popularity}`);
    // The host comes first on the progress output, and the run's ceilings with the results.
    assert.match(stderr.split('\n')[0]!, new RegExp(`^bench \\[0 s\\]: host: ${r.machine.cpuModel.replace(/[()]/g, '.')}, ${r.machine.cores} cores, .* GiB, Node v`));
    assert.deepEqual(r.ceilings.map((c) => c.measure), withCeiling.map((x) => x.measure));
    assert.ok(r.raw.serving.recommendationsMax.total > 0 && r.raw.serving.recommendationsMax.non2xx === 0, 'recommendations answered 200');
    assert.ok(r.raw.offline.activated && r.raw.offline.predictionsWritten > 0, 'the batch run wrote and activated');
    assert.ok(r.machine.cores > 0 && r.machine.cpuModel.length > 0 && r.machine.node.startsWith('v'));
    const files = (await readdir(out)).filter((f) => !f.startsWith('2026-01-01-earlier-host')).sort();
    assert.equal(files.length, 2);
    assert.match(files[0]!, /^\d{4}-\d{2}-\d{2}-.+-small\.json$/);
    const md = await readFile(join(out, files[1]!), 'utf8');
    assert.match(md, /\| serving \| GET recommendations p99/);
    assert.match(md, /^Host: .+ load average .+ at start/m);
    assert.match(md, /^- GET recommendations, max throughput: [\d,]+ req\/s \(tuned Express/m);
    assert.match(md, new RegExp(`\\| ${String(ndcg.baseline).replace('.', '\\.')} \\(popularity nDCG@10 \\(baseline\\)\\) \\|`));
    // The earlier run's figures beside the new ones.
    assert.match(md, /\| previous run \(2026-01-01, earlier-host\) \|/);
    assert.match(md, /\| 1,234 req\/s; ceiling 2,000 \(bare Express\); ratio 0\.62 \|/);
    const written = JSON.parse(await readFile(join(out, files[0]!), 'utf8')) as BenchResults;
    assert.equal(written.rows.find((x) => x.measure === 'GET recommendations, max throughput')!.previous?.value, 1234);
    // the lake is cached for the next run
    assert.ok((await readdir(join(dir, 'data', 'bench', 'lake-small'))).includes('bench-lake.json'));
  });
});
