/**
 * Starts the embedded Cosmos server, loading its module (`@vercel/cosmosdb-server` and the patch of
 * its query engine) on first use only: commands import this, so a process that never starts the
 * embedded server (one talking to Azure Cosmos DB) never loads it.
 */
import type { EmbeddedCosmos, EmbeddedCosmosOptions } from './embedded-cosmos-server.js';

export type { EmbeddedCosmos, EmbeddedCosmosOptions };

/** `startEmbeddedCosmos` of `embedded-cosmos-server.ts`, imported at the first call. */
export async function startEmbeddedCosmos(options: EmbeddedCosmosOptions = {}): Promise<EmbeddedCosmos> {
  const server = await import('./embedded-cosmos-server.js');
  return server.startEmbeddedCosmos(options);
}
