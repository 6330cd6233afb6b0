import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { importEvents, inferFormat, mapRecord, parseCsv, parseMapping } from '../../offline/import/event-import.js';
import { DuckDbLakeReader } from '../../offline/lake-reader/duckdb-lake-reader.js';
import { readEventsParquet } from '../../shared/lake/parquet-codec.js';
import { tempLake } from '../support/offline-lake-fixture.js';

describe('showroom import (parsing, mapping, lake partitions)', () => {
  it('parses mappings with conversions and rejects bad ones', () => {
    assert.deepEqual(parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix,value=rating'), {
      customerId: { source: 'user_id' },
      vehicleId: { source: 'item_id' },
      occurredAt: { source: 'timestamp', conversion: 'unix' },
      value: { source: 'rating' },
    });
    assert.throws(() => parseMapping('nope=x'), /unknown field "nope"/);
    assert.throws(() => parseMapping('value=x:unix'), /only occurredAt/);
    assert.throws(() => parseMapping('occurredAt=x:days'), /conversion must be/);
    assert.equal(inferFormat('a/b.CSV'), 'csv');
    assert.equal(inferFormat('x.ndjson'), 'jsonl');
    assert.throws(() => inferFormat('x.xls'), /--format/);
  });

  it('parses RFC 4180 CSV with quotes, embedded separators and newlines, keeping line numbers', () => {
    const rows = parseCsv('a,b\n1,"x, ""y"""\n2,"multi\nline"\r\n3,z\n');
    assert.deepEqual(rows.map((r) => r.line), [1, 2, 3, 5]);
    assert.deepEqual(rows[1]!.cells, ['1', 'x, "y"']);
    assert.deepEqual(rows[2]!.cells, ['2', 'multi\nline']);
  });

  it('maps records and derives stable event ids', () => {
    const m = parseMapping('customerId=u,vehicleId=i,occurredAt=t:unix,value=r');
    const occ1 = new Map<string, number>();
    const a = mapRecord({ u: 7, i: 'v1', t: '1700000000', r: '4' }, m, 'view', occ1);
    assert.deepEqual({ ...a, eventId: undefined }, { type: 'view', customerId: '7', vehicleId: 'v1', occurredAt: '2023-11-14T22:13:20.000Z', properties: { value: 4 }, eventId: undefined });
    const b = mapRecord({ u: 7, i: 'v1', t: '1700000000', r: '4' }, m, 'view', occ1);
    assert.notEqual(a.eventId, b.eventId, 'identical rows get distinct ids');
    const again = mapRecord({ u: 7, i: 'v1', t: '1700000000', r: '4' }, m, 'view', new Map());
    assert.equal(again.eventId, a.eventId, 're-import gives the same id');
  });

  it('imports CSV into hour partitions, reports rejects with line numbers, and is idempotent', async () => {
    const fx = await tempLake();
    try {
      const file = join(fx.dir, 'ratings.csv');
      await writeFile(
        file,
        ['user_id,item_id,rating,timestamp', 'u1,v1,5,1772323200', 'u1,v2,3,1772326800', 'u2,,4,1772326800', 'u3,v3,abc,1772330400', 'u4,v4,2,notatime', 'u5,v1,1,1772330400'].join('\n'),
      );
      const rejects = join(fx.dir, 'rejects.jsonl');
      const opts = { lake: fx.lake, file, mapping: parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix,value=rating'), type: 'view' as const, rejectsFile: rejects, catalogFromItems: true };
      const r = await importEvents(opts);
      assert.equal(r.rows, 6);
      assert.equal(r.imported, 3);
      assert.deepEqual(r.rejects.map((x) => x.line), [4, 5, 6]);
      assert.match(r.rejects[0]!.errors.join(), /vehicleId/);
      assert.match(r.rejects[1]!.errors.join(), /properties.value/);
      assert.match(r.rejects[2]!.errors.join(), /occurredAt/);
      const rejLines = (await readFile(rejects, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number });
      assert.deepEqual(rejLines.map((x) => x.line), [4, 5, 6]);
      assert.equal(r.partitions, 3);
      const keys = (await fx.lake.list('events/')).map((o) => o.key);
      assert.equal(keys.length, 3);
      const first = await readEventsParquet(join(fx.lake.root, keys[0]!));
      assert.equal(first[0]!.properties?.value, 5);
      await importEvents(opts);
      assert.deepEqual((await fx.lake.list('events/')).map((o) => o.key), keys, 'same keys on re-import');
      const reader = new DuckDbLakeReader(fx.lake);
      const data = await reader.readDataset({ asOf: '2026-03-02T00:00:00Z', lookbackDays: 7 });
      reader.close();
      assert.equal(data.n, 3);
    } finally {
      await fx.cleanup();
    }
  });

  it('rejects rows whose ids are outside the id alphabet, with their line and the field (issue 13: 3)', async () => {
    const fx = await tempLake();
    try {
      const file = join(fx.dir, 'ids.csv');
      await writeFile(file, ['user_id,item_id,timestamp', 'u1,v1,1772323200', 'user 1,v1,1772323200', 'a/b,v2,1772326800', 'u2,v#3,1772326800', 'u3,v2,1772330400'].join('\n'));
      const r = await importEvents({ lake: fx.lake, file, mapping: parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix'), type: 'view' });
      assert.equal(r.imported, 2);
      assert.deepEqual(r.rejects.map((x) => x.line), [3, 4, 5]);
      assert.match(r.rejects[0]!.errors.join(), /^customerId customerId must be 1–128 characters from A–Z/);
      assert.match(r.rejects[1]!.errors.join(), /^customerId /);
      assert.match(r.rejects[2]!.errors.join(), /^vehicleId /);
    } finally {
      await fx.cleanup();
    }
  });

  it('imports JSONL with same-named fields and flags malformed lines', async () => {
    const fx = await tempLake();
    try {
      const file = join(fx.dir, 'ev.jsonl');
      await writeFile(file, `{"customerId":"c1","vehicleId":"v1","type":"lead","occurredAt":"2026-03-01T10:00:00Z"}\nnot json\n{"customerId":"c1","type":"teleport","vehicleId":"v1","occurredAt":"2026-03-01T10:00:00Z"}\n`);
      const r = await importEvents({ lake: fx.lake, file, mapping: {} });
      assert.equal(r.imported, 1);
      assert.deepEqual(r.rejects.map((x) => x.line), [2, 3]);
      assert.match(r.rejects[1]!.errors.join(), /type/);
    } finally {
      await fx.cleanup();
    }
  });
});
