import { NotFound } from '../../shared/errors/app-error.js';

/**
 * The model names the API accepts (in paths, queries and admin bodies): the registered models,
 * handed to the app by the composition root (the online side does not import the offline
 * registry), plus the default model and the alias `default`. Anything else is 404 naming them.
 */
export class ModelNames {
  private readonly names: ReadonlySet<string>;
  private readonly listed: string;

  constructor(registered: readonly string[], readonly defaultModel: string) {
    this.names = new Set([...registered, defaultModel]);
    this.listed = [...this.names].sort().join(', ');
  }

  /** Throws NotFound naming `field` and the registered models unless `model` is one of them (or `default`). */
  check(model: string, field: string): void {
    if (model === 'default' || this.names.has(model)) return;
    throw new NotFound(`unknown model "${model}"; registered: ${this.listed}`, undefined, [{ field, message: `is not a registered model (${this.listed})` }]);
  }

  /** `model` checked, with `default` resolved to the default model. */
  resolve(model: string, field: string): string {
    this.check(model, field);
    return model === 'default' ? this.defaultModel : model;
  }
}
