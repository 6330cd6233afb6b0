import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJoined, parseRecent, parseRecentJoined } from '../../shared/profile-store/profile-entries.js';

/** A recent set as READ_PROFILE_SCRIPT returns it: members and scores joined with commas. */
const joined = (entries: [unknown, number][]) => entries.map(([m, s]) => `${JSON.stringify(m)},${s}`).join(',');
const viaJson = (text: string) => {
  const flat = parseJoined(text);
  return flat ? parseRecent(flat) : undefined;
};

describe('profile entries', () => {
  it('reads engagements without JSON.parse with the same result as the JSON path', () => {
    const text = joined([
      [['e-1', 'view', 'v-000065', null], 1795837342308],
      [['e-2', 'favorite', 'v-000001', 2.5], 1795837342000],
      [['e-3', 'lead', 'v-0009', -1e-3], 17],
    ]);
    const fast = parseRecentJoined(text);
    assert.deepEqual(fast, [
      { vehicleId: 'v-000065', type: 'view', at: 1795837342308 },
      { vehicleId: 'v-000001', type: 'favorite', at: 1795837342000, value: 2.5 },
      { vehicleId: 'v-0009', type: 'lead', at: 17, value: -0.001 },
    ]);
    assert.deepEqual(fast, viaJson(text));
    assert.deepEqual(parseRecentJoined(''), []);
  });

  it('answers exactly as the JSON path whenever it answers, and leaves escapes and odd members to it', () => {
    const member = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.string(), fc.constantFrom('view', 'favorite', 'hide'), fc.string(), fc.oneof(fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer())) },
      { weight: 1, arbitrary: fc.tuple(fc.string(), fc.string(), fc.string(), fc.constant(null), fc.integer()) },
      { weight: 1, arbitrary: fc.oneof(fc.jsonValue(), fc.constant('not json')) },
    );
    let answered = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(member, fc.integer({ min: 0, max: 2 ** 52 })), { maxLength: 8 }), (entries) => {
        const text = entries.map(([m, s]) => `${m === 'not json' ? m : JSON.stringify(m)},${s}`).join(',');
        const fast = parseRecentJoined(text);
        if (fast !== undefined && entries.length > 0) answered += 1;
        if (fast !== undefined) assert.deepEqual(fast, viaJson(text));
        if (text.includes('\\') || /not json/.test(text)) assert.equal(fast, undefined);
      }),
      { numRuns: 2000 },
    );
    assert.ok(answered > 100, `the fast path answered only ${answered} of 2000 non-trivial inputs`);
  });
});
