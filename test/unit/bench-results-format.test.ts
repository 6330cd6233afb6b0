import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fmt, formatMarkdown, formatTable, writeResults, type BenchResults, type BenchRow } from '../../scripts/bench/bench-suite.js';

/** A results object as runBenchSuite returns it, with the given rows (raw figures are not read by the writers). */
function results(rows: BenchRow[], startedAt = '2026-12-04T10:00:00.000Z'): BenchResults {
  return {
    size: 'small',
    startedAt,
    seconds: 1,
    machine: { cpuModel: 'Test CPU', cores: 2, memoryBytes: 2 * 1024 ** 3, node: 'v20.0.0', platform: 'linux test', loadAverageStart: [0.5, 0.5, 0.5], loadAverageEnd: [0.6, 0.6, 0.6], slug: 'test-cpu-2c-2g' },
    ceilings: rows.filter((r) => r.ceiling !== undefined).map((r) => ({ measure: r.measure, name: r.ceilingName ?? '', value: r.ceiling!, unit: r.unit })),
    dataset: { customers: 1, vehicles: 1, events: 1, start: '2026-03-01', end: '2026-03-03', generated: false },
    rows,
    missing: [],
    errors: [],
    raw: {} as BenchResults['raw'],
  };
}

const ndcgRow: BenchRow = { group: 'offline', measure: 'nDCG@10 item-knn (held-out day)', value: 0.1107, unit: '', baseline: 0.001734, baselineName: 'popularity nDCG@10 (baseline)', ratio: 63.84 };
const getRow: BenchRow = {
  group: 'serving',
  measure: 'GET recommendations, max throughput',
  value: 7081,
  unit: 'req/s',
  ceiling: 9000,
  ceilingName: 'tuned Express',
  ratio: 0.79,
  target: { on: 'ratio', op: '>=', limit: 0.5, goal: 0.7, source: 'issue 14' },
  pass: true,
};

describe('bench results: formatting', function () {
  it('prints figures below 1 with 4 significant digits (a popularity nDCG of 0.0017 is not 0)', function () {
    assert.equal(fmt(0.0017344), '0.001734');
    assert.equal(fmt(0.11071), '0.1107');
    assert.equal(fmt(0), '0');
    assert.equal(fmt(2.456), '2.46');
    assert.equal(fmt(11_412.4), '11,412');
    assert.equal(fmt(NaN), 'n/a');
  });

  it('shows a baseline in its own column, never as a ceiling, and a target with its goal', function () {
    const md = formatMarkdown(results([getRow, ndcgRow]));
    const header = md.split('\n').find((l) => l.startsWith('| group'))!;
    assert.deepEqual(header.split('|').map((c) => c.trim()).slice(1, -1), ['group', 'measure', 'value', 'ceiling (same run)', 'baseline (same run, not a bound)', 'ratio', 'target', 'met']);
    const ndcg = md.split('\n').find((l) => l.includes('nDCG@10 item-knn'))!.split('|').map((c) => c.trim());
    assert.equal(ndcg[3], '0.1107');
    assert.equal(ndcg[4], '', 'no ceiling');
    assert.equal(ndcg[5], '0.001734 (popularity nDCG@10 (baseline))');
    const get = md.split('\n').find((l) => l.startsWith('| serving | GET recommendations, max throughput'))!;
    assert.match(get, /\| 9,000 \(tuned Express\) \| {2}\| 0\.79 \| ratio ≥ 0\.5 \(goal 0\.7\) \| pass \|/);
  });

  it('states the host and the run\'s ceilings at the top of the table and of the results file', function () {
    const r = results([getRow, ndcgRow]);
    const md = formatMarkdown(r).split('\n');
    const table = md.findIndex((l) => l.startsWith('| group'));
    const host = md.findIndex((l) => l.startsWith('Host: Test CPU, 2 cores, 2 GiB, Node v20.0.0, linux test, load average 0.5/0.5/0.5 at start'));
    const ceilings = md.indexOf('- GET recommendations, max throughput: 9,000 req/s (tuned Express)');
    assert.ok(host > 0 && host < table && ceilings > 0 && ceilings < table, md.join('\n'));
    const text = formatTable(r).split('\n');
    assert.match(text[0]!, /^showroom bench --size small: Test CPU, 2 cores/);
    assert.equal(text[1], 'ceilings on this host: GET recommendations, max throughput: 9,000 req/s');
  });

  it('writes the previous run\'s figures of the same size beside each row of the same measure', async function () {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-format-'));
    try {
      const old: BenchRow = { group: 'serving', measure: getRow.measure, value: 7000, unit: 'req/s', ceiling: 11_412, ceilingName: 'bare Express, 3263 B JSON', ratio: 0.61 };
      const oldNdcg: BenchRow = { group: 'offline', measure: ndcgRow.measure, value: 0.11, unit: '', ceiling: 0, ceilingName: 'popularity nDCG@10 (baseline)', ratio: 64.02 };
      await writeFile(path.join(dir, '2026-12-01-old-small.json'), JSON.stringify(results([old, oldNdcg], '2026-12-01T10:00:00.000Z')));
      // Newer but another size: not the previous run of a small bench.
      await writeFile(path.join(dir, '2026-12-03-old.json'), JSON.stringify({ ...results([], '2026-12-03T10:00:00.000Z'), size: 'full' }));
      await writeFile(path.join(dir, 'notes.json'), '{not json');
      // A later run (another checkout's clock): not a previous one.
      await writeFile(path.join(dir, '2026-12-05-later-small.json'), JSON.stringify(results([{ ...old, value: 1 }], '2026-12-05T10:00:00.000Z')));
      const file = await writeResults(dir, results([getRow, ndcgRow]));
      const written = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
      assert.deepEqual(written.previousRun, { file: '2026-12-01-old-small.json', startedAt: '2026-12-01T10:00:00.000Z', machine: 'test-cpu-2c-2g' });
      assert.deepEqual(written.rows[0]!.previous, { value: 7000, unit: 'req/s', ceiling: 11_412, ceilingName: 'bare Express, 3263 B JSON', ratio: 0.61 });
      const md = await readFile(file.replace(/\.json$/, '.md'), 'utf8');
      assert.match(md, /\| previous run \(2026-12-01, test-cpu-2c-2g\) \|/);
      assert.match(md, /\| 7,000 req\/s; ceiling 11,412 \(bare Express, 3263 B JSON\); ratio 0\.61 \|/);
      assert.match(md, /\| 0\.11; ceiling 0 \(popularity nDCG@10 \(baseline\)\); ratio 64\.02 \|/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes a run of the same day and host as the previous one before replacing its files', async function () {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-format-'));
    try {
      const first = await writeResults(dir, results([{ ...getRow, value: 5000 }], '2026-12-04T08:00:00.000Z'));
      const second = await writeResults(dir, results([getRow], '2026-12-04T10:00:00.000Z'));
      assert.equal(second, first, 'same file name');
      const written = JSON.parse(await readFile(second, 'utf8')) as BenchResults;
      assert.equal(written.rows[0]!.value, 7081);
      assert.equal(written.rows[0]!.previous?.value, 5000);
      assert.equal(written.previousRun?.startedAt, '2026-12-04T08:00:00.000Z');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
