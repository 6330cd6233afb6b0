/** An object in the lake. Keys are `/`-separated paths relative to the lake root. */
export interface LakeObject {
  key: string;
  size: number;
}

/**
 * The Parquet lake (a local folder embedded; Azure Blob / ADLS in production). Layout:
 * `events/date=YYYY-MM-DD/hour=HH/<writer>-<seq>.parquet`, `vehicles/date=YYYY-MM-DD/vehicles.parquet`,
 * `models/<model>/<runId>/...`, `deadletter/...`.
 *
 * `put` is atomic: readers see the whole object or nothing (temp name + fsync + rename on
 * disk; staged blocks committed once on Blob).
 */
export interface Lake {
  /** Human-readable location, secrets removed. */
  readonly description: string;
  /** Uploads a local file to `key`, atomically. Overwrites. */
  put(key: string, localFile: string): Promise<void>;
  putBuffer(key: string, data: Buffer): Promise<void>;
  /** Objects under `prefix`, sorted by key. */
  list(prefix: string): Promise<LakeObject[]>;
  getBuffer(key: string): Promise<Buffer | undefined>;
  /**
   * A local folder holding (at least) every object under `prefixes`, laid out as in the lake,
   * for DuckDB to read. The local lake returns its own root; Blob downloads to a cache.
   */
  localRoot(prefixes: string[]): Promise<string>;
  delete(key: string): Promise<void>;
}
