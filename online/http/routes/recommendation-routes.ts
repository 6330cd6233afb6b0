import { Router } from 'express';
import type { RecommendationService } from '../../serving/recommendation-service.js';
import { customerParams, recommendationsQuery, similarQuery, validate, vehicleParams } from '../api-schemas.js';

/** `GET /v1/customers/:customerId/recommendations` and `GET /v1/vehicles/:vehicleId/similar`. */
export function recommendationRouter(service: RecommendationService): Router {
  const router = Router();
  router.get('/v1/customers/:customerId/recommendations', async (req, res) => {
    const { customerId } = validate(customerParams, req.params, 'path');
    const q = validate(recommendationsQuery, req.query, 'query');
    res.json(await service.recommend(customerId, { limit: q.limit, model: q.model, explain: q.explain ?? false }));
  });
  router.get('/v1/vehicles/:vehicleId/similar', async (req, res) => {
    const { vehicleId } = validate(vehicleParams, req.params, 'path');
    const q = validate(similarQuery, req.query, 'query');
    res.json(await service.similar(vehicleId, { limit: q.limit, model: q.model }));
  });
  return router;
}
