import { randomUUID } from 'node:crypto';
import { CosmosPredictionStore, type CosmosPredictionStoreOptions } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { startEmbeddedCosmos, type EmbeddedCosmos, type EmbeddedCosmosOptions } from '../../shared/prediction-store/embedded-cosmos-server.js';

export interface TestCosmos {
  server: EmbeddedCosmos;
  endpoint: string;
  key: string;
  /** A unique database name for this suite (`showroom-test-<random>`). */
  database: string;
  /** A CosmosPredictionStore on this server and database, `init()`ed; closed by `stop()`. */
  openStore(overrides?: Partial<CosmosPredictionStoreOptions>): Promise<CosmosPredictionStore>;
  /** Closes every store opened here and stops the server. */
  stop(): Promise<void>;
}

/**
 * Starts the embedded Cosmos server in this process on a free loopback port (no snapshot unless
 * `dataDir` is given) with a unique database name. Call `stop()` in `after()`.
 */
export async function startTestCosmos(options: Omit<EmbeddedCosmosOptions, 'port' | 'host'> = {}): Promise<TestCosmos> {
  const server = await startEmbeddedCosmos({ host: '127.0.0.1', port: 0, ...options });
  const database = `showroom-test-${randomUUID().slice(0, 8)}`;
  const stores: CosmosPredictionStore[] = [];
  return {
    server,
    endpoint: server.endpoint,
    key: server.key,
    database,
    async openStore(overrides = {}) {
      const store = new CosmosPredictionStore({ endpoint: server.endpoint, key: server.key, database, requestTimeoutMs: 10_000, ...overrides });
      stores.push(store);
      await store.init();
      return store;
    },
    async stop() {
      await Promise.all(stores.map((s) => s.close()));
      await server.stop();
    },
  };
}
