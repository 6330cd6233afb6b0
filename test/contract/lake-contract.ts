import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Lake } from '../../shared/lake/lake.js';

/**
 * The Lake contract: every adapter (local folder, Blob) runs this suite.
 * `makeLake` returns a fresh, empty lake and a cleanup that removes everything it made.
 */
export function lakeContract(name: string, makeLake: () => Promise<{ lake: Lake; cleanup(): Promise<void> }>): void {
  describe(`Lake contract: ${name}`, function () {
    let lake: Lake;
    let cleanup: () => Promise<void>;
    let scratch: string;

    beforeEach(async function () {
      ({ lake, cleanup } = await makeLake());
      scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'lake-contract-'));
    });

    afterEach(async function () {
      await cleanup();
      await fs.rm(scratch, { recursive: true, force: true });
    });

    it('puts a local file and reads it back', async function () {
      const file = path.join(scratch, 'a.bin');
      await fs.writeFile(file, Buffer.from('hello lake'));
      await lake.put('events/date=2026-01-01/hour=00/w-00000001.parquet', file);
      const got = await lake.getBuffer('events/date=2026-01-01/hour=00/w-00000001.parquet');
      assert.equal(got?.toString(), 'hello lake');
    });

    it('returns undefined for a missing key', async function () {
      assert.equal(await lake.getBuffer('events/nope/missing.parquet'), undefined);
    });

    it('lists objects under a prefix, sorted, with sizes', async function () {
      await lake.putBuffer('events/date=2026-01-02/hour=01/w-00000002.parquet', Buffer.alloc(3));
      await lake.putBuffer('events/date=2026-01-02/hour=01/w-00000001.parquet', Buffer.alloc(5));
      await lake.putBuffer('events/date=2026-01-02/hour=10/w-00000001.parquet', Buffer.alloc(7));
      await lake.putBuffer('vehicles/date=2026-01-02/vehicles.parquet', Buffer.alloc(1));
      const all = await lake.list('events/');
      assert.deepEqual(
        all.map((o) => [o.key, o.size]),
        [
          ['events/date=2026-01-02/hour=01/w-00000001.parquet', 5],
          ['events/date=2026-01-02/hour=01/w-00000002.parquet', 3],
          ['events/date=2026-01-02/hour=10/w-00000001.parquet', 7],
        ],
      );
      const hour1 = await lake.list('events/date=2026-01-02/hour=01/');
      assert.equal(hour1.length, 2);
      // A prefix that ends inside a name segment matches by string prefix.
      const partial = await lake.list('events/date=2026-01-02/hour=1');
      assert.deepEqual(partial.map((o) => o.key), ['events/date=2026-01-02/hour=10/w-00000001.parquet']);
      assert.deepEqual(await lake.list('nothing/'), []);
      const everything = await lake.list('');
      assert.equal(everything.length, 4);
    });

    it('overwrites atomically: a reader sees the old or the new object, never a mix', async function () {
      const key = 'vehicles/date=2026-01-03/vehicles.parquet';
      const a = Buffer.alloc(256 * 1024, 'a');
      const b = Buffer.alloc(512 * 1024, 'b');
      await lake.putBuffer(key, a);
      const writes = [lake.putBuffer(key, b), lake.putBuffer(key, a), lake.putBuffer(key, b)];
      const reads: (Buffer | undefined)[] = [];
      for (let i = 0; i < 20; i += 1) reads.push(await lake.getBuffer(key));
      await Promise.all(writes);
      await lake.putBuffer(key, b);
      for (const r of reads) {
        assert.ok(r, 'object vanished during an overwrite');
        assert.ok(r.equals(a) || r.equals(b), 'read a partial object');
      }
      const final = await lake.getBuffer(key);
      assert.ok(final?.equals(b));
      assert.deepEqual((await lake.list('vehicles/')).map((o) => o.key), [key], 'temp objects must not be listed');
    });

    it('deletes, and deleting a missing key is a no-op', async function () {
      await lake.putBuffer('models/item-knn/run-1/report.json', Buffer.from('{}'));
      await lake.delete('models/item-knn/run-1/report.json');
      assert.equal(await lake.getBuffer('models/item-knn/run-1/report.json'), undefined);
      await lake.delete('models/item-knn/run-1/report.json');
      assert.deepEqual(await lake.list('models/'), []);
    });

    it('localRoot holds the requested prefixes laid out as in the lake', async function () {
      await lake.putBuffer('events/date=2026-01-04/hour=05/w-00000001.parquet', Buffer.from('e1'));
      await lake.putBuffer('vehicles/date=2026-01-04/vehicles.parquet', Buffer.from('v1'));
      const root = await lake.localRoot(['events/date=2026-01-04/', 'vehicles/date=2026-01-04/']);
      assert.equal((await fs.readFile(path.join(root, 'events/date=2026-01-04/hour=05/w-00000001.parquet'))).toString(), 'e1');
      assert.equal((await fs.readFile(path.join(root, 'vehicles/date=2026-01-04/vehicles.parquet'))).toString(), 'v1');
    });

    it('has a description', function () {
      assert.ok(lake.description.length > 0);
    });
  });
}
