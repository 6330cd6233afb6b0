import assert from 'node:assert/strict';
import { datasetFromInteractions } from '../../offline/lake-reader/interaction-dataset.js';
import { computeNeighbours, engagementMatrix, itemKnnModel } from '../../offline/models/item-knn.js';
import { deserializeArtefact, serializeArtefact, alignDataset, type ModelArtefact } from '../../offline/models/model.js';
import { popularityLists, popularityModel } from '../../offline/models/popularity.js';
import { getModel, listModels } from '../../offline/models/registry.js';
import { stratifiedSplit, timeSplit, relevantSets, evaluateSplit } from '../../offline/evaluation/protocols.js';

const T = '2026-03-10T00:00:00.000Z';
const at = (h: number) => new Date(Date.parse(T) - h * 3600_000).toISOString();

function tiny() {
  // a & b co-engaged by c1, c2; c3 engaged a only → item-knn recommends b to c3.
  // d is popular (many views) but never co-engaged with a.
  const rows = [
    { customerId: 'c1', vehicleId: 'a', type: 'favorite' as const, occurredAt: at(5) },
    { customerId: 'c1', vehicleId: 'b', type: 'lead' as const, occurredAt: at(4) },
    { customerId: 'c2', vehicleId: 'a', type: 'view' as const, occurredAt: at(5) },
    { customerId: 'c2', vehicleId: 'b', type: 'view' as const, occurredAt: at(3) },
    { customerId: 'c3', vehicleId: 'a', type: 'view' as const, occurredAt: at(2) },
    { customerId: 'c4', vehicleId: 'd', type: 'view' as const, occurredAt: at(2) },
    { customerId: 'c5', vehicleId: 'd', type: 'view' as const, occurredAt: at(2) },
    { customerId: 'c6', vehicleId: 'd', type: 'lead' as const, occurredAt: at(2) },
    { customerId: 'c6', vehicleId: 'e', type: 'view' as const, occurredAt: at(1) },
    { customerId: 'c4', vehicleId: 'e', type: 'purchase' as const, occurredAt: at(1) },
    { customerId: 'c5', vehicleId: 'e', type: 'hide' as const, occurredAt: at(1) },
  ];
  return datasetFromInteractions(rows, { asOf: T, forSale: ['a', 'b', 'd', 'e'] });
}

function top(model: typeof itemKnnModel, artefact: ModelArtefact, data: ReturnType<typeof tiny>, customerId: string, k = 10): string[] {
  const score = model.scorer(artefact, data, {});
  const items = new Int32Array(k);
  const scores = new Float32Array(k);
  const n = score(data.customerIds.indexOf(customerId), k, items, scores);
  for (let i = 1; i < n; i++) assert.ok(scores[i - 1]! >= scores[i]!, 'scores descend');
  return Array.from(items.subarray(0, n), (v) => data.vehicleIds[v]!);
}

describe('offline models', () => {
  it('registers item-knn and popularity by name', () => {
    assert.equal(getModel('item-knn').name, 'item-knn');
    assert.ok(listModels().some((m) => m.name === 'popularity'));
    assert.throws(() => getModel('nope'), /unknown model "nope"/);
  });

  it('item-knn: cosine neighbours from co-engagement, b is a’s nearest', () => {
    const data = tiny();
    const m = engagementMatrix(data, 14 * 86_400_000, 200);
    const a = data.vehicleIds.indexOf('a');
    const rows = computeNeighbours(m, data.forSale, { k: 5, similarity: 'cosine', shrink: 0, minCo: 1, from: a, to: a + 1 });
    assert.equal(rows.counts[0], 1);
    assert.equal(data.vehicleIds[rows.items[0]!], 'b');
    // c1: a=4·d, b=6·d; c2: a=1·d', b=1·d'' — cosine is in (0, 1].
    assert.ok(rows.scores[0]! > 0.9 && rows.scores[0]! <= 1.0000001);
    const jac = computeNeighbours(m, data.forSale, { k: 5, similarity: 'jaccard', shrink: 0, minCo: 1, from: a, to: a + 1 });
    assert.ok(Math.abs(jac.scores[0]! - 2 / 3) < 1e-6); // a: {c1,c2,c3}, b: {c1,c2}
    const lift = computeNeighbours(m, data.forSale, { k: 5, similarity: 'lift', shrink: 0, minCo: 1, from: a, to: a + 1 });
    assert.ok(Math.abs(lift.scores[0]! - (2 * 6) / (3 * 2)) < 1e-6);
  });

  it('item-knn recommends co-engaged vehicles first, never seen, bought, hidden or sold ones', () => {
    const data = tiny();
    const art = itemKnnModel.train(data, {});
    assert.deepEqual(top(itemKnnModel, art, data, 'c3').slice(0, 1), ['b']);
    assert.ok(!top(itemKnnModel, art, data, 'c3').includes('a'), 'seen excluded');
    const c4 = top(itemKnnModel, art, data, 'c4');
    assert.ok(!c4.includes('e'), 'purchased excluded');
    assert.ok(!top(itemKnnModel, art, data, 'c5').includes('e'), 'hidden excluded');
    // Selling b removes it from every list.
    const sold = { ...data, forSale: Uint8Array.from(data.vehicleIds, (v) => (v === 'b' ? 0 : 1)) };
    assert.ok(!top(itemKnnModel, itemKnnModel.train(sold, {}), sold, 'c3').includes('b'));
    // With the keep policy seen vehicles stay.
    const keep = itemKnnModel.scorer(art, data, { seen: 'keep' });
    const items = new Int32Array(5);
    const n = keep(data.customerIds.indexOf('c1'), 5, items, new Float32Array(5));
    assert.ok(Array.from(items.subarray(0, n)).map((v) => data.vehicleIds[v]).includes('a'));
  });

  it('popularity ranks by decayed weight and builds per body style / price band lists', () => {
    const data = tiny();
    const art = popularityModel.train(data, {});
    assert.equal(top(popularityModel, art, data, 'c1')[0], 'd');
    data.vehicles = data.vehicleIds.map((id) => ({ vehicleId: id, make: 'M', model: 'X', year: 2020, bodyStyle: id === 'd' ? 'suv' : 'sedan', price: id === 'd' ? 40_000 : 10_000 }));
    const lists = popularityLists(data, 14 * 86_400_000, 2);
    assert.deepEqual(lists.overall.map((x) => x.vehicleId), ['d', 'b']);
    assert.deepEqual(lists.byBodyStyle.suv!.map((x) => x.vehicleId), ['d']);
    assert.deepEqual(Object.keys(lists.byPriceBand).sort(), ['35k-50k', 'under-15k']);
  });

  it('artefacts round-trip through their binary form and re-align to another vehicle order', () => {
    const data = tiny();
    const art = itemKnnModel.train(data, { similarity: 'jaccard' });
    const back = deserializeArtefact(serializeArtefact(art));
    assert.deepEqual(back.vehicleIds, art.vehicleIds);
    assert.deepEqual(back.params, art.params);
    assert.deepEqual(Array.from(back.arrays.nbrItems!), Array.from(art.arrays.nbrItems!));
    assert.ok(back.arrays.nbrScores instanceof Float32Array);
    const reversed = alignDataset(data, [...data.vehicleIds].reverse());
    assert.deepEqual(reversed.vehicleIds, [...data.vehicleIds].reverse());
    assert.equal(reversed.vehicleIds[reversed.vehicle[0]!], data.vehicleIds[data.vehicle[0]!]);
  });

  it('splits by time and per customer, and evaluates models', () => {
    const data = tiny();
    const cut = Date.parse(at(4.5));
    const split = timeSplit(data, cut);
    assert.ok(split.train.n + split.test.n === data.n);
    assert.ok(Array.from(split.train.time).every((t) => t < cut));
    const rel = relevantSets(split);
    // c1 saw a before the cut and leads on b after it → b relevant for c1.
    const c1 = data.customerIds.indexOf('c1');
    assert.ok(rel.customers.includes(c1));
    assert.deepEqual([...rel.relevant[rel.customers.indexOf(c1)]!].map((v) => data.vehicleIds[v]), ['b']);
    const evals = evaluateSplit(split, [{ model: itemKnnModel }, { model: popularityModel }], { k: 2 });
    assert.equal(evals.length, 2);
    const s1 = stratifiedSplit(data, 0.75, 42);
    const s2 = stratifiedSplit(data, 0.75, 42);
    assert.deepEqual(Array.from(s1.train.vehicle), Array.from(s2.train.vehicle));
    assert.equal(s1.train.n + s1.test.n, data.n);
  });
});
