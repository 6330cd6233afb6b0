import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { CosmosClient } from '@azure/cosmos';
import { Unavailable } from '../../shared/errors/app-error.js';
import { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { freePort } from '../support/free-port.js';
import { startTestCosmos, type TestCosmos } from '../support/embedded-cosmos.js';
import { predictionStoreContract } from './prediction-store-contract.js';

export { predictionStoreContract } from './prediction-store-contract.js';

predictionStoreContract('Cosmos (embedded server)', async () => {
  const cosmos = await startTestCosmos();
  const store = await cosmos.openStore();
  return { store, cleanup: () => cosmos.stop() };
});

describe('CosmosPredictionStore', function () {
  this.timeout(20_000);
  let cosmos: TestCosmos;
  before(async function () {
    cosmos = await startTestCosmos();
  });
  after(async function () {
    await cosmos?.stop();
  });

  it('creates the containers with their partition keys and TTL enabled', async function () {
    const store = await cosmos.openStore();
    await store.init();
    const agent = new Agent({ rejectUnauthorized: false });
    const client = new CosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, agent, connectionPolicy: { enableEndpointDiscovery: false } });
    try {
      const db = client.database(cosmos.database);
      for (const [id, pk] of [['predictions', '/customerId'], ['neighbors', '/vehicleId'], ['runs', '/model']]) {
        const { resource } = await db.container(id as string).read();
        assert.deepEqual(resource?.partitionKey?.paths, [pk]);
        assert.equal(resource?.defaultTtl, -1);
      }
    } finally {
      client.dispose();
      agent.destroy();
    }
  });

  it('fails fast with Unavailable when nothing listens at the endpoint', async function () {
    const port = await freePort();
    const store = new CosmosPredictionStore({ endpoint: `https://127.0.0.1:${port}`, key: cosmos.key, database: cosmos.database });
    const t0 = Date.now();
    await assert.rejects(store.init(), (err: unknown) => err instanceof Unavailable && err.message.includes(`127.0.0.1:${port}`));
    await assert.rejects(store.ping(), Unavailable);
    await store.close();
    assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  });
});
