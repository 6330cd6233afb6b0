import assert from 'node:assert/strict';
import {
  deadletterKey,
  eventFileKey,
  eventPartitionPrefix,
  modelArtifactPrefix,
  parseEventKey,
  partitionOf,
  vehicleSnapshotKey,
} from '../../shared/lake/lake-paths.js';

describe('lake-paths', function () {
  it('builds the DESIGN.md layout keys', function () {
    assert.equal(eventPartitionPrefix('2026-03-01', 7), 'events/date=2026-03-01/hour=07/');
    assert.equal(eventFileKey('2026-03-01', 23, 'sink-a', 12), 'events/date=2026-03-01/hour=23/sink-a-00000012.parquet');
    assert.equal(vehicleSnapshotKey('2026-03-01'), 'vehicles/date=2026-03-01/vehicles.parquet');
    assert.equal(modelArtifactPrefix('item-knn', 'run-20260301'), 'models/item-knn/run-20260301/');
    assert.equal(deadletterKey('sink', '2026-03-01', 'p0-1.jsonl'), 'deadletter/sink/date=2026-03-01/p0-1.jsonl');
  });

  it('zero-pads seq so file names sort in write order', function () {
    const keys = [2, 10, 1, 100].map((s) => eventFileKey('2026-03-01', 0, 'w', s));
    assert.deepEqual([...keys].sort(), [1, 2, 10, 100].map((s) => eventFileKey('2026-03-01', 0, 'w', s)));
  });

  it('rejects bad dates, hours and path segments', function () {
    assert.throws(() => eventPartitionPrefix('2026-3-1', 0), /YYYY-MM-DD/);
    assert.throws(() => eventPartitionPrefix('2026-03-01', 24), /0\.\.23/);
    assert.throws(() => eventFileKey('2026-03-01', 0, '../x', 1), /writer/);
    assert.throws(() => modelArtifactPrefix('m', 'a/b'), /runId/);
  });

  it('partitions an instant by its UTC date and hour', function () {
    assert.deepEqual(partitionOf('2026-03-01T23:59:59.999Z'), { date: '2026-03-01', hour: 23 });
    assert.deepEqual(partitionOf('2026-03-02T01:30:00+02:00'), { date: '2026-03-01', hour: 23 });
    assert.throws(() => partitionOf('yesterday'), /ISO-8601/);
  });

  it('parses event keys back', function () {
    assert.deepEqual(parseEventKey('events/date=2026-03-01/hour=05/w-00000001.parquet'), { date: '2026-03-01', hour: 5, file: 'w-00000001.parquet' });
    assert.equal(parseEventKey('vehicles/date=2026-03-01/vehicles.parquet'), undefined);
  });
});
