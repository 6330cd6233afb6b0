import assert from 'node:assert/strict';
import { roundScore } from '../../offline/batch/compute-tasks.js';

describe('roundScore (stored score format)', () => {
  it('equals Number(x.toPrecision(6)) and prints as a short decimal', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const samples = [0, 1, -1, 0.1, 1700.4987, 123456.7, 9.999995, 1e-12, 3.4e38, -0.000123456789];
    for (let i = 0; i < 20_000; i++) samples.push(Math.fround(rand() * 10 ** Math.floor(rand() * 12 - 6)));
    for (const x of samples) {
      const expected = x === 0 ? 0 : Number(x.toPrecision(6));
      const got = roundScore(x);
      assert.equal(got, expected, `x=${x}`);
      assert.ok(String(got).replace(/^-?0\.0*|[-.]|e.*$/g, '').length <= 6, `short: ${got}`);
    }
  });
});
