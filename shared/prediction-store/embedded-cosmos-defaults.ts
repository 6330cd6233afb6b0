/**
 * Constants of the embedded Cosmos server that other processes need (the key to sign requests
 * with when `COSMOS_KEY` is unset). No side effects: importing this does not load the server or
 * its query engine, which only `startEmbeddedCosmos` callers do (`embedded-cosmos-server.ts`).
 */

/**
 * The well-known key of the Cosmos DB emulator. The embedded server accepts any key; the
 * SDK needs one to sign requests.
 */
export const EMBEDDED_COSMOS_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
