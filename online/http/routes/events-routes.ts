import type { RequestHandler } from 'express';
import type { IngestService } from '../../ingest/ingest-service.js';
import type { RouteSpec } from '../route-table.js';

/** What `POST /v1/events` takes, for error messages. */
export const EVENTS_BODY_SHAPE = 'an event or {events:[...]}';

/** `POST /v1/events` (one event or `{events: [...]}`, read scope). `body` checks and parses the JSON body (1 MiB, set by createApp). */
export function eventsRoutes(ingest: IngestService, body: RequestHandler[]): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/events',
      scope: 'read',
      handlers: [
        ...body,
        async (req, res) => {
          const result = await ingest.ingest(req.body);
          res.status(202).json(result);
        },
      ],
    },
  ];
}
