import assert from 'node:assert/strict';
import { parseJoined, parseRecent, parseSearches } from '../../shared/profile-store/profile-entries.js';

describe('profile entries', () => {
  it('reads a joined set: members and numeric scores; rejects text with a member that is not JSON', () => {
    const text = [JSON.stringify(['e-1', 'view', 'v-1', null]), '1795837342308', JSON.stringify(['e-2', 'favorite', 'v-2', 2.5]), '17', JSON.stringify({ an: 'object' }), '5'].join(',');
    const flat = parseJoined(text);
    assert.ok(flat);
    assert.deepEqual(parseRecent(flat), [
      { vehicleId: 'v-1', type: 'view', at: 1795837342308 },
      { vehicleId: 'v-2', type: 'favorite', at: 17, value: 2.5 },
    ]);
    assert.deepEqual(parseJoined(''), []);
    assert.equal(parseJoined(`not json,1`), undefined);
    assert.equal(parseJoined(`${JSON.stringify(['e', 'view', 'v', null])},"1"`), undefined);
    const searches = parseJoined(`${JSON.stringify(['s-1', { bodyStyle: 'SUV' }, 'family car'])},42`);
    assert.deepEqual(parseSearches(searches!), [{ filters: { bodyStyle: 'SUV' }, query: 'family car', at: 42 }]);
  });
});
