import assert from 'node:assert/strict';
import { engagedInTop, FreshnessAccumulator, withoutEngaged, type FreshnessRow } from '../../scripts/evaluate-online/freshness-metrics.js';

const close = (actual: number | null, expected: number, what: string) => assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);
const byType = (rows: FreshnessRow[]) => new Map(rows.map((r) => [r.type, r]));
/** 1/log2(3): the gain of a hit at rank 2 (0-based 1). */
const RANK2 = 0.6309297535714575;

describe('freshness metrics: discovery and re-engagement', () => {
  it('removes already-engaged vehicles, then cuts at k; counts them in the top k', () => {
    const seen = new Set(['a', 'b']);
    assert.deepEqual(withoutEngaged(['a', 'x', 'b', 'c', 'y', 'z'], seen, 3), ['x', 'c', 'y']);
    assert.deepEqual(withoutEngaged(['a', 'b'], seen, 3), []);
    assert.equal(engagedInTop(['a', 'x', 'b', 'c'], seen, 3), 2);
    assert.equal(engagedInTop(['x', 'y', 'z', 'a'], seen, 3), 0);
  });

  // Four requests at k = 3, expectations worked out by hand:
  // 1. view of c; engaged before {a, b}; precomputed [a x c y], re-ranked [a b c z].
  //    Re-engagement: c at rank 3 in both (gain 1/log2 4 = 0.5). Discovery: precomputed → [x c y]
  //    (c at rank 2, gain 1/log2 3), re-ranked → [c z] (rank 1, gain 1); as served c is at rank 3 (0.5).
  //    The served top 3 holds 2 engaged vehicles (a, b).
  // 2. view of a, already engaged: re-engagement hit at rank 1 in both; not a discovery request; 1 engaged served.
  // 3. lead of q, cold start; engaged before {a}; precomputed [], re-ranked [a q r s]: re-engagement
  //    re-ranked q at rank 2; discovery re-ranked → [q r s], rank 1; as served rank 2; 1 engaged served.
  // 4. view of m without what the customer engaged with: re-engagement only (precomputed hit, re-ranked miss).
  function accumulate(): FreshnessAccumulator {
    const acc = new FreshnessAccumulator(3);
    acc.add('view', 'c', ['a', 'x', 'c', 'y'], ['a', 'b', 'c', 'z'], false, new Set(['a', 'b']));
    acc.add('view', 'a', ['a'], ['a'], false, new Set(['a', 'b']));
    acc.add('lead', 'q', [], ['a', 'q', 'r', 's'], true, new Set(['a']));
    acc.add('view', 'm', ['m'], [], false);
    return acc;
  }

  it('discovery rows: only never-engaged targets, lists without engaged vehicles', () => {
    const rows = byType(accumulate().discoveryRows());
    const view = rows.get('view')!;
    assert.equal(view.measure, 'discovery');
    assert.equal(view.requests, 1);
    assert.equal(view.precomputed.hitRate, 1);
    close(view.precomputed.ndcg, RANK2, 'view nDCG pre');
    assert.equal(view.reranked.ndcg, 1);
    assert.equal(view.asServed.ndcg, 0.5);
    close(view.lift.ndcg, 1 / RANK2, 'view nDCG lift');
    assert.equal(view.servedEngaged, 2);
    const lead = rows.get('lead')!;
    assert.equal(lead.requests, 1);
    assert.equal(lead.coldStart, 1);
    assert.equal(lead.precomputed.hitRate, 0);
    assert.equal(lead.reranked.hitRate, 1);
    close(lead.asServed.ndcg, RANK2, 'lead nDCG as served');
    assert.equal(lead.lift.hitRate, null);
    assert.equal(rows.get('engaged')!.requests, 1);
    assert.equal(rows.get('engaged, warm')!.requests, 0);
    assert.equal(rows.get('view, warm')!.requests, 1);
    const all = rows.get('all')!;
    assert.equal(all.requests, 2);
    assert.equal(all.precomputed.hitRate, 0.5);
    assert.equal(all.reranked.hitRate, 1);
    assert.equal(all.lift.hitRate, 2);
    assert.equal(all.servedEngaged, 1.5);
    close(all.asServed.ndcg, (0.5 + RANK2) / 2, 'all nDCG as served');
  });

  it('re-engagement rows keep every request and the lists whole', () => {
    const rows = byType(accumulate().rows());
    const view = rows.get('view')!;
    assert.equal(view.measure, 're-engagement');
    assert.equal(view.requests, 3);
    assert.equal(view.precomputed.hitRate, 1);
    close(view.reranked.hitRate, 2 / 3, 'view hit re-ranked');
    close(view.reranked.ndcg, (0.5 + 1) / 3, 'view nDCG re-ranked');
    assert.deepEqual(view.asServed, view.reranked);
    assert.equal(view.servedEngaged, 1.5);
    const all = rows.get('all')!;
    assert.equal(all.requests, 4);
    close(all.servedEngaged, 4 / 3, 'all served engaged');
    close(all.reranked.ndcg, (0.5 + 1 + RANK2) / 4, 'all nDCG re-ranked');
  });

  it('without what the customer engaged with, there are no discovery requests and no served share', () => {
    const acc = new FreshnessAccumulator(10);
    acc.add('view', 'x', ['x'], ['x'], false);
    assert.equal(byType(acc.discoveryRows()).get('all')!.requests, 0);
    assert.equal(byType(acc.rows()).get('all')!.servedEngaged, null);
  });
});
