import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROBE_QUERY, rewriteQuadraticGather, verifyQueryEnginePatch, type QueryEngineProbe } from '../../shared/prediction-store/cosmos-query-engine-patch.js';
import { freePort } from '../support/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/**
 * Runs `script` (ESM) in a child `node --import tsx` in the repository root and returns the
 * modules of `@vercel/cosmosdb-server` / `@zeit/cosmosdb-query` in the CommonJS cache at the end
 * (the embedded server loads both with `require`).
 */
async function embeddedModulesLoadedBy(script: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const probe = `${script}
const { createRequire } = await import('node:module');
const cache = createRequire(import.meta.url).cache;
process.stdout.write('LOADED ' + JSON.stringify(Object.keys(cache).filter((k) => /cosmosdb-(server|query)/.test(k))) + '\\n');`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 90_000 });
  const line = stdout.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line, `child printed no LOADED line: ${stdout}`);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

/** The real query engine the embedded server uses, unpatched (a fresh require cache of this process may already hold a patched one: load its source parts directly). */
function realEngine(): { generate: (q: string) => string; versions: string } {
  const req = createRequire(path.join(path.dirname(createRequire(import.meta.url).resolve('@vercel/cosmosdb-server/package.json')), 'package.json'));
  const query = (req('@zeit/cosmosdb-query') as { default: (q: string) => { code: string } }).default;
  return { generate: (q) => query(q).code, versions: '@vercel/cosmosdb-server 1.0.1, @zeit/cosmosdb-query 0.7.2' };
}

describe('embedded Cosmos server: loaded only where it is started, its patch checked (issue 14.7)', function () {
  this.timeout(120_000);

  it('a process that builds its prediction store and registers every CLI command never loads the embedded server', async () => {
    const port = await freePort(); // nothing listens: createPredictionStore fails fast, after building the store
    const commands = (await import('node:fs')).readdirSync(path.join(ROOT, 'scripts/commands')).filter((f) => f.endsWith('-command.ts'));
    assert.ok(commands.length > 10);
    const loaded = await embeddedModulesLoadedBy(
      `${commands.map((f) => `await import('./scripts/commands/${f}');`).join('\n')}
const { loadConfig } = await import('./shared/config/config.ts');
const { silentLogger } = await import('./shared/telemetry/logger.ts');
const { createPredictionStore } = await import('./shared/prediction-store/create-prediction-store.ts');
await createPredictionStore(loadConfig(), silentLogger(), { requestTimeoutMs: 2000 }).then(() => { throw new Error('connected?'); }, () => undefined);`,
      { COSMOS_ENDPOINT: `https://127.0.0.1:${port}` },
    );
    assert.deepEqual(loaded, []);
  });

  it('(control) the same probe sees the embedded server once a caller starts it', async () => {
    const loaded = await embeddedModulesLoadedBy(
      `const { startEmbeddedCosmos } = await import('./shared/prediction-store/embedded-cosmos-launcher.ts');
const s = await startEmbeddedCosmos({ port: 0 });
await s.stop({ save: false });`,
    );
    assert.ok(loaded.some((k) => k.includes('@vercel/cosmosdb-server')), `loaded: ${loaded.join(', ')}`);
    assert.ok(loaded.some((k) => k.includes('@zeit/cosmosdb-query')), `loaded: ${loaded.join(', ')}`);
  });

  it('the self-check passes on the pinned engine and rewrites the gather of the probe', () => {
    const engine = realEngine();
    const code = engine.generate(PROBE_QUERY);
    assert.equal(rewriteQuadraticGather(code).rewrites, 1);
    assert.doesNotMatch(rewriteQuadraticGather(code).code, /\[\.\.\.\$/);
    // A hand-written engine that runs the rewritten code over the probe container (3 documents and a hole).
    const exec = (createRequire(path.join(path.dirname(createRequire(import.meta.url).resolve('@vercel/cosmosdb-server/package.json')), 'package.json'))('@zeit/cosmosdb-query/lib/executor.js') as { default: (c: unknown, o: { code: string }) => { result: unknown } }).default;
    verifyQueryEnginePatch({ ...engine, execute: (docs, c) => exec(docs, { code: rewriteQuadraticGather(c).code }).result });
  });

  it('the self-check throws, naming the versions, when the generated code no longer has the shape it rewrites', () => {
    const engine = realEngine();
    const altered: QueryEngineProbe = {
      ...engine,
      // A future engine that gathers with concat: the regex no longer matches.
      generate: (q) => engine.generate(q).replace(/\[\.\.\.\$, /g, '$.concat(').replace(/\}\] : \$/g, '}) : $'),
      execute: () => [3],
    };
    assert.throws(() => verifyQueryEnginePatch(altered), (err: Error) => {
      assert.match(err.message, /no longer contains the gather/);
      assert.match(err.message, /@vercel\/cosmosdb-server 1\.0\.1, @zeit\/cosmosdb-query 0\.7\.2/);
      return true;
    });
  });

  it('the self-check throws when the patched engine answers the probe wrongly or fails', () => {
    const engine = realEngine();
    assert.throws(() => verifyQueryEnginePatch({ ...engine, execute: () => [2] }), /answered \[2\], expected \[3\]/);
    assert.throws(
      () =>
        verifyQueryEnginePatch({
          ...engine,
          execute: () => {
            throw new Error('$c.filter is not a function');
          },
        }),
      /probe .* failed: \$c\.filter is not a function/,
    );
  });

  it('pins the patched packages exactly (package.json and the lock file agree)', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; overrides?: Record<string, string> };
    assert.equal(pkg.dependencies['@vercel/cosmosdb-server'], '1.0.1');
    assert.equal(pkg.overrides?.['@zeit/cosmosdb-query'], '0.7.2');
    const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    assert.equal(lock.packages['node_modules/@vercel/cosmosdb-server']?.version, '1.0.1');
    assert.equal(lock.packages['node_modules/@zeit/cosmosdb-query']?.version, '0.7.2');
  });
});
