import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ContainerClient, RestError } from '@azure/storage-blob';
import { Unavailable, errorMessage } from '../errors/app-error.js';
import type { Lake, LakeObject } from './lake.js';

/** Options of {@link BlobLake}. */
export interface BlobLakeOptions {
  /** Local folder `localRoot` downloads into (default `<dataDir>/lake-cache/<account>/<container>`). */
  cacheDir?: string;
  /** Base of the default cache folder (default `./data`). */
  dataDir?: string;
  /** Size of one staged block, bytes (default 8 MiB). */
  blockSize?: number;
  /** Blocks staged (or objects downloaded) at once (default 4). */
  concurrency?: number;
  /** Create the container on first write if missing (default true; ignored when the SAS forbids it). */
  createContainer?: boolean;
  /**
   * Test hook: runs after every block of a `put` is staged and before the single commit.
   * Nothing of the new object is visible to readers at this point.
   */
  beforeCommit?: (key: string, blockIds: string[]) => Promise<void>;
}

interface CacheEntry {
  etag: string;
  size: number;
}

const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
const MANIFEST = '.lake-cache-manifest.json';

/**
 * The lake on Azure Blob Storage / ADLS Gen2 (`@azure/storage-blob`).
 *
 * - `put` stages the file as blocks (several in parallel) and commits the block list once, so
 *   readers see the old object or the whole new one, never part of it.
 * - `localRoot` mirrors the objects under the given prefixes into a local cache folder
 *   (skipping objects already cached with the same etag and size, removing ones deleted from
 *   the lake) and returns that folder, so DuckDB reads local files.
 */
export class BlobLake implements Lake {
  readonly description: string;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private readonly cacheDir: string;
  private containerReady: Promise<void> | undefined;
  private cacheQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly container: ContainerClient,
    private readonly options: BlobLakeOptions = {},
  ) {
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    const account = container.accountName || 'account';
    this.cacheDir = options.cacheDir ?? path.resolve(options.dataDir ?? './data', 'lake-cache', account, container.containerName);
    const u = new URL(container.url);
    this.description = `azure-blob ${u.protocol}//${u.host}${u.pathname}`;
  }

  /** A lake on `container` of the account named by a storage connection string. */
  static fromConnectionString(connectionString: string, container: string, options?: BlobLakeOptions): BlobLake {
    return new BlobLake(new ContainerClient(connectionString, container), options);
  }

  /** A lake on a container URL, optionally carrying a SAS token (`https://acct.blob.core.windows.net/lake?sv=...`). */
  static fromContainerUrl(containerUrl: string, options?: BlobLakeOptions): BlobLake {
    return new BlobLake(new ContainerClient(containerUrl), options);
  }

  /** The local cache folder `localRoot` fills. */
  get cacheRoot(): string {
    return this.cacheDir;
  }

  async put(key: string, localFile: string): Promise<void> {
    const size = (await stat(localFile)).size;
    const fh = await open(localFile, 'r');
    try {
      await this.upload(key, size, async (offset, length) => {
        const buf = Buffer.allocUnsafe(length);
        let read = 0;
        while (read < length) {
          const r = await fh.read(buf, read, length - read, offset + read);
          if (r.bytesRead === 0) throw new Error(`${localFile} shrank while uploading`);
          read += r.bytesRead;
        }
        return buf;
      });
    } finally {
      await fh.close();
    }
  }

  async putBuffer(key: string, data: Buffer): Promise<void> {
    await this.upload(key, data.length, async (offset, length) => data.subarray(offset, offset + length));
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const out: LakeObject[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix })) {
        out.push({ key: item.name, size: item.properties.contentLength ?? 0 });
      }
    } catch (err) {
      if (isStatus(err, 404)) return [];
      throw this.wrap(`list ${prefix}`, err);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    try {
      // One GET: a ranged parallel download could mix two versions during an overwrite.
      const res = await this.container.getBlockBlobClient(key).download(0);
      const chunks: Buffer[] = [];
      for await (const chunk of res.readableStreamBody ?? []) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw this.wrap(`get ${key}`, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.container.getBlockBlobClient(key).deleteIfExists();
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw this.wrap(`delete ${key}`, err);
    }
  }

  /**
   * Mirrors every object under `prefixes` into the cache folder and returns it. Objects whose
   * etag and size match the cached copy are not downloaded again; cached files whose object
   * is gone from the lake are removed. Calls are serialised per instance.
   */
  localRoot(prefixes: string[]): Promise<string> {
    const run = this.cacheQueue.then(() => this.syncCache(prefixes));
    this.cacheQueue = run.catch(() => undefined);
    return run;
  }

  private async syncCache(prefixes: string[]): Promise<string> {
    await mkdir(this.cacheDir, { recursive: true });
    const manifestPath = path.join(this.cacheDir, MANIFEST);
    const manifest = await readManifest(manifestPath);
    for (const prefix of prefixes) {
      const remote = new Map<string, CacheEntry>();
      try {
        for await (const item of this.container.listBlobsFlat({ prefix })) {
          remote.set(item.name, { etag: item.properties.etag ?? '', size: item.properties.contentLength ?? 0 });
        }
      } catch (err) {
        if (!isStatus(err, 404)) throw this.wrap(`list ${prefix}`, err);
      }
      const todo: [string, CacheEntry][] = [];
      for (const [key, entry] of remote) {
        const cached = manifest[key];
        if (cached && cached.etag === entry.etag && cached.size === entry.size && (await fileSize(this.localPath(key))) === entry.size) continue;
        todo.push([key, entry]);
      }
      await forEachLimit(todo, this.concurrency, async ([key, entry]) => {
        const dest = this.localPath(key);
        const tmp = `${dest}.${randomBytes(4).toString('hex')}.part`;
        await mkdir(path.dirname(dest), { recursive: true });
        try {
          await this.container.getBlockBlobClient(key).downloadToFile(tmp, 0, undefined, { conditions: entry.etag ? { ifMatch: entry.etag } : undefined });
          await rename(tmp, dest);
        } catch (err) {
          await rm(tmp, { force: true });
          if (isStatus(err, 404) || isStatus(err, 412)) {
            delete manifest[key]; // deleted or replaced since the listing; the next call picks it up
            return;
          }
          throw this.wrap(`download ${key}`, err);
        }
        manifest[key] = entry;
      });
      for (const key of Object.keys(manifest)) {
        if (key.startsWith(prefix) && !remote.has(key)) {
          await rm(this.localPath(key), { force: true });
          delete manifest[key];
        }
      }
    }
    const tmp = `${manifestPath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(manifest));
    await rename(tmp, manifestPath);
    return this.cacheDir;
  }

  private localPath(key: string): string {
    const p = path.resolve(this.cacheDir, key);
    if (!p.startsWith(this.cacheDir + path.sep)) throw new Error(`lake key escapes the cache folder: ${key}`);
    return p;
  }

  private async upload(key: string, size: number, read: (offset: number, length: number) => Promise<Buffer>): Promise<void> {
    await this.ensureContainer();
    // A commit discards every uncommitted block of the blob, so two writers putting the same key
    // at once make one commit fail with InvalidBlockList: stage again (the last commit wins).
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.uploadOnce(key, size, read);
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (code !== 'InvalidBlockList' || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
      }
    }
  }

  private async uploadOnce(key: string, size: number, read: (offset: number, length: number) => Promise<Buffer>): Promise<void> {
    const blob = this.container.getBlockBlobClient(key);
    const uploadId = randomBytes(6).toString('hex');
    const count = Math.max(1, Math.ceil(size / this.blockSize));
    // Block ids of one blob must all have the same length.
    const ids = Array.from({ length: count }, (_, i) => Buffer.from(`${uploadId}-${String(i).padStart(6, '0')}`).toString('base64'));
    try {
      await forEachLimit(
        ids.map((id, i) => [id, i] as const),
        this.concurrency,
        async ([id, i]) => {
          const offset = i * this.blockSize;
          const length = Math.min(this.blockSize, size - offset);
          const body = await read(offset, Math.max(0, length));
          await blob.stageBlock(id, body, body.length);
        },
      );
      if (this.options.beforeCommit) await this.options.beforeCommit(key, ids);
      await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: contentTypeOf(key) } });
    } catch (err) {
      throw this.wrap(`put ${key}`, err);
    }
  }

  private ensureContainer(): Promise<void> {
    if (this.options.createContainer === false) return Promise.resolve();
    this.containerReady ??= this.container
      .createIfNotExists()
      .then(() => undefined)
      .catch((err: unknown) => {
        // A SAS scoped to the container may not allow creating it; writes will tell.
        if (isStatus(err, 403) || isStatus(err, 409)) return;
        this.containerReady = undefined;
        throw this.wrap('create container', err);
      });
    return this.containerReady;
  }

  private wrap(what: string, err: unknown): Error {
    if (err instanceof Unavailable) return err;
    return new Unavailable(`blob lake ${what} failed: ${errorMessage(err)}`, err);
  }
}

function isStatus(err: unknown, status: number): boolean {
  return err instanceof RestError ? err.statusCode === status : (err as { statusCode?: number } | null)?.statusCode === status;
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.parquet')) return 'application/vnd.apache.parquet';
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.jsonl')) return 'application/x-ndjson';
  return 'application/octet-stream';
}

async function readManifest(file: string): Promise<Record<string, CacheEntry>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, CacheEntry>;
  } catch {
    return {};
  }
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

