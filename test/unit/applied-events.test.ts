import assert from 'node:assert/strict';
import { AppliedEvents, notYetApplied } from '../../online/profiles/applied-events.js';

describe('AppliedEvents', () => {
  it('skips events whose apply succeeded (waiting for one in flight), keeps failed and unknown ones, each id once', async () => {
    const a = new AppliedEvents(10);
    let finish: (ok: boolean) => void = () => undefined;
    a.track(['e1', 'e2'], new Promise<boolean>((r) => (finish = r)));
    a.track(['e3'], Promise.resolve(false));
    const pending = notYetApplied([{ eventId: 'e1' }, { eventId: 'e2' }, { eventId: 'e3' }, { eventId: 'e4' }], a);
    setTimeout(() => finish(true), 20);
    assert.deepEqual((await pending).map((e) => e.eventId), ['e3', 'e4']);
    assert.deepEqual((await notYetApplied([{ eventId: 'e1' }], a)).map((e) => e.eventId), ['e1'], 'taken once: a redelivery is applied again');
  });

  it('forgets the oldest ids beyond its capacity', async () => {
    const a = new AppliedEvents(3);
    a.track(['e1', 'e2', 'e3', 'e4'], Promise.resolve(true));
    assert.equal(a.size, 3);
    assert.deepEqual((await notYetApplied([{ eventId: 'e1' }, { eventId: 'e4' }], a)).map((e) => e.eventId), ['e1']);
  });
});
