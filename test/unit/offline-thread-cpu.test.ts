import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadCpuMs } from '../../offline/batch/compute-tasks.js';

describe('threadCpuMs (scoring throughput basis)', () => {
  before(function () {
    if (process.platform !== 'linux') this.skip();
  });

  it('counts the thread busy, not the thread waiting', async () => {
    const c0 = threadCpuMs();
    assert.equal(typeof c0, 'number');
    const t0 = performance.now();
    let x = 0;
    while (performance.now() - t0 < 80) x += Math.sqrt(x + 1);
    const busy = threadCpuMs()! - c0!;
    const elapsed = performance.now() - t0;
    assert.ok(x > 0);
    // schedstat's run time is brought up to date at scheduler ticks and switches, so the first
    // reading can lag by up to one tick (4 ms at HZ 250, 10 ms at HZ 100).
    assert.ok(busy <= elapsed + 10, `CPU ${busy} ms within elapsed ${elapsed} ms (+ one tick)`);
    // A spinning thread gets most of a core unless the machine is badly overloaded.
    assert.ok(busy >= 20, `spinning 80 ms counted ${busy} ms`);

    const s0 = threadCpuMs()!;
    await sleep(80);
    const idle = threadCpuMs()! - s0;
    assert.ok(idle < 20, `sleeping 80 ms counted ${idle} ms`);
  });
});
