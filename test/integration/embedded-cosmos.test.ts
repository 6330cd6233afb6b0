import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerCosmosCommand } from '../../scripts/commands/cosmos-command.js';
import { loadConfig } from '../../shared/config/config.js';
import { Unavailable } from '../../shared/errors/app-error.js';
import { createPredictionStore } from '../../shared/prediction-store/create-prediction-store.js';
import { CosmosPredictionStore } from '../../shared/prediction-store/cosmos-prediction-store.js';
import { startEmbeddedCosmos } from '../../shared/prediction-store/embedded-cosmos-server.js';
import { silentLogger } from '../../shared/telemetry/logger.js';
import { prediction, run, neighbors } from '../contract/prediction-store-contract.js';
import { freePort } from '../support/free-port.js';

describe('embedded Cosmos server', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(path.join(tmpdir(), 'showroom-cosmos-'));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves its containers on stop and loads them at the next start', async function () {
    const dataDir = path.join(dir, 'cosmos');
    const first = await startEmbeddedCosmos({ port: 0, dataDir });
    let store = new CosmosPredictionStore({ endpoint: first.endpoint, key: first.key, database: 'persist' });
    await store.init();
    const docs = Array.from({ length: 150 }, (_, i) => prediction('m', 'r1', `c${i}`, 100, 86_400));
    assert.equal((await store.upsertPredictions(docs)).written, 150);
    await store.upsertNeighbors([neighbors('m', 'r1', 'v1')]);
    await store.putRun(run('m', 'r1', '2026-11-27T02:00:00.000Z'));
    await store.activateRun('m', 'r1');
    await store.close();
    await first.stop();

    const files = (await readdir(path.join(dataDir, 'persist'))).sort();
    assert.deepEqual(files, ['neighbors.jsonl', 'predictions.jsonl', 'runs.jsonl']);
    const lines = (await readFile(path.join(dataDir, 'persist', 'predictions.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 151, 'container header + one line per document');
    assert.deepEqual(JSON.parse(lines[0] as string).container.partitionKey.paths, ['/customerId']);

    const second = await startEmbeddedCosmos({ port: 0, dataDir });
    try {
      assert.equal(second.loadedDocuments, 150 + 1 + 2);
      store = new CosmosPredictionStore({ endpoint: second.endpoint, key: second.key, database: 'persist' });
      await store.init();
      assert.equal(await store.countPredictions('m', 'r1'), 150);
      assert.deepEqual(await store.getPrediction('m', 'r1', 'c42'), docs[42]);
      assert.equal((await store.getActiveRun('m'))?.runId, 'r1');
      assert.equal((await store.getRun('m', 'r1'))?.status, 'succeeded');
      assert.equal((await store.listNeighbors('m', 'r1')).length, 1);
      // Writes after a restart keep working (ids and etags stay consistent).
      assert.equal((await store.upsertPredictions([prediction('m', 'r2', 'c1', 3)])).written, 1);
      await store.putRun(run('m', 'r2', '2026-11-28T02:00:00.000Z'));
      assert.equal((await store.activateRun('m', 'r2', { expectedRunId: 'r1' })).previousRunId, 'r1');
      await store.close();
    } finally {
      await second.stop();
    }
    const third = await startEmbeddedCosmos({ port: 0, dataDir });
    assert.equal(third.loadedDocuments, 150 + 1 + 1 + 3);
    await third.stop({ save: false });
  });

  it('expires documents whose ttl has passed, like Cosmos DB', async function () {
    const server = await startEmbeddedCosmos({ port: 0, ttlSweepMs: 100 });
    const store = new CosmosPredictionStore({ endpoint: server.endpoint, key: server.key, database: 'ttl' });
    try {
      await store.init();
      await store.upsertPredictions([prediction('m', 'r1', 'short', 2, 1), prediction('m', 'r1', 'long', 2, 3600), prediction('m', 'r1', 'forever', 2)]);
      assert.equal(await store.countPredictions('m', 'r1'), 3);
      await new Promise((r) => setTimeout(r, 2_200));
      assert.equal(await store.getPrediction('m', 'r1', 'short'), undefined);
      assert.ok(await store.getPrediction('m', 'r1', 'long'));
      assert.ok(await store.getPrediction('m', 'r1', 'forever'));
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('says in one line how to get a Cosmos DB when none answers where the embedded server is looked for', async function () {
    // COSMOS_ENDPOINT unset → the embedded server's address, here a free port where nothing listens
    // (the default https://127.0.0.1:8081 may be a developer's `showroom cosmos`: never skip).
    const port = await freePort();
    const config = loadConfig({});
    const t0 = Date.now();
    await assert.rejects(createPredictionStore(config, silentLogger(), {}, { embeddedEndpoint: `https://127.0.0.1:${port}` }), (err: unknown) => {
      assert.ok(err instanceof Unavailable);
      assert.equal(err.message, `no Cosmos DB at https://127.0.0.1:${port}: run \`showroom cosmos\` in another terminal, or set COSMOS_ENDPOINT`);
      return true;
    });
    assert.ok(Date.now() - t0 < 3_000);
  });

  it('names the configured endpoint when COSMOS_ENDPOINT does not answer', async function () {
    const server = await startEmbeddedCosmos({ port: 0 });
    const endpoint = server.endpoint;
    await server.stop();
    await assert.rejects(createPredictionStore(loadConfig({ COSMOS_ENDPOINT: endpoint }), silentLogger()), (err: unknown) => err instanceof Unavailable && err.message.includes(endpoint) && !err.message.includes('\n'));
  });

  it('refuses to start on a port in use with a clear message', async function () {
    const server = await startEmbeddedCosmos({ port: 0 });
    try {
      await assert.rejects(startEmbeddedCosmos({ port: server.port }), /already in use/);
    } finally {
      await server.stop();
    }
  });

  it('`showroom cosmos --data --json` prints its endpoint once listening and saves on SIGTERM', async function () {
    const dataDir = path.join(dir, 'cli');
    const program = new Command('showroom').exitOverride();
    registerCosmosCommand(program);
    // The command's real code in this process: capture stdout, deliver SIGTERM to ourselves.
    let out = '';
    let err = '';
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      out += chunk.toString();
      return true;
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      err += chunk.toString();
      return true;
    }) as typeof process.stderr.write;
    const env = process.env.SHOWROOM_LOG_LEVEL;
    process.env.SHOWROOM_LOG_LEVEL = 'silent';
    let running: Promise<unknown> | undefined;
    try {
      running = program.parseAsync(['node', 'showroom', 'cosmos', '--port', '0', '--data', dataDir, '--json']);
      const deadline = Date.now() + 10_000;
      while (!out.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const info = JSON.parse(out.split('\n')[0] as string) as { endpoint: string; port: number; dataDir: string };
      assert.equal(info.dataDir, dataDir, out + err);
      assert.equal(info.endpoint, `https://127.0.0.1:${info.port}`);
      const store = new CosmosPredictionStore({ endpoint: info.endpoint, key: 'any', database: 'cli' });
      await store.init();
      await store.upsertPredictions([prediction('m', 'r1', 'c1', 5)]);
      await store.close();
      process.kill(process.pid, 'SIGTERM');
      await running;
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
      if (env === undefined) delete process.env.SHOWROOM_LOG_LEVEL;
      else process.env.SHOWROOM_LOG_LEVEL = env;
    }
    assert.equal(process.exitCode ?? 0, 0, err);
    assert.match(err, /saved 1 documents/);
    const summary = JSON.parse(out.slice(out.indexOf('\n') + 1)) as { saved: { documents: number } };
    assert.equal(summary.saved.documents, 1);
    const lines = (await readFile(path.join(dataDir, 'cli', 'predictions.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 2);
    assert.equal(JSON.parse(lines[1] as string).customerId, 'c1');
  });
});
