/**
 * The performance patch of the embedded server's query engine (`@zeit/cosmosdb-query`, the
 * version `@vercel/cosmosdb-server` depends on; both pinned exactly in package.json).
 *
 * Two quadratic spots made whole-container queries unusable at scale (listing a 34k-vehicle
 * neighbour table: minutes; COUNT over 200k documents: a stalled server): the generated code
 * gathers the container with `reduce(($, c) => ... [...$, { c }] ...)`, and `stripUndefined`
 * copies arrays the same way. Both are rewritten to linear equivalents with the same results.
 *
 * The patch rewrites generated source text, so a new engine version could silently stop matching
 * it. `verifyQueryEnginePatch` runs a probe query of the shape the patch exists for and throws
 * when the rewrite no longer applies or the result is wrong; `patchQueryEngine` calls it at load.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const QUADRATIC_GATHER = /\$c\.reduce\(\(\$, (\w+)\) => typeof \1 !== "undefined" \? \[\.\.\.\$, \{\s*(\w+): \1\s*\}\] : \$, \[\]\)/g;

/** The probe: a COUNT over a container (a gather, then `stripUndefined`), with a hole in the container. */
export const PROBE_QUERY = 'SELECT VALUE COUNT(1) FROM c';
const PROBE_DOCS: readonly unknown[] = [{ id: 'a', _rid: '1' }, undefined, { id: 'b', _rid: '2' }, { id: 'c', _rid: '3' }];
const PROBE_RESULT = [3];

/** The generated code with every quadratic gather rewritten, and how many were. */
export function rewriteQuadraticGather(code: string): { code: string; rewrites: number } {
  let rewrites = 0;
  const out = code.replace(QUADRATIC_GATHER, (_m, v: string, alias: string) => {
    rewrites += 1;
    return `$c.filter((${v}) => typeof ${v} !== "undefined").map((${v}) => ({ ${alias}: ${v} }))`;
  });
  return { code: out, rewrites };
}

/** `stripUndefined` of `@zeit/cosmosdb-query/lib/helpers`, linear (the original copies arrays per element). */
export function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const v of value) if (v !== undefined) out.push(stripUndefined(v));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = stripUndefined(v);
    return out;
  }
  return value;
}

/** The query engine as the check sees it. */
export interface QueryEngineProbe {
  /** The JavaScript the engine generates for a query (`Query(q).code`). */
  generate(query: string): string;
  /** Runs generated code over a container through the (patched) executor; returns its `result`. */
  execute(docs: readonly unknown[], code: string): unknown;
  /** Package versions, for the error message. */
  versions: string;
}

/**
 * Throws (naming `versions`) when the generated code of the probe query no longer has the shape
 * the patch rewrites, or when the patched engine answers the probe wrongly.
 */
export function verifyQueryEnginePatch(engine: QueryEngineProbe): void {
  const fail = (what: string) =>
    new Error(`embedded Cosmos query engine patch (${engine.versions}): ${what}; the patch in shared/prediction-store/cosmos-query-engine-patch.ts must be updated for these versions`);
  const code = engine.generate(PROBE_QUERY);
  if (rewriteQuadraticGather(code).rewrites === 0) throw fail(`the code generated for "${PROBE_QUERY}" no longer contains the gather it rewrites`);
  let result: unknown;
  try {
    result = engine.execute(PROBE_DOCS, code);
  } catch (err) {
    throw fail(`the probe "${PROBE_QUERY}" failed: ${(err as Error).message}`);
  }
  if (JSON.stringify(result) !== JSON.stringify(PROBE_RESULT)) throw fail(`the probe "${PROBE_QUERY}" answered ${JSON.stringify(result)}, expected ${JSON.stringify(PROBE_RESULT)}`);
}

type Executor = (coll: unknown, opts: { code: string }) => { result?: unknown };

/**
 * Patches the query engine that `@vercel/cosmosdb-server` (installed in `serverDir`) loads, then
 * verifies it with the probe. Idempotent. Throws when the patch no longer applies.
 */
export function patchQueryEngine(serverDir: string): void {
  const req = createRequire(path.join(serverDir, 'package.json'));
  const executor = req('@zeit/cosmosdb-query/lib/executor.js') as { default: Executor; showroomPatched?: boolean };
  const helpers = req('@zeit/cosmosdb-query/lib/helpers.js') as { stripUndefined: ((o: unknown) => unknown) & { showroomPatched?: boolean } };
  const query = (req('@zeit/cosmosdb-query') as { default: (q: string) => { code: string } }).default;
  const versions = `@vercel/cosmosdb-server ${(req('./package.json') as { version: string }).version}, @zeit/cosmosdb-query ${(req('@zeit/cosmosdb-query/package.json') as { version: string }).version}`;
  // The flags live on the engine's modules: this module may be evaluated more than once (a test
  // importing the server statically and a command importing it lazily), the engine only once.
  if (!executor.showroomPatched) {
    const original = executor.default;
    executor.default = (coll, opts) => original(coll, { ...opts, code: rewriteQuadraticGather(opts.code).code });
    executor.showroomPatched = true;
    helpers.stripUndefined = Object.assign((o: unknown) => stripUndefined(o), { showroomPatched: true });
  }
  verifyQueryEnginePatch({
    versions,
    generate: (q) => query(q).code,
    execute: (docs, code) => {
      if (!helpers.stripUndefined.showroomPatched) throw new Error('helpers.stripUndefined is not the patched one');
      return executor.default(docs, { code }).result;
    },
  });
}
