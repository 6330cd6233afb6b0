import type { Express } from 'express';
import type { RecommendationService } from '../../serving/recommendation-service.js';
import { customerParams, recommendationsQuery, similarQuery, validate, vehicleParams } from '../api-schemas.js';

const LIMIT = /^(?:[1-9][0-9]?|100)$/;
const BOOL: Record<string, boolean> = { true: true, false: false, 1: true, 0: false };

/**
 * The common recommendation query (`limit` 1–100 as plain digits, `model` id, `explain` flag)
 * checked by hand; undefined for anything else, which the schema then decides (and names the error).
 */
function fastQuery(query: unknown): { limit: number; model?: string; explain?: boolean } | undefined {
  if (query === null || typeof query !== 'object') return undefined;
  const q = query as Record<string, unknown>;
  let limit = 20;
  let model: string | undefined;
  let explain: boolean | undefined;
  for (const k in q) {
    const v = q[k];
    if (typeof v !== 'string') return undefined;
    if (k === 'limit' && LIMIT.test(v)) limit = Number(v);
    else if (k === 'model' && v.length >= 1 && v.length <= 128) model = v;
    else if (k === 'explain' && Object.hasOwn(BOOL, v)) explain = BOOL[v];
    else return undefined;
  }
  return { limit, model, explain };
}

/**
 * `GET /v1/customers/:customerId/recommendations` and `GET /v1/vehicles/:vehicleId/similar`,
 * registered on the app itself: the hottest route skips the second dispatch a nested Router costs.
 */
export function mountRecommendationRoutes(app: Express, service: RecommendationService): void {
  app.get('/v1/customers/:customerId/recommendations', async (req, res) => {
    const raw = req.params.customerId;
    const customerId = typeof raw === 'string' && raw.length >= 1 && raw.length <= 128 ? raw : validate(customerParams, req.params, 'path').customerId;
    const q = fastQuery(req.query) ?? validate(recommendationsQuery, req.query, 'query');
    res.json(await service.recommend(customerId, { limit: q.limit, model: q.model, explain: q.explain ?? false }));
  });
  app.get('/v1/vehicles/:vehicleId/similar', async (req, res) => {
    const { vehicleId } = validate(vehicleParams, req.params, 'path');
    const q = validate(similarQuery, req.query, 'query');
    res.json(await service.similar(vehicleId, { limit: q.limit, model: q.model }));
  });
}
