import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { csvRecords, importEvents, inferFormat, mapRecord, parseMapping } from '../../offline/import/event-import.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { DuckDbLakeReader } from '../../offline/lake-reader/duckdb-lake-reader.js';
import { readEventsParquet } from '../../shared/lake/parquet-codec.js';
import { tempLake } from '../support/offline-lake-fixture.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

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

  it('parses RFC 4180 CSV: quotes, separators and line breaks inside fields, CRLF, a BOM, empty lines; each row with its line', async () => {
    const text = '\uFEFFa,b\r\n1,"x, ""y"""\r\n2,"multi\r\nline"\r\n\r\n3,z\n4,"lf\nonly"\n5,last';
    const rows = await collect(csvRecords(Readable.from([text]), 'inline.csv'));
    assert.deepEqual(
      rows.map((r) => [r.line, r.record]),
      [
        [2, { a: '1', b: 'x, "y"' }],
        [3, { a: '2', b: 'multi\r\nline' }],
        [6, { a: '3', b: 'z' }],
        [7, { a: '4', b: 'lf\nonly' }],
        [9, { a: '5', b: 'last' }],
      ],
    );
  });

  it('rejects a row with the wrong number of columns by its line, and reads the next rows as they are', async () => {
    const rows = await collect(csvRecords(Readable.from(['a,b\n1,2\n3,4,5\n6\n"7\nseven",8\n']), 'inline.csv'));
    assert.deepEqual(
      rows.map((r) => [r.line, r.record ?? r.error]),
      [
        [2, { a: '1', b: '2' }],
        [3, 'expected 2 columns, got 3'],
        [4, 'expected 2 columns, got 1'],
        [5, { a: '7\nseven', b: '8' }],
      ],
    );
  });

  it('streams: the first row comes out long before a 200,000-row input has been read, and every row does', async () => {
    const ROWS = 200_000;
    let produced = 0;
    const input = Readable.from(
      (function* () {
        yield 'user_id,item_id,ts\n';
        for (let i = 0; i < ROWS; i += 1000) {
          let chunk = '';
          for (let j = i; j < i + 1000; j++) chunk += `u${j},v${j % 97},${1772323200 + j}\n`;
          produced = i + 1000;
          yield chunk;
        }
      })(),
    );
    let count = 0;
    let producedAtFirst = -1;
    let last: { line: number; record: Record<string, unknown> | undefined } | undefined;
    for await (const r of csvRecords(input, 'big.csv')) {
      if (count === 0) producedAtFirst = produced;
      count += 1;
      last = r;
    }
    assert.equal(count, ROWS);
    assert.ok(producedAtFirst >= 0 && producedAtFirst < ROWS / 10, `rows produced when the first came out: ${producedAtFirst}`);
    assert.deepEqual(last, { line: ROWS + 1, record: { user_id: `u${ROWS - 1}`, item_id: `v${(ROWS - 1) % 97}`, ts: String(1772323200 + ROWS - 1) } });
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

  it('imports CSV and JSONL files that start with a BOM (the first column keeps its name, quoted or not)', async () => {
    const fx = await tempLake();
    try {
      const mapping = parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix');
      for (const [name, text] of [
        ['bom.csv', '\uFEFFuser_id,item_id,timestamp\r\nu1,v1,1772323200\r\nu2,v2,1772326800\r\n'],
        ['bom-quoted.csv', '\uFEFF"user_id","item_id","timestamp"\r\n"u1","v1","1772323200"\r\n"u2","v2","1772326800"\r\n'],
        ['bom.jsonl', '\uFEFF{"user_id":"u1","item_id":"v1","timestamp":1772323200}\n{"user_id":"u2","item_id":"v2","timestamp":1772326800}\n'],
      ] as const) {
        const file = join(fx.dir, name);
        await writeFile(file, text);
        const r = await importEvents({ lake: fx.lake, file, mapping, type: 'view' });
        assert.deepEqual({ name, rows: r.rows, imported: r.imported, rejects: r.rejects }, { name, rows: 2, imported: 2, rejects: [] });
      }
    } finally {
      await fx.cleanup();
    }
  });

  it('refuses a CSV with a quote never closed, naming the line where its record starts, and imports nothing', async () => {
    const fx = await tempLake();
    try {
      const file = join(fx.dir, 'open-quote.csv');
      // Line 4 opens a quote that nothing closes: a lenient reader merges lines 4..6 into one field.
      await writeFile(file, ['user_id,item_id,timestamp', 'u1,v1,1772323200', 'u2,v2,1772326800', 'u3,"v3,1772330400', 'u4,v4,1772330400', 'u5,v5,1772330400', ''].join('\n'));
      await assert.rejects(importEvents({ lake: fx.lake, file, mapping: parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix'), type: 'view' }), (err: unknown) => {
        assert.ok(err instanceof InvalidArgument, String(err));
        assert.match(err.message, /^open-quote\.csv: line 4: a quoted field .* never closed/);
        return true;
      });
      assert.deepEqual(await fx.lake.list('events/'), []);
    } finally {
      await fx.cleanup();
    }
  });

  it('refuses a CSV with a stray quote inside an unquoted field, by its line', async () => {
    const fx = await tempLake();
    try {
      const file = join(fx.dir, 'stray.csv');
      await writeFile(file, ['user_id,item_id,timestamp', 'u1,v1,1772323200', 'u2,v"2,1772326800', 'u3,v3,1772330400'].join('\n'));
      await assert.rejects(importEvents({ lake: fx.lake, file, mapping: parseMapping('customerId=user_id,vehicleId=item_id,occurredAt=timestamp:unix'), type: 'view' }), /stray\.csv: line 3: malformed quotes/);
      assert.deepEqual(await fx.lake.list('events/'), []);
    } finally {
      await fx.cleanup();
    }
  });
});
