import { Router } from 'express';
import { AppError, Conflict, NotFound } from '../../../shared/errors/app-error.js';
import type { PredictionStore } from '../../../shared/prediction-store/prediction-store.js';
import type { ServingState } from '../../serving/serving-state.js';
import { activateBody, modelParams, runsQuery, triggerBody, validate } from '../api-schemas.js';

/** Options of a triggered batch run (`POST /v1/models/:model/runs`). */
export interface TriggerRunOptions {
  runId?: string;
  /** ISO-8601 UTC. */
  asOf?: string;
  shards?: number;
  force?: boolean;
}

/** Queues a batch run (BullMQ in production); resolves to what the client should see (e.g. `{ runId, jobId }`). */
export type TriggerRun = (model: string, options: TriggerRunOptions) => Promise<Record<string, unknown>>;

/** Admin endpoints: models, runs, activation (rollback), trigger. The admin key check is mounted by createApp. */
export function modelRouter(deps: { store: PredictionStore; serving: ServingState; resolveModel: (m: string) => string; triggerRun?: TriggerRun }): Router {
  const { store, serving } = deps;
  const router = Router();
  router.get('/v1/models', async (_req, res) => {
    res.json({ models: await store.listModels() });
  });
  router.get('/v1/models/:model/runs', async (req, res) => {
    const model = deps.resolveModel(validate(modelParams, req.params, 'path').model);
    const { limit } = validate(runsQuery, req.query, 'query');
    const [runs, active] = await Promise.all([store.listRuns(model, { limit }), store.getActiveRun(model)]);
    // Popularity lists are large and not needed here.
    res.json({ model, activeRunId: active?.runId, runs: runs.map(({ popularity: _p, ...r }) => ({ ...r, active: r.runId === active?.runId })) });
  });
  router.post('/v1/models/:model/runs', async (req, res) => {
    const model = deps.resolveModel(validate(modelParams, req.params, 'path').model);
    const body = validate(triggerBody, req.body, 'body');
    if (!deps.triggerRun) throw new AppError('not-implemented', 501, 'this process has no batch scheduler; run `showroom batch run` or start the API with a worker queue');
    res.status(202).json(await deps.triggerRun(model, body));
  });
  router.post('/v1/models/:model/activate', async (req, res) => {
    const model = deps.resolveModel(validate(modelParams, req.params, 'path').model);
    const body = validate(activateBody, req.body, 'body');
    const run = await store.getRun(model, body.runId);
    if (!run) throw new NotFound(`model "${model}" has no run "${body.runId}"`);
    if (run.status !== 'succeeded') throw new Conflict(`run "${body.runId}" has status ${run.status}; only succeeded runs can be activated`, { status: run.status });
    const pointer = await store.activateRun(model, body.runId, body.expectedRunId === undefined ? undefined : { expectedRunId: body.expectedRunId });
    serving.invalidate(model);
    res.json({ model, runId: pointer.runId, previousRunId: pointer.previousRunId, activatedAt: pointer.activatedAt });
  });
  return router;
}
