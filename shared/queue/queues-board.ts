import type { Router } from 'express';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';

/**
 * Bull Board (the BullMQ dashboard: runs, shards, retries, failures, scheduler jobs) as an
 * Express router. Mount it at `basePath` BEHIND the admin-key middleware; the router itself
 * does no authentication:
 *
 * ```ts
 * app.use('/admin/queues', requireAdminKey, createQueuesBoard([batch.queue]));
 * ```
 *
 * `basePath` must equal the mount path (the UI builds its asset and API links from it).
 * `readOnly` hides retry/clean/remove buttons.
 */
export function createQueuesBoard(queues: Queue[], options: { basePath?: string; readOnly?: boolean } = {}): Router {
  const basePath = options.basePath ?? '/admin/queues';
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: options.readOnly ?? false })),
    // @bull-board/express pins its own copy of @bull-board/api (9.10.1 vs 9.10.2): same shape, distinct declarations.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'showroom queues' } },
  });
  return serverAdapter.getRouter() as Router;
}
