import { parentPort } from 'node:worker_threads';
import { runCompute, transferablesOf, type ComputeRequest, type ComputeState } from './compute-tasks.js';

// Worker-thread entry of ComputePool: one request at a time, answers { id, ok, result | error }.
const state: ComputeState = {};
parentPort?.on('message', (msg: { id: number; req: ComputeRequest }) => {
  runCompute(msg.req, state).then(
    (result) => {
      const transfer = transferablesOf(result);
      try {
        parentPort?.postMessage({ id: msg.id, ok: true, result }, transfer);
      } catch {
        parentPort?.postMessage({ id: msg.id, ok: true, result });
      }
    },
    (err: unknown) => parentPort?.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
