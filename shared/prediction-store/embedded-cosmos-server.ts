import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../telemetry/logger.js';
import { silentLogger } from '../telemetry/logger.js';
import { Unavailable, errorMessage } from '../errors/app-error.js';
import { patchQueryEngine } from './cosmos-query-engine-patch.js';
import { EMBEDDED_COSMOS_KEY } from './embedded-cosmos-defaults.js';

export { EMBEDDED_COSMOS_KEY };

export interface EmbeddedCosmosOptions {
  /** Bind address (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 8081; 0 = a free port). */
  port?: number;
  /** Folder of the snapshot: loaded at start, written by `save()` and `stop()`. */
  dataDir?: string;
  logger?: Logger;
  /** How often expired documents (`ttl`) are removed, in ms (default 60 000; 0 = never). */
  ttlSweepMs?: number;
}

export interface EmbeddedCosmos {
  /** `https://<host>:<port>`; the certificate is self-signed. */
  endpoint: string;
  key: string;
  port: number;
  /** Documents loaded from `dataDir` at start. */
  loadedDocuments: number;
  /** Writes every container to `dataDir` (atomically, one file per container). No-op without `dataDir`. */
  save(): Promise<{ databases: number; containers: number; documents: number }>;
  /** Stops listening, closes connections, then saves when `dataDir` is set (unless `save: false`). Idempotent. */
  stop(options?: { save?: boolean }): Promise<void>;
}

// Structural view of @vercel/cosmosdb-server's in-memory account (lib/account/*).
type Body = Record<string, unknown> & { id: string; _ts?: number; _etag?: string; ttl?: unknown; defaultTtl?: unknown };
interface StoredItem {
  read(): Body | undefined;
}
interface ItemStore<I extends StoredItem> {
  _data: Map<string, I>;
  create(data: Record<string, unknown>): Body;
  delete(id: string, partition: unknown): void;
  _getPartition(data: Body): unknown;
}
interface CollectionItem extends StoredItem {
  documents: ItemStore<StoredItem>;
}
interface DatabaseItem extends StoredItem {
  collections: ItemStore<CollectionItem>;
  collection(id: string): CollectionItem;
}
interface Account {
  databases: ItemStore<DatabaseItem>;
  database(id: string): DatabaseItem;
}
type Handler = (account: Account, req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => unknown;

const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@vercel/cosmosdb-server/package.json'));
const AccountClass = (require(path.join(pkgDir, 'lib/account/index.js')) as { default: new (host: string, port: number) => Account }).default;
const route = (require(path.join(pkgDir, 'lib/routes.js')) as { default: (req: IncomingMessage) => [Record<string, string>, Handler] | undefined }).default;

// Loading this module patches the embedded server's query engine (two quadratic spots) and
// checks the patch with a probe query: it throws when the pinned versions changed under it.
patchQueryEngine(pkgDir);

const SYSTEM_FIELDS = ['_rid', '_self', '_etag', '_ts', '_attachments', '_docs', '_sprocs', '_triggers', '_udfs', '_conflicts'];
const SNAPSHOT_EXT = '.jsonl';

/**
 * Runs `@vercel/cosmosdb-server` in this process over HTTPS (its self-signed certificate),
 * with keep-alive connections. The server keeps everything in memory; with `dataDir` the
 * containers are loaded at start and saved by `save()`/`stop()` as one JSON-lines file per
 * container (`<dataDir>/<database>/<container>.jsonl`: the container's properties on the first
 * line, then one document per line), each written to a temporary name and renamed.
 *
 * Documents with a `ttl` (or a container `defaultTtl`) are removed once expired, at load and
 * every `ttlSweepMs`, as Cosmos DB would.
 */
export async function startEmbeddedCosmos(options: EmbeddedCosmosOptions = {}): Promise<EmbeddedCosmos> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? silentLogger();
  const state: { account?: Account } = {};

  const server: Server = createServer(
    {
      cert: await readPkgFile('cert.pem'),
      key: await readPkgFile('key.pem'),
      minVersion: 'TLSv1.2',
      keepAlive: true,
    },
    (req, res) => {
      if (state.account) handle(state.account, req, res, logger);
      else {
        res.statusCode = 503;
        res.end('{"message":"starting"}');
      }
    },
  );
  server.keepAliveTimeout = 30_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new Unavailable(
          err.code === 'EADDRINUSE'
            ? `cannot start the embedded Cosmos server: ${host}:${options.port ?? 8081} is already in use (is \`showroom cosmos\` already running?)`
            : `cannot start the embedded Cosmos server: ${err.message}`,
          err,
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port ?? 8081, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // The account advertises its own address to the SDK (writable/readable locations), so it is
  // created once the port is known; requests before the snapshot is loaded get 503.
  const live = new AccountClass(host, port);
  let loadedDocuments = 0;
  try {
    if (options.dataDir) loadedDocuments = await loadSnapshot(live, options.dataDir, logger);
    loadedDocuments -= sweepExpired(live);
  } catch (err) {
    server.close();
    for (const s of sockets) s.destroy();
    throw err;
  }
  state.account = live;

  const sweepMs = options.ttlSweepMs ?? 60_000;
  const sweeper = sweepMs > 0 ? setInterval(() => sweepExpired(live), sweepMs) : undefined;
  sweeper?.unref();

  const endpoint = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ endpoint, dataDir: options.dataDir, loadedDocuments }, 'embedded Cosmos listening');

  const save = async () => {
    if (!options.dataDir) return { databases: 0, containers: 0, documents: 0 };
    const t0 = Date.now();
    const summary = await saveSnapshot(live, options.dataDir);
    logger.info({ ...summary, dataDir: options.dataDir, ms: Date.now() - t0 }, 'embedded Cosmos saved');
    return summary;
  };

  let stopping: Promise<void> | undefined;
  const stop = (stopOptions: { save?: boolean } = {}) => {
    stopping ??= (async () => {
      if (sweeper) clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      if (stopOptions.save !== false) await save();
    })();
    return stopping;
  };

  return { endpoint, key: EMBEDDED_COSMOS_KEY, port, loadedDocuments, save, stop };
}

async function readPkgFile(name: string): Promise<Buffer> {
  const fh = await open(path.join(pkgDir, name), 'r');
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** The request handler of @vercel/cosmosdb-server (lib/index.js) with keep-alive and a 404 fix. */
function handle(account: Account, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  void (async () => {
    const matched = route(req);
    let body: Record<string, unknown> | unknown[] | undefined;
    if (matched) {
      const [params, handler] = matched;
      try {
        body = (await handler(account, req, res, params)) as typeof body;
      } catch (err) {
        // A point read of a missing document in a partitioned container throws inside the server.
        if (req.method === 'GET' && params.docId !== undefined && err instanceof TypeError) {
          res.statusCode = 404;
          body = { code: 'NotFound', message: 'Entity with the specified id does not exist in the system.' };
        } else {
          logger.error({ err, method: req.method, url: req.url }, 'embedded Cosmos handler failed');
          res.statusCode = 500;
          body = { message: errorMessage(err) };
        }
      }
      if (res.statusCode > 399 && body && !Array.isArray(body) && !body.message) body.message = '';
    } else {
      res.statusCode = 400;
      body = { message: 'no route' };
    }
    if (body && !Array.isArray(body) && typeof body._etag === 'string') res.setHeader('etag', body._etag);
    // `Prefer: return=minimal` (the SDK's contentResponseOnWriteEnabled: false on bulk/batch):
    // like Cosmos DB, answer without echoing the documents back.
    if (Array.isArray(body) && /return=minimal/i.test(String(req.headers.prefer ?? ''))) {
      for (const op of body as Record<string, unknown>[]) delete op.resourceBody;
    }
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-location', `https://${req.headers.host ?? ''}${req.url ?? ''}`);
    res.setHeader('x-ms-activity-id', randomUUID());
    res.setHeader('x-ms-request-charge', '1');
    if (req.headers['a-im'] && res.statusCode === 200) {
      if (req.headers['if-none-match']) res.statusCode = 304;
      res.setHeader('etag', '1');
    }
    res.end(JSON.stringify(body));
  })().catch((err: unknown) => {
    logger.error({ err }, 'embedded Cosmos request failed');
    if (!res.writableEnded) {
      res.statusCode = 500;
      res.end('');
    }
  });
}

function stripSystem(body: Body): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const f of SYSTEM_FIELDS) delete out[f];
  return out;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Seconds a document lives, or undefined when it never expires (Cosmos DB TTL rules). */
function effectiveTtl(doc: Body, defaultTtl: unknown): number | undefined {
  if (defaultTtl === undefined || defaultTtl === null) return undefined;
  const ttl = typeof doc.ttl === 'number' ? doc.ttl : defaultTtl;
  return typeof ttl === 'number' && ttl > 0 ? ttl : undefined;
}

/** Removes expired documents. Returns how many. */
function sweepExpired(account: Account): number {
  const now = nowSeconds();
  let removed = 0;
  for (const dbItem of account.databases._data.values()) {
    for (const coll of dbItem.collections._data.values()) {
      const meta = coll.read();
      if (!meta || meta.defaultTtl === undefined || meta.defaultTtl === null) continue;
      const expired: Body[] = [];
      for (const item of coll.documents._data.values()) {
        const doc = item.read();
        if (!doc) continue;
        const ttl = effectiveTtl(doc, meta.defaultTtl);
        if (ttl !== undefined && (doc._ts ?? now) + ttl < now) expired.push(doc); // never early: lives ttl..ttl+1 s
      }
      for (const doc of expired) coll.documents.delete(doc.id, coll.documents._getPartition(doc));
      removed += expired.length;
    }
  }
  return removed;
}

async function saveSnapshot(account: Account, dataDir: string): Promise<{ databases: number; containers: number; documents: number }> {
  await mkdir(dataDir, { recursive: true });
  let databases = 0;
  let containers = 0;
  let documents = 0;
  const keep = new Map<string, Set<string>>();
  // Take the references synchronously: a consistent view even while requests keep coming.
  const plan: { db: string; meta: Body; docs: (Body | undefined)[] }[] = [];
  for (const dbItem of account.databases._data.values()) {
    const dbMeta = dbItem.read();
    if (!dbMeta) continue;
    databases += 1;
    keep.set(dbMeta.id, new Set());
    for (const coll of dbItem.collections._data.values()) {
      const meta = coll.read();
      if (!meta) continue;
      plan.push({ db: dbMeta.id, meta, docs: [...coll.documents._data.values()].map((i) => i.read()) });
    }
  }
  for (const { db, meta, docs } of plan) {
    const dir = path.join(dataDir, encodeURIComponent(db));
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${encodeURIComponent(meta.id)}${SNAPSHOT_EXT}`);
    const tmp = `${file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w');
    try {
      let chunk = `${JSON.stringify({ container: stripSystem(meta) })}\n`;
      for (const doc of docs) {
        if (!doc) continue;
        chunk += `${JSON.stringify(doc)}\n`;
        documents += 1;
        if (chunk.length > 4 << 20) {
          await fh.write(chunk);
          chunk = '';
        }
      }
      await fh.write(chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    keep.get(db)?.add(path.basename(file));
    containers += 1;
  }
  // Remove snapshots of containers and databases deleted since the last save.
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const files = keep.get(decodeURIComponent(entry.name));
    const dir = path.join(dataDir, entry.name);
    if (!files) {
      if ((await readdir(dir)).every((f) => f.endsWith(SNAPSHOT_EXT))) await rm(dir, { recursive: true, force: true });
      continue;
    }
    for (const f of await readdir(dir)) if (f.endsWith(SNAPSHOT_EXT) && !files.has(f)) await rm(path.join(dir, f), { force: true });
  }
  return { databases, containers, documents };
}

async function loadSnapshot(account: Account, dataDir: string, logger: Logger): Promise<number> {
  const exists = await stat(dataDir).then((s) => s.isDirectory(), () => false);
  if (!exists) return 0;
  let documents = 0;
  for (const entry of await readdir(dataDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dbId = decodeURIComponent(entry.name);
    const files = (await readdir(path.join(dataDir, entry.name))).filter((f) => f.endsWith(SNAPSHOT_EXT));
    if (files.length === 0) continue;
    let dbItem = account.database(dbId);
    if (!dbItem.read()) {
      account.databases.create({ id: dbId });
      dbItem = account.database(dbId);
    }
    for (const f of files) {
      const file = path.join(dataDir, entry.name, f);
      const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
      let coll: CollectionItem | undefined;
      let lineNo = 0;
      for await (const line of lines) {
        lineNo += 1;
        if (line.trim() === '') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch (err) {
          throw new Unavailable(`embedded Cosmos snapshot ${file} is corrupt at line ${lineNo}: ${errorMessage(err)}`, err);
        }
        if (!coll) {
          const meta = (parsed as { container?: Body }).container;
          if (!meta?.id) throw new Unavailable(`embedded Cosmos snapshot ${file} has no container header`);
          if (!dbItem.collection(meta.id).read()) dbItem.collections.create(meta);
          coll = dbItem.collection(meta.id);
          continue;
        }
        const saved = parsed as Body;
        const stored = coll.documents.create(stripSystem(saved));
        if (typeof saved._ts === 'number') stored._ts = saved._ts;
        if (typeof saved._etag === 'string') stored._etag = saved._etag;
        documents += 1;
      }
    }
  }
  logger.info({ dataDir, documents }, 'embedded Cosmos snapshot loaded');
  return documents;
}
