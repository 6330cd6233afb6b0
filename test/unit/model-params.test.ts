import assert from 'node:assert/strict';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { parseModelParams, parseParamsByModel } from '../../offline/models/model-params.js';
import { getModel } from '../../offline/models/registry.js';

describe('model parameters from the command line (--param)', () => {
  const knn = getModel('item-knn');
  const pop = getModel('popularity');

  it('parses name=value with the type of the default', () => {
    assert.deepEqual(parseModelParams(knn, ['similarity=jaccard', 'halfLifeDays=30', 'neighbours= 20 ']), { similarity: 'jaccard', halfLifeDays: 30, neighbours: 20 });
  });

  it('refuses an unknown name, naming the model\'s parameters', () => {
    assert.throws(() => parseModelParams(knn, ['halflife=30']), (e) => e instanceof InvalidArgument && /no parameter "halflife"/.test(e.message) && /halfLifeDays \(default 14\)/.test(e.message));
  });

  it('refuses a value of the wrong type and a setting without =', () => {
    assert.throws(() => parseModelParams(knn, ['neighbours=many']), (e) => e instanceof InvalidArgument && /neighbours of item-knn must be a number, got "many"/.test(e.message));
    assert.throws(() => parseModelParams(knn, ['neighbours']), (e) => e instanceof InvalidArgument && /name=value/.test(e.message));
    assert.throws(() => parseModelParams(knn, ['neighbours=']), (e) => e instanceof InvalidArgument);
  });

  it('several models: name=value goes to every model that has it, model.name=value to one', () => {
    assert.deepEqual(parseParamsByModel([knn, pop], ['halfLifeDays=30', 'item-knn.similarity=lift']), {
      'item-knn': { halfLifeDays: 30, similarity: 'lift' },
      popularity: { halfLifeDays: 30 },
    });
    assert.throws(() => parseParamsByModel([knn, pop], ['shrink2=3']), (e) => e instanceof InvalidArgument && /none of the evaluated models has it/.test(e.message));
    assert.throws(() => parseParamsByModel([knn, pop], ['als.factors=3']), (e) => e instanceof InvalidArgument && /not one of the evaluated models/.test(e.message));
    assert.throws(() => parseParamsByModel([knn, pop], ['popularity.similarity=lift']), (e) => e instanceof InvalidArgument && /popularity has no parameter "similarity"/.test(e.message));
  });
});
