import { InvalidArgument } from '../../shared/errors/app-error.js';
import { alsModel } from './als.js';
import { easeModel } from './ease.js';
import { itemKnnModel } from './item-knn.js';
import type { RecommenderModel } from './model.js';
import { popularityModel } from './popularity.js';

const models = new Map<string, RecommenderModel>();

/**
 * Makes a model available by name to `showroom batch run --model`, `showroom evaluate --models`
 * and the worker threads (which import `model.module`). Re-registering a name replaces it.
 */
export function registerModel(model: RecommenderModel): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(model.name)) {
    throw new InvalidArgument(`model name must be lowercase letters, digits and dashes, got "${model.name}"`);
  }
  models.set(model.name, model);
}

/** The model registered as `name`; InvalidArgument listing the known names otherwise. */
export function getModel(name: string): RecommenderModel {
  const m = models.get(name);
  if (!m) throw new InvalidArgument(`unknown model "${name}"; known: ${[...models.keys()].join(', ')}`, [{ field: 'model', message: 'is not registered' }]);
  return m;
}

export function listModels(): RecommenderModel[] {
  return [...models.values()];
}

registerModel(itemKnnModel);
registerModel(popularityModel);
registerModel(alsModel);
registerModel(easeModel);
