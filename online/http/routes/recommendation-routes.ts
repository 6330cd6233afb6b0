import type { Response } from 'express';
import { ID_PATTERN, isValidId } from '../../../shared/domain/ids.js';
import type { RecommendationService } from '../../serving/recommendation-service.js';
import { customerParams, recommendationsQuery, similarQuery, validate, vehicleParams } from '../api-schemas.js';
import type { ModelNames } from '../model-names.js';
import type { RouteSpec } from '../route-table.js';

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
    else if (k === 'model' && ID_PATTERN.test(v)) model = v;
    else if (k === 'explain' && Object.hasOwn(BOOL, v)) explain = BOOL[v];
    else return undefined;
  }
  return { limit, model, explain };
}

/** Personalised answers: no shared cache may keep them, no browser cache either. */
const privateNoStore = (res: Response) => res.setHeader('Cache-Control', 'private, no-store');

/**
 * `GET /v1/customers/:customerId/recommendations` and `GET /v1/vehicles/:vehicleId/similar`
 * (read scope), mounted on the app itself: the hottest route skips the second dispatch a
 * nested Router costs. Ids follow the id alphabet (`shared/domain/ids.ts`); a model must be registered.
 */
export function recommendationRoutes(service: RecommendationService, models: ModelNames): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/customers/:customerId/recommendations',
      scope: 'read',
      handlers: [
        async (req, res) => {
          const raw = req.params.customerId;
          const customerId = isValidId(raw) ? raw : validate(customerParams, req.params, 'path').customerId;
          const q = fastQuery(req.query) ?? validate(recommendationsQuery, req.query, 'query');
          if (q.model !== undefined) models.check(q.model, 'query.model');
          const body = await service.recommend(customerId, { limit: q.limit, model: q.model, explain: q.explain ?? false });
          privateNoStore(res);
          res.json(body);
        },
      ],
    },
    {
      method: 'get',
      path: '/v1/vehicles/:vehicleId/similar',
      scope: 'read',
      handlers: [
        async (req, res) => {
          const { vehicleId } = validate(vehicleParams, req.params, 'path');
          const q = validate(similarQuery, req.query, 'query');
          if (q.model !== undefined) models.check(q.model, 'query.model');
          const body = await service.similar(vehicleId, { limit: q.limit, model: q.model });
          privateNoStore(res);
          res.json(body);
        },
      ],
    },
  ];
}
