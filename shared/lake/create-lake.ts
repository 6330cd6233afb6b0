import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors/app-error.js';
import type { Lake } from './lake.js';
import { BlobLake } from './blob-lake.js';
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
 * Builds the Lake adapter `config.lakeUrl` names. `file://` → {@link LocalLake}; an Azure Blob
 * container URL (optionally with a SAS; an account URL gets `config.lakeContainer` appended) or
 * a storage connection string (container `config.lakeContainer`) → {@link BlobLake}, whose
 * `localRoot` cache lives under `config.dataDir` (default `./data`).
 */
export function createLake(
  config: Pick<Config, 'lakeUrl' | 'lakeContainer'> & Partial<Pick<Config, 'dataDir'>>,
  options: { cwd?: string } = {},
): Lake {
  const local = localLakePath(config.lakeUrl, options.cwd);
  if (local !== undefined) return new LocalLake(local);
  const blobOptions = { dataDir: path.resolve(options.cwd ?? process.cwd(), config.dataDir ?? './data') };
  if (/^https?:\/\//.test(config.lakeUrl)) return BlobLake.fromContainerUrl(blobContainerUrl(config.lakeUrl, config.lakeContainer), blobOptions);
  if (/AccountName=|UseDevelopmentStorage=true/i.test(config.lakeUrl)) return BlobLake.fromConnectionString(config.lakeUrl, config.lakeContainer, blobOptions);
  throw new ConfigError('LAKE_URL must be file://<path>, an Azure Blob container URL or a storage connection string', [
    { field: 'LAKE_URL', message: 'unsupported lake URL' },
  ]);
}

/**
 * The container URL of a Blob lake URL: kept when it names a container, else `container` is
 * appended to the account URL. Emulator URLs (`http://127.0.0.1:10000/devstoreaccount1/...`)
 * carry the account as the first path segment.
 */
export function blobContainerUrl(lakeUrl: string, container: string): string {
  const u = new URL(lakeUrl);
  const segments = u.pathname.split('/').filter(Boolean);
  const emulator = /^(127\.0\.0\.1|localhost|\[::1\]|\d+\.\d+\.\d+\.\d+)$/.test(u.hostname) || u.hostname.endsWith('.localhost');
  if (segments.length > (emulator ? 1 : 0)) return u.toString();
  u.pathname = `${segments.join('/')}/${encodeURIComponent(container)}`.replace(/^\/?/, '/');
  return u.toString();
}
