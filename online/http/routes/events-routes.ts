import { Router } from 'express';
import type { IngestService } from '../../ingest/ingest-service.js';

/** `POST /v1/events` (one event or `{events: [...]}`). The JSON body limit (1 MiB) is set by createApp. */
export function eventsRouter(ingest: IngestService): Router {
  const router = Router();
  router.post('/v1/events', async (req, res) => {
    const result = await ingest.ingest(req.body);
    res.status(202).json(result);
  });
  return router;
}
