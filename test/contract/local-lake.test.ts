import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalLake } from '../../shared/lake/local-lake.js';
import { createLake, localLakePath } from '../../shared/lake/create-lake.js';
import { ConfigError } from '../../shared/errors/app-error.js';
import { lakeContract } from './lake-contract.js';

lakeContract('LocalLake', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-lake-'));
  return { lake: new LocalLake(path.join(dir, 'lake')), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
});

describe('LocalLake specifics', function () {
  it('rejects keys that escape the root', async function () {
    const lake = new LocalLake(path.join(os.tmpdir(), 'never-created-lake'));
    await assert.rejects(lake.putBuffer('../evil', Buffer.from('x')), /invalid lake key/);
    await assert.rejects(lake.putBuffer('a/./b', Buffer.from('x')), /invalid lake key/);
  });

  it('createLake resolves relative file:// URLs against cwd, and rejects unsupported URLs by name', function () {
    assert.equal(localLakePath('file://./data/lake', '/srv/app'), '/srv/app/data/lake');
    assert.equal(localLakePath('file://data/lake', '/srv/app'), '/srv/app/data/lake');
    assert.equal(localLakePath('file:///var/lake', '/srv/app'), '/var/lake');
    assert.equal(localLakePath('https://acct.blob.core.windows.net/lake'), undefined);
    const lake = createLake({ lakeUrl: 'file://./x/lake', lakeContainer: 'lake' }, { cwd: '/srv/app' });
    assert.ok(lake instanceof LocalLake);
    assert.equal(lake.root, '/srv/app/x/lake');
    assert.throws(
      () => createLake({ lakeUrl: 'ftp://example.com/lake', lakeContainer: 'lake' }),
      (err: unknown) => err instanceof ConfigError && /LAKE_URL/.test(err.message),
    );
  });
});
