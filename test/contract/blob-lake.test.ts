import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ContainerClient, ContainerSASPermissions } from '@azure/storage-blob';
import { BlobLake } from '../../shared/lake/blob-lake.js';
import { blobContainerUrl, createLake } from '../../shared/lake/create-lake.js';
import { lakeContract } from './lake-contract.js';
import { startAzuriteBlob, type AzuriteBlob } from '../support/azurite.js';

// One Azurite for the contract run (started lazily, stopped after the whole file).
let shared: Promise<AzuriteBlob> | undefined;
const sharedAzurite = () => (shared ??= startAzuriteBlob());
after(async () => {
  if (shared) await (await shared).stop();
});

lakeContract('BlobLake (Azurite)', async () => {
  const azurite = await sharedAzurite();
  const name = `contract-${randomBytes(5).toString('hex')}`;
  const cacheDir = await mkdtemp(path.join(tmpdir(), 'blob-lake-cache-'));
  const lake = BlobLake.fromConnectionString(azurite.connectionString, name, { cacheDir, blockSize: 64 * 1024 });
  return {
    lake,
    cleanup: async () => {
      await new ContainerClient(azurite.connectionString, name).deleteIfExists();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
});

describe('createLake picks the Blob adapter', function () {
  it('for a connection string, a container URL with SAS and an account URL', function () {
    const cs = createLake({ lakeUrl: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net', lakeContainer: 'lake', dataDir: '/srv/data' });
    assert.ok(cs instanceof BlobLake);
    assert.equal(cs.cacheRoot, '/srv/data/lake-cache/acct/lake');
    const sas = createLake({ lakeUrl: 'https://acct.blob.core.windows.net/events?sv=2024&sig=secret', lakeContainer: 'lake', dataDir: '/srv/data' });
    assert.ok(sas instanceof BlobLake);
    assert.equal(sas.cacheRoot, '/srv/data/lake-cache/acct/events');
    assert.ok(!sas.description.includes('secret'));
    assert.equal(blobContainerUrl('https://acct.blob.core.windows.net/?sv=1&sig=x', 'lake'), 'https://acct.blob.core.windows.net/lake?sv=1&sig=x');
    assert.equal(blobContainerUrl('http://127.0.0.1:10000/devstoreaccount1?sv=1', 'lake'), 'http://127.0.0.1:10000/devstoreaccount1/lake?sv=1');
    assert.equal(blobContainerUrl('http://127.0.0.1:10000/devstoreaccount1/c1', 'lake'), 'http://127.0.0.1:10000/devstoreaccount1/c1');
  });
});

describe('BlobLake on Azurite', function () {
  this.timeout(60_000);
  let azurite: AzuriteBlob;
  let tmp: string;
  const containers: string[] = [];
  const container = () => {
    const name = `lake-${randomBytes(5).toString('hex')}`;
    containers.push(name);
    return name;
  };

  before(async () => {
    azurite = await sharedAzurite();
    tmp = await mkdtemp(path.join(tmpdir(), 'blob-lake-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('uploads a big file as several staged blocks, invisible until the one commit', async () => {
    const name = container();
    const client = new ContainerClient(azurite.connectionString, name);
    const observed: { listed: string[]; got: Buffer | undefined; uncommitted: number; committed: number }[] = [];
    const lake = BlobLake.fromConnectionString(azurite.connectionString, name, {
      blockSize: 256 * 1024,
      concurrency: 3,
      cacheDir: path.join(tmp, 'cache-big'),
      beforeCommit: async (key, ids) => {
        const blocks = await client.getBlockBlobClient(key).getBlockList('all');
        observed.push({
          listed: (await lake.list('events/')).map((o) => o.key),
          got: await lake.getBuffer(key),
          uncommitted: blocks.uncommittedBlocks?.length ?? 0,
          committed: ids.length,
        });
      },
    });
    const data = randomBytes(1024 * 1024 + 12_345); // 5 blocks of 256 KiB
    const file = path.join(tmp, 'big.bin');
    await writeFile(file, data);
    const key = 'events/date=2026-03-01/hour=07/w-00000001.parquet';
    await lake.put(key, file);

    assert.equal(observed.length, 1);
    assert.deepEqual(observed[0]!.listed, [], 'nothing is listed before the commit');
    assert.equal(observed[0]!.got, undefined, 'nothing is readable before the commit');
    assert.equal(observed[0]!.uncommitted, 5, 'five blocks staged');
    const after = await client.getBlockBlobClient(key).getBlockList('committed');
    assert.equal(after.committedBlocks?.length, 5);
    assert.deepEqual(await lake.list('events/'), [{ key, size: data.length }]);
    assert.ok((await lake.getBuffer(key))!.equals(data));
  });

  it('an overwrite keeps the old object readable until the new one is committed', async () => {
    const name = container();
    const key = 'models/m/r1/report.json';
    let during: Buffer | undefined;
    const lake = BlobLake.fromConnectionString(azurite.connectionString, name, {
      blockSize: 4,
      cacheDir: path.join(tmp, 'cache-ow'),
      beforeCommit: async (k) => {
        during = await lake.getBuffer(k);
      },
    });
    await lake.putBuffer(key, Buffer.from('old-old-old'));
    await lake.putBuffer(key, Buffer.from('new-new-new-new'));
    assert.equal(during?.toString(), 'old-old-old');
    assert.equal((await lake.getBuffer(key))?.toString(), 'new-new-new-new');
  });

  it('localRoot mirrors prefixes into the cache, skips unchanged objects and drops deleted ones', async () => {
    const name = container();
    const cacheDir = path.join(tmp, 'cache-mirror');
    const lake = BlobLake.fromConnectionString(azurite.connectionString, name, { cacheDir });
    await lake.putBuffer('events/date=2026-03-01/hour=00/a.parquet', Buffer.from('aaa'));
    await lake.putBuffer('events/date=2026-03-01/hour=01/b.parquet', Buffer.from('bbbb'));
    await lake.putBuffer('vehicles/date=2026-03-01/vehicles.parquet', Buffer.from('vv'));

    const root = await lake.localRoot(['events/']);
    assert.equal(root, cacheDir);
    assert.equal(await readFile(path.join(root, 'events/date=2026-03-01/hour=00/a.parquet'), 'utf8'), 'aaa');
    assert.equal(await readFile(path.join(root, 'events/date=2026-03-01/hour=01/b.parquet'), 'utf8'), 'bbbb');
    await assert.rejects(stat(path.join(root, 'vehicles/date=2026-03-01/vehicles.parquet')), 'prefix not asked for is not downloaded');

    const before = (await stat(path.join(root, 'events/date=2026-03-01/hour=00/a.parquet'))).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await lake.delete('events/date=2026-03-01/hour=01/b.parquet');
    await lake.putBuffer('events/date=2026-03-01/hour=02/c.parquet', Buffer.from('c'));
    await lake.localRoot(['events/', 'vehicles/']);
    assert.equal((await stat(path.join(root, 'events/date=2026-03-01/hour=00/a.parquet'))).mtimeMs, before, 'unchanged object not downloaded again');
    await assert.rejects(stat(path.join(root, 'events/date=2026-03-01/hour=01/b.parquet')), 'deleted object removed from the cache');
    assert.equal(await readFile(path.join(root, 'events/date=2026-03-01/hour=02/c.parquet'), 'utf8'), 'c');
    assert.equal(await readFile(path.join(root, 'vehicles/date=2026-03-01/vehicles.parquet'), 'utf8'), 'vv');

    await lake.putBuffer('events/date=2026-03-01/hour=00/a.parquet', Buffer.from('AAA'));
    await lake.localRoot(['events/']);
    assert.equal(await readFile(path.join(root, 'events/date=2026-03-01/hour=00/a.parquet'), 'utf8'), 'AAA', 'changed etag re-downloaded');
  });

  it('works with a container URL carrying a SAS', async () => {
    const name = container();
    const admin = new ContainerClient(azurite.connectionString, name);
    await admin.create();
    const sasUrl = await admin.generateSasUrl({ permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 3600_000) });
    const lake = BlobLake.fromContainerUrl(sasUrl, { cacheDir: path.join(tmp, 'cache-sas') });
    assert.ok(!lake.description.includes('sig='), 'description carries no SAS');
    await lake.putBuffer('deadletter/x/date=2026-03-01/a.jsonl', Buffer.from('{}\n'));
    assert.deepEqual(await lake.list('deadletter/'), [{ key: 'deadletter/x/date=2026-03-01/a.jsonl', size: 3 }]);
  });
});
