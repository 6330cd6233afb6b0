import { EMBEDDED_COSMOS_ENDPOINT, type Config } from '../config/config.js';
import { Unavailable } from '../errors/app-error.js';
import type { Logger } from '../telemetry/logger.js';
import { CosmosPredictionStore, type CosmosPredictionStoreOptions } from './cosmos-prediction-store.js';
import { EMBEDDED_COSMOS_KEY } from './embedded-cosmos-defaults.js';

/**
 * Builds the PredictionStore of a process from its configuration and initialises it (database
 * and containers created if missing). `COSMOS_ENDPOINT` unset means the embedded server at
 * https://127.0.0.1:8081 (`showroom cosmos`); when nothing answers there, throws Unavailable with
 * a one-line message saying what to do. Only the embedded server's constants are imported here:
 * the server itself (`embedded-cosmos-server.ts`) is loaded by the commands that start it.
 */
export async function createPredictionStore(
  config: Config,
  logger: Logger,
  overrides: Partial<Omit<CosmosPredictionStoreOptions, 'logger'>> = {},
  defaults: { /** Where the embedded server is looked for when COSMOS_ENDPOINT is unset (default https://127.0.0.1:8081). */ embeddedEndpoint?: string } = {},
): Promise<CosmosPredictionStore> {
  const embeddedEndpoint = defaults.embeddedEndpoint ?? EMBEDDED_COSMOS_ENDPOINT;
  const endpoint = overrides.endpoint ?? config.cosmosEndpoint ?? embeddedEndpoint;
  const store = new CosmosPredictionStore({
    key: config.cosmosKey ?? EMBEDDED_COSMOS_KEY,
    database: config.cosmosDatabase,
    ...overrides,
    endpoint,
    logger,
  });
  try {
    await store.init();
  } catch (err) {
    await store.close();
    if (err instanceof Unavailable && config.cosmosEndpoint === undefined && overrides.endpoint === undefined) {
      throw new Unavailable(`no Cosmos DB at ${embeddedEndpoint}: run \`showroom cosmos\` in another terminal, or set COSMOS_ENDPOINT`, err);
    }
    throw err;
  }
  logger.debug({ endpoint, database: config.cosmosDatabase }, 'prediction store ready');
  return store;
}
