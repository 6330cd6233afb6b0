import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { sleep } from '../../shared/time/sleep.js';

describe('sleep: the one interruptible sleep', () => {
  it('waits about the time asked', async () => {
    const t = performance.now();
    await sleep(30);
    assert.ok(performance.now() - t >= 25);
  });

  it('resolves at once when the signal aborts, and leaves no listener behind either way', async () => {
    const ac = new AbortController();
    const t = performance.now();
    const p = sleep(10_000, ac.signal);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    setTimeout(() => ac.abort(), 10);
    await p;
    assert.ok(performance.now() - t < 1000, 'woken by the abort, not the timer');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);

    const other = new AbortController();
    await sleep(5, other.signal);
    assert.equal(getEventListeners(other.signal, 'abort').length, 0, 'the timer path removes its listener too');
    await sleep(10_000, ac.signal); // already aborted: at once
  });
});
