import assert from 'node:assert/strict';
import { Unavailable } from '../../shared/errors/app-error.js';
import { Budget, DeadlineExceeded, withDeadline } from '../../shared/resilience/with-deadline.js';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;

describe('withDeadline', () => {
  it('settles as the promise does when it is in time, and leaves no timer behind', async () => {
    assert.equal(await withDeadline(Promise.resolve(7), 1000, 'x'), 7);
    await assert.rejects(withDeadline(Promise.reject(new Error('boom')), 1000, 'x'), /boom/);
    const before = timers();
    for (let i = 0; i < 100; i++) {
      await withDeadline(Promise.resolve(i), 10_000, 'x');
      await withDeadline(Promise.reject(new Error('boom')), 10_000, 'x').catch(() => undefined);
    }
    assert.ok(timers() <= before + 1, `timers before ${before}, after ${timers()}`);
  });

  it('rejects with DeadlineExceeded (an Unavailable, 503) naming what did not answer', async () => {
    const started = performance.now();
    await assert.rejects(withDeadline(new Promise(() => undefined), 50, 'Redis (claims)'), (err: Error) => {
      assert.ok(err instanceof DeadlineExceeded && err instanceof Unavailable);
      assert.equal((err as Unavailable).status, 503);
      assert.match(err.message, /^Redis \(claims\) did not answer within 50 ms$/);
      return true;
    });
    assert.ok(performance.now() - started >= 45);
  });

  it('Budget: the time left shrinks to 0 and a spent budget rejects a pending promise at once', async () => {
    const b = new Budget(30);
    assert.ok(b.left() > 0 && b.left() <= 30);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(b.left(), 0);
    await assert.rejects(b.bound(new Promise(() => undefined), 'x'), DeadlineExceeded);
    assert.equal(await b.bound(Promise.resolve('done'), 'x'), 'done');
  });
});
