import assert from 'node:assert/strict';
import { rankingMetrics } from '../../offline/evaluation/metrics.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≠ ${b}`);

describe('offline ranking metrics', () => {
  it('computes precision, recall, nDCG, MAP and coverage by hand', () => {
    // Customer A: list [1,2,3], relevant {1,3}; customer B: list [4,5,6], relevant {6,7,8,9}.
    const m = rankingMetrics([[1, 2, 3], [4, 5, 6]], [new Set([1, 3]), new Set([6, 7, 8, 9])], 3, 10);
    // A: hits 2 → P=2/3, R=1, DCG=1+1/log2(4)=1.5, IDCG=1+1/log2(3), AP=(1/1+2/3)/2
    // B: hits 1 at rank 3 → P=1/3, R=1/4, DCG=0.5, IDCG=1+1/log2(3)+0.5, AP=(1/3)/3
    const idcgA = 1 + 1 / Math.log2(3);
    close(m.precision, (2 / 3 + 1 / 3) / 2);
    close(m.recall, (1 + 0.25) / 2);
    close(m.ndcg, (1.5 / idcgA + 0.5 / (idcgA + 0.5)) / 2);
    close(m.map, ((1 + 2 / 3) / 2 + 1 / 9) / 2);
    close(m.coverage, 6 / 10);
    assert.equal(m.customers, 2);
    assert.equal(m.k, 3);
  });

  it('skips customers without relevant items and scores short lists against k', () => {
    const m = rankingMetrics([[1], [2, 3]], [new Set([1]), new Set()], 5, 4);
    assert.equal(m.customers, 1);
    close(m.precision, 1 / 5);
    close(m.recall, 1);
    close(m.ndcg, 1);
    close(m.map, 1);
    close(m.coverage, 1 / 4);
  });

  it('gives zeros for no customer and for misses', () => {
    const empty = rankingMetrics([], [], 10, 0);
    assert.deepEqual([empty.precision, empty.ndcg, empty.coverage, empty.customers], [0, 0, 0, 0]);
    const miss = rankingMetrics([[1, 2]], [new Set([3])], 2, 3);
    assert.deepEqual([miss.precision, miss.recall, miss.ndcg, miss.map], [0, 0, 0, 0]);
  });
});
