import { z } from 'zod';
import { ID_ALPHABET_TEXT } from '../../shared/domain/ids.js';
import * as s from './api-schemas.js';

type JsonSchema = Record<string, unknown>;

function schema(t: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const out = z.toJSONSchema(t, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** OpenAPI parameters from a zod object schema (path or query). */
function params(t: z.ZodObject, where: 'path' | 'query'): JsonSchema[] {
  const js = schema(t, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    schema: p,
  }));
}

const json = (t: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema: schema(t) } } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const common = {
  '401': problem('Missing or malformed Authorization header'),
  '403': problem('The key may not do this'),
  '405': problem('Method not allowed on this path (Allow lists the methods)'),
  '429': problem('Rate limit of the key exceeded, or too many failed authentications from this address: refused, even with a correct key, until the window ends (Retry-After)'),
};
const jsonBody = {
  '400': problem('Invalid body (names `(body)` or the field), or a body that does not decompress'),
  '413': problem('Body over 1 MiB'),
  '415': problem('Body not application/json in UTF-8, or an unsupported content-encoding (names `content-type` / `content-encoding`)'),
};
const unknownModel = problem('Unknown model: `errors` names the field, `detail` the registered models');

/** The OpenAPI 3.1 document of the API, generated from the zod schemas that validate requests. */
export function buildOpenApi(options: { version?: string; serverUrl?: string } = {}): JsonSchema {
  const secured = [{ bearer: [] }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'showroom API',
      version: options.version ?? '0.1.0',
      description: `Event ingestion, re-ranked vehicle recommendations, similar vehicles and model administration. Errors are application/problem+json with a stable \`type\`. Ids (customer, vehicle, model, run) are ${ID_ALPHABET_TEXT}; anything else is 400 naming the field. Routes are case-sensitive and strict (no trailing-slash variants). With keys configured, unmatched paths under /v1 answer 401 without a key, 404 with one.`,
    },
    servers: options.serverUrl ? [{ url: options.serverUrl }] : [],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'SHOWROOM_API_KEYS (read, ingest) or SHOWROOM_ADMIN_KEYS (everything)' } },
      schemas: { Problem: schema(s.problemSchema) },
    },
    paths: {
      '/v1/events': {
        post: {
          summary: 'Ingest one event or a batch of up to 500',
          description: 'The whole batch is validated first (every invalid field is named); events already accepted (same eventId, 48 h) count as duplicates. 202 only once the events are durable in the event log. Body ≤ 1 MiB.',
          security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: schema(s.eventsBody, 'input') } } },
          responses: {
            '202': json(s.ingestResponse, 'Accepted (durable in the event log)'),
            ...jsonBody,
            '400': problem('Invalid events; `errors` names every bad field'),
            '503': problem('The event log cannot take the write now (Retry-After)'),
            ...common,
          },
        },
      },
      '/v1/customers/{customerId}/recommendations': {
        get: {
          summary: 'Re-ranked recommendations for a customer',
          description: 'Unknown customers get a cold-start list (popular vehicles adjusted by session signals). `degraded: true` when served from a fallback.',
          security: secured,
          parameters: [...params(s.customerParams, 'path'), ...params(s.recommendationsQuery, 'query')],
          responses: { '200': json(s.recommendationsResponse, 'Ranked vehicles (Cache-Control: private, no-store)'), '400': problem('Invalid parameter (names it)'), '404': unknownModel, '503': problem('No fallback available'), ...common },
        },
      },
      '/v1/vehicles/{vehicleId}/similar': {
        get: {
          summary: 'Vehicles similar to a vehicle (sold ones removed)',
          security: secured,
          parameters: [...params(s.vehicleParams, 'path'), ...params(s.similarQuery, 'query')],
          responses: { '200': json(s.similarResponse, 'Similar vehicles'), '400': problem('Invalid parameter (names it)'), '404': problem('Vehicle unknown to the active run, or unknown model'), ...common },
        },
      },
      '/v1/models': {
        get: { summary: 'Models and their active runs (admin)', security: secured, responses: { '200': json(s.modelsResponse, 'Models'), ...common } },
      },
      '/v1/models/{model}/runs': {
        get: {
          summary: 'Runs of a model, newest first (admin)',
          security: secured,
          parameters: [...params(s.modelParams, 'path'), ...params(s.runsQuery, 'query')],
          responses: { '200': json(s.runsResponse, 'Runs'), '400': problem('Invalid parameter (names it)'), '404': unknownModel, ...common },
        },
        post: {
          summary: 'Trigger a batch run (admin)',
          security: secured,
          parameters: params(s.modelParams, 'path'),
          requestBody: { required: false, content: { 'application/json': { schema: schema(s.triggerBody, 'input') } } },
          responses: { '202': { description: 'Run queued' }, ...jsonBody, '404': unknownModel, '409': problem('A run of this model is in flight'), '501': problem('No scheduler wired into this process'), ...common },
        },
      },
      '/v1/models/{model}/activate': {
        post: {
          summary: 'Point the model at a run (rollback = activate an older run) (admin)',
          security: secured,
          parameters: params(s.modelParams, 'path'),
          requestBody: { required: true, content: { 'application/json': { schema: schema(s.activateBody, 'input') } } },
          responses: { '200': json(s.activateResponse, 'Activated'), ...jsonBody, '404': problem('Unknown model or run'), '409': problem('Run not succeeded, or the pointer moved'), ...common },
        },
      },
      '/healthz': { get: { summary: 'Process is up (public)', responses: { '200': { description: 'OK' } } } },
      '/readyz': {
        get: {
          summary: 'Dependencies reachable (Redis, Cosmos, event log) (public)',
          description: 'With keys configured the body is only `{status}`; a request with an admin key (Authorization) also gets each check, its time and error.',
          responses: { '200': json(s.readyResponse, 'Ready'), '503': json(s.readyResponse, 'Not ready') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (admin)',
          description: 'Behind the admin key when keys are configured; absent here when SHOWROOM_METRICS_PORT serves it on its own port.',
          security: secured,
          responses: { '200': { description: 'text/plain exposition format' }, ...common },
        },
      },
      '/openapi.json': { get: { summary: 'This document (public)', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/docs': { get: { summary: 'Rendered API documentation (public)', responses: { '200': { description: 'HTML' } } } },
    },
  };
}
