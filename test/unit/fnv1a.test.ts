import assert from 'node:assert/strict';
import { fnv1a32 } from '../../shared/random/fnv1a.js';
import { partitionOf } from '../../shared/event-log/redis-streams-event-log.js';
import { shardOf } from '../../offline/batch/batch-pipeline.js';

describe('fnv1a32: the one hash', () => {
  it('gives the published FNV-1a 32-bit test vectors (ASCII: code units are the bytes)', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });

  it('partitions, shards and non-ASCII keys keep the values the replaced copies gave (existing data is partitioned by them)', () => {
    // Computed with the loop this function replaced, before the change.
    assert.equal(fnv1a32('c-0042'), 3234214067);
    assert.equal(fnv1a32('évé'), 2946673549);
    assert.equal(partitionOf('c-0042', 4), 3);
    assert.equal(partitionOf('v-00317', 4), 1);
    assert.deepEqual(['c-0001', 'c-0002', 'c-0003', 'c-0004'].map((c) => shardOf(c, 4)), [2, 3, 0, 1]);
  });
});
