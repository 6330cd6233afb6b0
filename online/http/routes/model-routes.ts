import type { RequestHandler } from 'express';
import { AppError, Conflict, NotFound } from '../../../shared/errors/app-error.js';
import type { PredictionStore } from '../../../shared/prediction-store/prediction-store.js';
import type { ServingState } from '../../serving/serving-state.js';
import { activateBody, modelParams, runsQuery, triggerBody, validate } from '../api-schemas.js';
import type { ModelNames } from '../model-names.js';
import type { RouteSpec } from '../route-table.js';
import { withDeadline } from '../../../shared/resilience/with-deadline.js';

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

export interface ModelRoutesDeps {
  store: PredictionStore;
  serving: ServingState;
  /** Registered model names: any other is 404 before the store or the queue is asked. */
  models: ModelNames;
  triggerRun?: TriggerRun;
  /** Checks and parses a JSON body (createApp's). */
  body: RequestHandler[];
  /**
   * Longest an admin request waits for Cosmos or the queue, ms; then 503 + Retry-After. A write
   * already sent (an activation) may still land: activating the same run again is idempotent.
   */
  deadlineMs: number;
}

/** Admin endpoints (admin scope): models, runs, activation (rollback), trigger. */
export function modelRoutes(deps: ModelRoutesDeps): RouteSpec[] {
  const { store, serving, models } = deps;
  const bounded = <T>(p: Promise<T>, what: string) => withDeadline(p, deps.deadlineMs, what);
  const modelOf = (params: unknown) => models.resolve(validate(modelParams, params, 'path').model, 'path.model');
  return [
    {
      method: 'get',
      path: '/v1/models',
      scope: 'admin',
      handlers: [
        async (_req, res) => {
          res.json({ models: await bounded(store.listModels(), 'Cosmos DB (listing models)') });
        },
      ],
    },
    {
      method: 'get',
      path: '/v1/models/:model/runs',
      scope: 'admin',
      handlers: [
        async (req, res) => {
          const model = modelOf(req.params);
          const { limit } = validate(runsQuery, req.query, 'query');
          const [runs, active] = await bounded(Promise.all([store.listRuns(model, { limit }), store.getActiveRun(model)]), 'Cosmos DB (listing runs)');
          // Popularity lists are large and not needed here.
          res.json({ model, activeRunId: active?.runId, runs: runs.map(({ popularity: _p, ...r }) => ({ ...r, active: r.runId === active?.runId })) });
        },
      ],
    },
    {
      method: 'post',
      path: '/v1/models/:model/runs',
      scope: 'admin',
      handlers: [
        ...deps.body,
        async (req, res) => {
          const model = modelOf(req.params);
          const body = validate(triggerBody, req.body, 'body');
          if (!deps.triggerRun) throw new AppError('not-implemented', 501, 'this process has no batch scheduler; run `showroom batch run` or start the API with a worker queue');
          res.status(202).json(await bounded(deps.triggerRun(model, body), 'the batch queue'));
        },
      ],
    },
    {
      method: 'post',
      path: '/v1/models/:model/activate',
      scope: 'admin',
      handlers: [
        ...deps.body,
        async (req, res) => {
          const model = modelOf(req.params);
          const body = validate(activateBody, req.body, 'body');
          const run = await bounded(store.getRun(model, body.runId), 'Cosmos DB (reading the run)');
          if (!run) throw new NotFound(`model "${model}" has no run "${body.runId}"`);
          if (run.status !== 'succeeded') throw new Conflict(`run "${body.runId}" has status ${run.status}; only succeeded runs can be activated`, { status: run.status });
          const pointer = await bounded(store.activateRun(model, body.runId, body.expectedRunId === undefined ? undefined : { expectedRunId: body.expectedRunId }), 'Cosmos DB (activating the run)');
          serving.invalidate(model);
          res.json({ model, runId: pointer.runId, previousRunId: pointer.previousRunId, activatedAt: pointer.activatedAt });
        },
      ],
    },
  ];
}
