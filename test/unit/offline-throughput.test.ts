import assert from 'node:assert/strict';
import { perSecond } from '../../offline/batch/throughput.js';

describe('perSecond (run counts: scoringPerSec)', () => {
  it('is items per second of the work, rounded; never Infinity', () => {
    assert.equal(perSecond(500, 250), 2000);
    assert.equal(perSecond(7, 3000), 2); // 2.33
    assert.equal(perSecond(2, 3), 667); // 666.67
    assert.equal(perSecond(1, 3), 333); // 333.33
    assert.equal(perSecond(5, 2000), 3); // 2.5 rounds up
    assert.equal(perSecond(3, 0), 3000); // 0 ms counts as 1 ms
    assert.equal(perSecond(3, 0.4), 3000);
    assert.equal(perSecond(0, 1234), 0);
  });
});
