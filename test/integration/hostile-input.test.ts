import assert from 'node:assert/strict';
import { loadConfig } from '../../shared/config/config.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { startFuzzTarget, type FuzzTarget } from '../../scripts/fuzz/fuzz-target.js';
import { formatFuzzReport, runFuzz, type FailureClass, type FuzzReport } from '../../scripts/fuzz/run-fuzz.js';

/**
 * The hostile-input suite of issue 13, small and seeded: the same runner as `showroom fuzz`
 * against the real app (createApp via startServer, real Redis with its own prefix, the embedded
 * Cosmos server with a seeded run, Bull Board), once with keys and once without.
 */
const REQUESTS = Number(process.env.SHOWROOM_FUZZ_REQUESTS ?? 1500);
const SEED = 20_260_113;

const classes = (r: FuzzReport, ...invariants: FailureClass['invariant'][]) => r.classes.filter((c) => invariants.includes(c.invariant));
const describeClasses = (list: FailureClass[]) =>
  list.map((c) => `${c.count}× ${c.invariant} ${c.detail}: ${c.status} ${c.method} ${c.route} [${c.category}: ${c.variants.slice(0, 3).join(', ')}] e.g. ${c.example.curl ?? c.example.raw ?? c.example.target}`).join('\n');

for (const withKeys of [true, false]) {
  describe(`hostile input ${withKeys ? 'with keys' : 'without keys'} (${REQUESTS} seeded requests, real Redis, embedded Cosmos)`, function () {
    this.timeout(240_000);
    let target: FuzzTarget;
    let report: FuzzReport;

    before(async () => {
      target = await startFuzzTarget({ config: loadConfig({ ...process.env, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }), logger: silentLogger(), withKeys });
      report = await runFuzz({ target, seed: SEED + (withKeys ? 0 : 1), requests: REQUESTS, concurrency: 8 });
      if (!report.ok) process.stderr.write(`${formatFuzzReport(report, { maxClasses: 60 })}\n`);
    });

    after(async () => {
      await target?.close();
    });

    it('sent every request and got an answer to each (or the close Node gives by design)', () => {
      assert.equal(report.requests, REQUESTS);
      const lost = classes(report, 'no-response');
      assert.equal(lost.length, 0, describeClasses(lost));
    });

    it('answers no 5xx', () => {
      assert.equal(report.fiveXx, 0, describeClasses(classes(report, '5xx')));
    });

    it('answers every error as problem+json with type, title, status and detail (bodiless only from Node\'s parser, 400/417/431)', () => {
      const bad = classes(report, 'error-not-problem-json', 'parser-status');
      assert.equal(bad.length, 0, describeClasses(bad));
    });

    it('answers every 2xx of a JSON route with JSON', () => {
      const bad = classes(report, '2xx-not-json');
      assert.equal(bad.length, 0, describeClasses(bad));
    });

    it('never lets a read key, a wrong key or no key get a 2xx on an admin route, in any case or slash variant', () => {
      const bad = classes(report, 'authz-read-key', 'authz-no-key');
      assert.equal(bad.length, 0, describeClasses(bad));
    });

    it('answers what the contract names (415 for other charsets, 400 for undecodable bodies and bad ids, 405 + Allow)', () => {
      const bad = classes(report, 'expectation');
      assert.equal(bad.length, 0, describeClasses(bad));
    });

    it('keeps the metric series count bounded (closed label sets)', () => {
      assert.ok(report.series.ok, `${report.series.overBound.join('\n')}\nseries by metric: ${JSON.stringify(report.series.byMetric)}`);
    });

    it('stays alive with bounded RSS, no uncaught exception and no prototype pollution', () => {
      assert.equal(report.alive.healthzStatus, 200);
      assert.deepEqual(report.alive.crashes, []);
      assert.deepEqual(report.alive.processProblems, []);
      assert.ok(report.rss.ok, `RSS grew ${Math.round(report.rss.growthBytes / 1e6)} MB`);
    });
  });
}
