/**
 * Measures the two bulk-write APIs of `@azure/cosmos` against the embedded Cosmos server (in a
 * child process, memory only): the deprecated `items.bulk` and `executeBulkOperations`, writing
 * prediction-shaped documents (100 scored vehicles each) as upserts, with the store's settings
 * (keep-alive agent, 16 sockets, `contentResponseOnWriteEnabled: false`).
 *
 * Variants, run in alternating rounds so a machine that gets busier or quieter affects each alike:
 * - `bulk`: `items.bulk`, chunks of 100 operations, `--concurrency` chunks in flight (what the store did);
 * - `execute-chunked`: `executeBulkOperations` on the same chunks and concurrency (a drop-in swap);
 * - `execute-all`: `executeBulkOperations` on every document at once (the SDK batches and paces).
 *
 * Usage: `npx tsx scripts/measure/bulk-api-measure.ts [--docs 50000] [--rounds 3] [--concurrency 8] [--items 100]`.
 * Prints one JSON line per round and a summary (docs/s per variant: each round and the median).
 * Timings on a shared machine are noisy: compare medians of alternating rounds, not single runs.
 */
import { Agent } from 'node:https';
import { parseArgs } from 'node:util';
import { CosmosClient, type Container, type JSONObject, type OperationInput } from '@azure/cosmos';
import { EMBEDDED_COSMOS_KEY } from '../../shared/prediction-store/embedded-cosmos-server.js';
import { startBenchChild } from '../bench/bench-processes.js';

type Variant = 'bulk' | 'execute-chunked' | 'execute-all';
const VARIANTS: Variant[] = ['bulk', 'execute-chunked', 'execute-all'];
const CHUNK = 100;

function documents(n: number, items: number, round: number): OperationInput[] {
  return Array.from({ length: n }, (_, i) => {
    const customerId = `c-${String(i).padStart(7, '0')}`;
    const doc = {
      id: `item-knn:measure:${customerId}`,
      customerId,
      model: 'item-knn',
      runId: 'measure',
      generatedAt: new Date().toISOString(),
      items: Array.from({ length: items }, (_, k) => ({ vehicleId: `v-${String((i * 7 + k * 13 + round) % 5000).padStart(6, '0')}`, score: Math.round((1 - k / items) * 1e4) / 1e4 })),
      ttl: 14 * 86_400,
    };
    return { operationType: 'Upsert', partitionKey: customerId, resourceBody: doc as unknown as JSONObject };
  });
}

/** Attempts of a chunk whose request failed as a whole (a dropped keep-alive connection on a loaded machine), like the store's retries. */
const ATTEMPTS = 5;

/** Sends `chunk` until its request succeeds (≤ ATTEMPTS); counts request failures in `retried`. */
async function attempt(send: () => Promise<number[]>, retried: { requests: number }): Promise<number[]> {
  for (let a = 1; ; a += 1) {
    try {
      return await send();
    } catch (err) {
      if (a >= ATTEMPTS) throw err;
      retried.requests += 1;
    }
  }
}

/** Runs `ops` in chunks of 100 with `concurrency` in flight; returns the operations not answered 2xx. */
async function chunked(ops: OperationInput[], concurrency: number, send: (chunk: OperationInput[]) => Promise<number[]>, retried: { requests: number }): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next * CHUNK < ops.length) {
      const c = next++;
      const chunk = ops.slice(c * CHUNK, (c + 1) * CHUNK);
      const statuses = await attempt(() => send(chunk), retried);
      failed += statuses.filter((s) => s < 200 || s >= 300).length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failed;
}

async function write(container: Container, variant: Variant, ops: OperationInput[], concurrency: number, retried: { requests: number }): Promise<number> {
  const options = { contentResponseOnWriteEnabled: false };
  const ok = (status: number) => status >= 200 && status < 300;
  switch (variant) {
    case 'bulk':
      return chunked(ops, concurrency, async (chunk) => (await container.items.bulk(chunk, { continueOnError: true }, options)).map((r) => r.statusCode), retried);
    case 'execute-chunked':
      // executeBulkOperations reports a failed request per operation (status 500) instead of throwing.
      return chunked(
        ops,
        concurrency,
        async (chunk) => {
          const statuses = (await container.items.executeBulkOperations(chunk, options)).map((r) => Number(r.response?.statusCode ?? r.error?.code ?? 0));
          if (statuses.every((st) => !ok(st))) throw new Error(`chunk failed: ${statuses[0]}`);
          return statuses;
        },
        retried,
      );
    case 'execute-all': {
      let pending = ops;
      for (let a = 1; pending.length > 0 && a <= ATTEMPTS; a += 1) {
        const results = await container.items.executeBulkOperations(pending, options);
        const next = pending.filter((_, i) => !ok(Number(results[i]?.response?.statusCode ?? results[i]?.error?.code ?? 0)));
        if (next.length > 0 && a < ATTEMPTS) retried.requests += Math.ceil(next.length / CHUNK);
        pending = next;
      }
      return pending.length;
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { docs: { type: 'string', default: '50000' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' }, items: { type: 'string', default: '100' } },
  });
  const docs = Number(values.docs);
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  const items = Number(values.items);
  const cosmos = await startBenchChild('bench-server', ['cosmos'], { ...process.env, SHOWROOM_LOG_LEVEL: 'warn' }, { nodeFlags: ['--max-old-space-size=4096'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  const client = new CosmosClient({ endpoint: String(cosmos.info.url), key: EMBEDDED_COSMOS_KEY, agent, connectionPolicy: { enableEndpointDiscovery: false } });
  const rates: Record<Variant, number[]> = { bulk: [], 'execute-chunked': [], 'execute-all': [] };
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'measure' });
    const { container } = await database.containers.createIfNotExists({ id: 'predictions', partitionKey: { paths: ['/customerId'] }, defaultTtl: -1 });
    // Warm-up: connections, partition key ranges, the server's first documents.
    for (const v of VARIANTS) await write(container, v, documents(2000, items, 0), concurrency, { requests: 0 });
    for (let round = 1; round <= rounds; round += 1) {
      // Alternate the order too, so no variant always runs right after the same one.
      const order = round % 2 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        const ops = documents(docs, items, round);
        const retried = { requests: 0 };
        const t0 = process.hrtime.bigint();
        const failed = await write(container, variant, ops, concurrency, retried);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const rate = Math.round(docs / seconds);
        rates[variant].push(rate);
        process.stdout.write(`${JSON.stringify({ round, variant, docs, seconds: Math.round(seconds * 100) / 100, docsPerSec: rate, failed, retriedRequests: retried.requests })}\n`);
      }
    }
    const summary = Object.fromEntries(VARIANTS.map((v) => [v, { rounds: rates[v], median: median(rates[v]) }]));
    process.stdout.write(`${JSON.stringify({ summary, docs, items, concurrency, caveat: 'shared 2-core machine: compare medians of alternating rounds' })}\n`);
  } finally {
    client.dispose();
    agent.destroy();
    await cosmos.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
