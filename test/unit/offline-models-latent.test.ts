import assert from 'node:assert/strict';
import { ComputePool } from '../../offline/batch/compute-pool.js';
import type { ScoreResult } from '../../offline/batch/compute-tasks.js';
import { InvalidArgument } from '../../shared/errors/app-error.js';
import { mulberry32 } from '../../shared/random/mulberry32.js';
import { datasetFromInteractions, type InteractionDataset } from '../../offline/lake-reader/interaction-dataset.js';
import { alsModel, confidence, conjugateGradientStep } from '../../offline/models/als.js';
import { choleskyInPlace, choleskySolveInPlace, invertSpdInPlace } from '../../offline/models/dense-linear-algebra.js';
import { easeModel, easeWeights } from '../../offline/models/ease.js';
import { deserializeArtefact, serializeArtefact, type ModelArtefact, type ModelParams, type RecommenderModel } from '../../offline/models/model.js';
import { getModel } from '../../offline/models/registry.js';

const T = '2026-03-10T00:00:00.000Z';
const at = (h: number) => new Date(Date.parse(T) - h * 3600_000).toISOString();

type Row = { customerId: string; vehicleId: string; type: 'view' | 'favorite' | 'lead' | 'purchase' | 'hide'; occurredAt: string };

/**
 * Two disjoint clusters: customers a-* engage only with a1..a4, customers b-* only with b1..b4
 * (more of them, so cluster b is the more popular one). Every a-customer engages with 2 or 3
 * a-vehicles, so a-vehicles co-occur with each other and never with b-vehicles.
 */
function clusters(extra: Row[] = [], forSale?: string[]): InteractionDataset {
  const rows: Row[] = [];
  const A = ['a1', 'a2', 'a3', 'a4'];
  const B = ['b1', 'b2', 'b3', 'b4'];
  const pairs = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3], [0, 1, 2], [1, 2, 3]];
  pairs.forEach((pair, i) => pair.forEach((j, h) => rows.push({ customerId: `a-${i}`, vehicleId: A[j]!, type: h === 0 ? 'view' : 'favorite', occurredAt: at(10 + h) })));
  for (let rep = 0; rep < 2; rep++) {
    pairs.forEach((pair, i) => pair.forEach((j, h) => rows.push({ customerId: `b-${rep}-${i}`, vehicleId: B[j]!, type: h === 0 ? 'view' : 'lead', occurredAt: at(10 + h) })));
  }
  // The customer under test: one view of a1.
  rows.push({ customerId: 'probe', vehicleId: 'a1', type: 'view', occurredAt: at(1) });
  rows.push(...extra);
  return datasetFromInteractions(rows, { asOf: T, forSale: forSale ?? [...A, ...B] });
}

function lists(model: RecommenderModel, artefact: ModelArtefact, data: InteractionDataset, customerId: string, k = 10, params: ModelParams = {}): string[] {
  const score = model.scorer(artefact, data, params);
  const items = new Int32Array(k);
  const scores = new Float32Array(k);
  const n = score(data.customerIds.indexOf(customerId), k, items, scores);
  for (let i = 1; i < n; i++) assert.ok(scores[i - 1]! >= scores[i]!, 'scores descend');
  return Array.from(items.subarray(0, n), (v) => data.vehicleIds[v]!);
}

// Two factors for two clusters (with as many factors as vehicles each vehicle gets its own axis).
const ALS_SMALL = { factors: 2, iterations: 20, regularization: 0.05, alpha: 4, neighbours: 3 };
const EASE_SMALL = { lambda: 1, neighbours: 3 };

describe('latent-factor models (als, ease)', () => {
  it('are registered by name', () => {
    assert.equal(getModel('als'), alsModel);
    assert.equal(getModel('ease'), easeModel);
  });

  it('dense linear algebra: Cholesky solve and SPD inverse match the identity', () => {
    const n = 7;
    const rand = mulberry32(3);
    const m = Array.from({ length: n * n }, () => rand() - 0.5);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 0.5 : 0;
      for (let k = 0; k < n; k++) s += m[i * n + k]! * m[j * n + k]!;
      a[i * n + j] = s;
    }
    const inv = a.slice();
    assert.ok(invertSpdInPlace(inv, n));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * inv[k * n + j]!;
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-9, `A·A⁻¹[${i}][${j}] = ${s}`);
    }
    const l = a.slice();
    assert.ok(choleskyInPlace(l, n));
    const b = Float64Array.from({ length: n }, (_, i) => i + 1);
    const x = b.slice();
    choleskySolveInPlace(l, n, x);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * x[k]!;
      assert.ok(Math.abs(s - b[i]!) < 1e-9);
    }
    const notSpd = Float64Array.from([1, 2, 2, 1]);
    assert.equal(choleskyInPlace(notSpd, 2), false);
  });

  it('als: conjugate-gradient half-step converges to the exact least-squares solution', () => {
    const f = 4;
    const rand = mulberry32(9);
    const y = Float32Array.from({ length: 6 * f }, () => rand());
    const csr = { start: Int32Array.from([0, 3]), cols: Int32Array.from([0, 2, 5]), conf: Float32Array.from([confidence(1, 3, 'linear'), confidence(2, 3, 'linear'), confidence(0.5, 3, 'linear')]) };
    const x = new Float32Array(f);
    conjugateGradientStep(x, y, 1, 6, f, csr, 0.1, 20);
    // Exact: (YᵀY + λI + Σ (c−1) yᵢyᵢᵀ) x = Σ c yᵢ
    const a = new Float64Array(f * f);
    const b = new Float64Array(f);
    for (let i = 0; i < 6; i++) for (let u = 0; u < f; u++) for (let v = 0; v < f; v++) a[u * f + v]! += y[i * f + u]! * y[i * f + v]!;
    for (let u = 0; u < f; u++) a[u * f + u]! += 0.1;
    for (let q = 0; q < 3; q++) {
      const i = csr.cols[q]!;
      const c = csr.conf[q]!;
      for (let u = 0; u < f; u++) {
        b[u]! += c * y[i * f + u]!;
        for (let v = 0; v < f; v++) a[u * f + v]! += (c - 1) * y[i * f + u]! * y[i * f + v]!;
      }
    }
    assert.ok(choleskyInPlace(a, f));
    choleskySolveInPlace(a, f, b);
    for (let u = 0; u < f; u++) assert.ok(Math.abs(x[u]! - b[u]!) < 1e-4, `x[${u}] = ${x[u]} vs exact ${b[u]}`);
  });

  it('als is deterministic for a seed: two trainings give identical factors, another seed different ones', () => {
    const data = clusters();
    const one = alsModel.train(data, { ...ALS_SMALL, seed: 7 });
    const two = alsModel.train(data, { ...ALS_SMALL, seed: 7 });
    assert.deepEqual(one.arrays.itemFactors, two.arrays.itemFactors);
    assert.deepEqual(one.arrays.nbrItems, two.arrays.nbrItems);
    const other = alsModel.train(data, { ...ALS_SMALL, seed: 8 });
    assert.notDeepEqual(one.arrays.itemFactors, other.arrays.itemFactors);
  });

  for (const [model, params] of [[alsModel, ALS_SMALL], [easeModel, EASE_SMALL]] as const) {
    it(`${model.name} recommends within the customer's cluster first (disjoint co-engagement clusters)`, () => {
      const data = clusters();
      const art = model.train(data, params);
      const top = lists(model, art, data, 'probe');
      // probe viewed a1 only: a2..a4 first although cluster b is more popular; a1 (seen) excluded.
      assert.deepEqual(top.slice(0, 3).sort(), ['a2', 'a3', 'a4']);
      assert.ok(!top.includes('a1'), 'seen excluded');
      // Neighbours of a1 (for the online catalog) are in its cluster.
      const nb = model.neighbours!(art)!;
      const a1 = data.vehicleIds.indexOf('a1');
      const near = Array.from(nb.items.subarray(nb.offsets[a1]!, nb.offsets[a1 + 1]!), (v) => data.vehicleIds[v]!);
      assert.ok(near.length > 0 && near.every((v) => v.startsWith('a')), `neighbours of a1: ${near.join(',')}`);
      // The artefact survives the binary round trip (worker threads and the lake get this form).
      assert.deepEqual(lists(model, deserializeArtefact(serializeArtefact(art)), data, 'probe'), top);
    });

    it(`${model.name} never returns sold, bought or hidden vehicles`, () => {
      const extra: Row[] = [
        { customerId: 'probe', vehicleId: 'a2', type: 'purchase', occurredAt: at(0.5) },
        { customerId: 'probe', vehicleId: 'a3', type: 'hide', occurredAt: at(0.5) },
      ];
      const forSale = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'b4']; // a4 sold
      const data = clusters(extra, forSale);
      const art = model.train(data, params);
      for (const seen of ['exclude', 'keep']) {
        for (const c of data.customerIds) {
          const top = lists(model, art, data, c, 10, { seen });
          assert.ok(!top.includes('a4'), `${c} got sold a4 (seen ${seen})`);
          assert.equal(new Set(top).size, top.length, 'no duplicates');
        }
        const probe = lists(model, art, data, 'probe', 10, { seen });
        assert.ok(!probe.includes('a2') && !probe.includes('a3'), `bought/hidden returned: ${probe.join(',')}`);
        assert.ok(probe.length > 0, 'fills from popularity');
      }
    });
  }

  for (const [model, params] of [[alsModel, ALS_SMALL], [easeModel, EASE_SMALL]] as const) {
    it(`${model.name} scores the same in a worker thread (loaded through model.module) as inline`, async () => {
      const data = clusters();
      const art = model.train(data, params);
      const all = Int32Array.from(data.customerIds, (_, i) => i);
      const pool = new ComputePool(1);
      try {
        await pool.run(0, { op: 'initScorer', model: model.name, modules: [model.module!], artefact: art, data, params });
        const res = await pool.run<ScoreResult>(0, { op: 'score', customers: all, k: 5 });
        for (const c of all) {
          const inline = lists(model, art, data, data.customerIds[c]!, 5, params);
          const threaded = Array.from(res.items.subarray(c * 5, c * 5 + res.counts[c]!), (v) => data.vehicleIds[v]!);
          assert.deepEqual(threaded, inline, data.customerIds[c]);
        }
      } finally {
        await pool.close();
      }
    });
  }

  it('als with maxCandidates scores only the most popular for-sale vehicles', () => {
    const data = clusters();
    const art = alsModel.train(data, ALS_SMALL);
    const popular = data.vehicleIds[(art.arrays.popularity as Int32Array)[0]!]!;
    assert.ok(popular.startsWith('b'), 'cluster b is the more popular');
    // Only the single most popular vehicle is scored; the rest is the popularity fill.
    assert.equal(lists(alsModel, art, data, 'probe', 10, { maxCandidates: 1 })[0], popular);
    assert.deepEqual(lists(alsModel, art, data, 'probe', 3, { maxCandidates: 0 }).sort(), ['a2', 'a3', 'a4']);
  });

  it('ease: block-diagonal data gives zero cross-cluster weights', () => {
    // items 0,1 co-engaged; items 2,3 co-engaged; never across.
    const x = { start: Int32Array.from([0, 2, 4, 6]), cols: Int32Array.from([0, 1, 2, 3, 0, 1]), values: new Float32Array(6).fill(1) };
    const b = easeWeights(x, 3, 4, 1);
    assert.equal(b[0 * 4 + 0], 0);
    assert.ok(b[0 * 4 + 1]! > 0 && b[2 * 4 + 3]! > 0);
    assert.ok(Math.abs(b[0 * 4 + 2]!) < 1e-9 && Math.abs(b[3 * 4 + 1]!) < 1e-9);
    // G = [[3,2],[2,3]] for items 0,1 → P = [[3,−2],[−2,3]]/5, B[0][1] = −P01/P11 = 2/3.
    assert.ok(Math.abs(b[0 * 4 + 1]! - 2 / 3) < 1e-6);
  });

  it('ease refuses more engaged vehicles than maxItems, naming the limit and the parameter', () => {
    const data = clusters();
    assert.throws(
      () => easeModel.train(data, { maxItems: 5 }),
      (e: unknown) => e instanceof InvalidArgument && /maxItems = 5/.test(e.message) && /this window has 8/.test(e.message),
    );
    assert.doesNotThrow(() => easeModel.train(data, { maxItems: 8 }));
  });

  it('als and ease validate their parameters (InvalidArgument naming the parameter)', () => {
    const data = clusters();
    const bad: [RecommenderModel, ModelParams, RegExp][] = [
      [alsModel, { factors: 0 }, /factors/],
      [alsModel, { factors: 2.5 }, /factors/],
      [alsModel, { iterations: 'many' }, /iterations/],
      [alsModel, { regularization: -1 }, /regularization/],
      [alsModel, { alpha: 0 }, /alpha/],
      [alsModel, { scaling: 'cubic' }, /scaling/],
      [alsModel, { cgSteps: 0 }, /cgSteps/],
      [alsModel, { seed: -3 }, /seed/],
      [alsModel, { seen: 'sometimes' }, /seen/],
      [easeModel, { lambda: 0 }, /lambda/],
      [easeModel, { values: 'counts' }, /values/],
    ];
    for (const [model, params, name] of bad) {
      assert.throws(() => model.train(data, params), (e: unknown) => e instanceof InvalidArgument && name.test(e.message), `${model.name} ${JSON.stringify(params)}`);
    }
  });
});
