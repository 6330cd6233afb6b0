import { z } from 'zod';
import { EVENT_TYPES, MAX_EVENTS_PER_REQUEST, eventSchema } from '../../shared/domain/event.js';
import { idSchema } from '../../shared/domain/ids.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { issuesToFields } from '../../shared/domain/event.js';

/**
 * Path / query / body schemas of the HTTP API: validation and the OpenAPI document come from
 * these. Every id (customer, vehicle, model, run) follows the one id alphabet of `shared/domain/ids.ts`.
 */
const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1')
  .meta({ type: 'boolean' });

export const customerParams = z.strictObject({ customerId: idSchema('customerId') });
export const vehicleParams = z.strictObject({ vehicleId: idSchema('vehicleId') });
export const modelParams = z.strictObject({ model: idSchema('model') });

export const recommendationsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  model: idSchema('model').optional(),
  explain: bool.optional(),
});
export const similarQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  model: idSchema('model').optional(),
});
export const runsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(20) });

export const activateBody = z.strictObject({ runId: idSchema('runId'), expectedRunId: idSchema('expectedRunId').nullable().optional() });
export const triggerBody = z.strictObject({
  runId: idSchema('runId').optional(),
  asOf: z.iso.datetime({ offset: false }).optional(),
  shards: z.number().int().min(1).max(256).optional(),
  force: z.boolean().optional(),
});

export const eventsBody = z.union([eventSchema, z.strictObject({ events: z.array(eventSchema).min(1).max(MAX_EVENTS_PER_REQUEST) })]);

const boost = z.object({ kind: z.enum(['session', 'search', 'attribute', 'seen', 'price-drop']), amount: z.number() });
export const recommendationsResponse = z.object({
  customerId: z.string(),
  model: z.string(),
  runId: z.string(),
  generatedAt: z.string().meta({ format: 'date-time' }),
  degraded: z.boolean(),
  degradedReasons: z.array(z.string()).optional(),
  coldStart: z.boolean(),
  items: z.array(
    z.object({
      vehicleId: z.string(),
      score: z.number(),
      reasons: z.array(z.string()),
      baseScore: z.number().optional(),
      source: z.enum(['prediction', 'neighbor', 'popular']).optional(),
      boosts: z.array(boost).optional(),
      filters: z.array(z.string()).optional(),
    }),
  ),
  explain: z.object({ candidates: z.number(), filtered: z.record(z.string(), z.number()), deferred: z.number(), recentEvents: z.number(), searches: z.number() }).optional(),
});
export const similarResponse = z.object({
  vehicleId: z.string(),
  model: z.string(),
  runId: z.string(),
  degraded: z.boolean(),
  items: z.array(z.object({ vehicleId: z.string(), score: z.number() })),
});
export const ingestResponse = z.object({ accepted: z.number().int(), duplicates: z.number().int() });
export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string(), index: z.number().int().optional() })).optional(),
});
export const modelsResponse = z.object({
  models: z.array(z.object({ model: z.string(), activeRunId: z.string().optional(), activatedAt: z.string().optional(), lastRun: z.record(z.string(), z.unknown()).optional() })),
});
export const runsResponse = z.object({ model: z.string(), activeRunId: z.string().optional(), runs: z.array(z.record(z.string(), z.unknown())) });
export const activateResponse = z.object({ model: z.string(), runId: z.string(), previousRunId: z.string().optional(), activatedAt: z.string() });
export const readyResponse = z.object({ status: z.enum(['ready', 'not-ready']), checks: z.record(z.string(), z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() })) });

export { EVENT_TYPES };

/** Parses `input` with `schema`; throws InvalidArgument naming every bad field (prefixed, e.g. `query.limit`). */
export function validate<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const fields = issuesToFields(r.error.issues, `${where}.`);
  throw new InvalidArgument(`invalid ${where}: ${fields.map((f) => `${f.field} ${f.message}`).join('; ')}`, fields);
}
