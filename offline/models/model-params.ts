import { InvalidArgument } from '../../shared/errors/app-error.js';
import type { ModelParams, RecommenderModel } from './model.js';

/**
 * Parses `key=value` settings of a model's parameters (the CLI's `--param`), validated against the
 * model's declared defaults: an unknown name is refused naming the known ones, and a value must
 * have its default's type (a finite number, `true`/`false`, or text). What a parameter's range
 * is stays the model's own check at training time (`numberParam`, `stringParam`).
 */
export function parseModelParams(model: RecommenderModel, settings: readonly string[]): ModelParams {
  const params: ModelParams = {};
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    const name = eq > 0 ? setting.slice(0, eq).trim() : '';
    const raw = eq > 0 ? setting.slice(eq + 1).trim() : '';
    if (!name || !raw) throw new InvalidArgument(`--param must be name=value, got "${setting}"`, [{ field: 'param', message: 'must be name=value' }]);
    params[name] = parseValue(model, name, raw);
  }
  return params;
}

/**
 * Per-model parameters of an evaluation of several models: `model.name=value` sets one model's
 * parameter, `name=value` every evaluated model that has that parameter (at least one must).
 */
export function parseParamsByModel(models: readonly RecommenderModel[], settings: readonly string[]): Record<string, ModelParams> {
  const byModel: Record<string, ModelParams> = Object.fromEntries(models.map((m) => [m.name, {}]));
  for (const setting of settings) {
    const eq = setting.indexOf('=');
    const key = eq > 0 ? setting.slice(0, eq).trim() : '';
    const dot = key.indexOf('.');
    const target = dot > 0 ? models.find((m) => m.name === key.slice(0, dot)) : undefined;
    if (dot > 0 && !target) throw new InvalidArgument(`--param ${key}: "${key.slice(0, dot)}" is not one of the evaluated models (${models.map((m) => m.name).join(', ')})`, [{ field: 'param', message: 'names a model not evaluated' }]);
    const name = dot > 0 ? key.slice(dot + 1) : key;
    const value = setting.slice(eq + 1);
    const targets = target ? [target] : models.filter((m) => Object.hasOwn(m.defaultParams, name));
    if (targets.length === 0) {
      throw new InvalidArgument(`--param ${name}: none of the evaluated models has it (${models.map((m) => `${m.name}: ${Object.keys(m.defaultParams).join(', ')}`).join('; ')})`, [{ field: 'param', message: 'unknown parameter' }]);
    }
    for (const m of targets) Object.assign(byModel[m.name]!, parseModelParams(m, [`${name}=${value}`]));
  }
  return byModel;
}

function parseValue(model: RecommenderModel, name: string, raw: string): number | string | boolean {
  if (!Object.hasOwn(model.defaultParams, name)) {
    throw new InvalidArgument(`model ${model.name} has no parameter "${name}"; its parameters: ${Object.entries(model.defaultParams).map(([k, v]) => `${k} (default ${String(v)})`).join(', ')}`, [{ field: 'param', message: `unknown parameter of ${model.name}` }]);
  }
  const fallback = model.defaultParams[name];
  if (typeof fallback === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new InvalidArgument(`--param ${name} of ${model.name} must be a number, got "${raw}"`, [{ field: 'param', message: 'must be a number' }]);
    return n;
  }
  if (typeof fallback === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new InvalidArgument(`--param ${name} of ${model.name} must be true or false, got "${raw}"`, [{ field: 'param', message: 'must be true or false' }]);
    return raw === 'true';
  }
  return raw;
}
