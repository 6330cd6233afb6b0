import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors/app-error.js';
import type { Lake } from './lake.js';
import { LocalLake } from './local-lake.js';

/**
 * Local folder of a `file://` lake URL. `file://./data/lake` and `file://data/lake` are relative
 * to `cwd`; `file:///abs/path` is absolute. Returns undefined for any other URL.
 */
export function localLakePath(lakeUrl: string, cwd = process.cwd()): string | undefined {
  if (!lakeUrl.startsWith('file://')) return undefined;
  const rest = lakeUrl.slice('file://'.length);
  if (rest.startsWith('/')) return fileURLToPath(`file://${rest}`);
  return path.resolve(cwd, decodeURIComponent(rest));
}

/**
 * Builds the Lake adapter `config.lakeUrl` names. `file://` → {@link LocalLake}. Azure Blob
 * URLs and connection strings need the Blob adapter (`shared/lake/blob-lake.ts`).
 */
export function createLake(config: Pick<Config, 'lakeUrl' | 'lakeContainer'>, options: { cwd?: string } = {}): Lake {
  const local = localLakePath(config.lakeUrl, options.cwd);
  if (local !== undefined) return new LocalLake(local);
  throw new ConfigError('LAKE_URL names an Azure Blob lake, but the Blob lake adapter is not configured in this build; use LAKE_URL=file://<path>', [
    { field: 'LAKE_URL', message: 'Blob lake adapter is not configured' },
  ]);
}
