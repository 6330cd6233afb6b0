import { InvalidArgument } from '../../shared/errors/app-error.js';
import { numberParam, type ModelParams } from './model.js';

/** A numeric model parameter within [min, max] (an integer when `integer`); InvalidArgument naming it otherwise. */
export function boundedParam(params: ModelParams, name: string, fallback: number, range: { min: number; max: number; integer?: boolean }): number {
  const n = numberParam(params, name, fallback);
  if (n < range.min || n > range.max || (range.integer === true && !Number.isInteger(n))) {
    throw new InvalidArgument(`model parameter ${name} must be ${range.integer === true ? 'an integer' : 'a number'} in [${range.min}, ${range.max}], got ${n}`, [
      { field: name, message: `must be in [${range.min}, ${range.max}]` },
    ]);
  }
  return n;
}
