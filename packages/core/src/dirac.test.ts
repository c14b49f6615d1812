import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { convNd } from './conv';
import { diracDelta, diracWeight, ncrelu, normalizeFilters, tiledDiracDelta } from './dirac';
import { ShapeError } from './errors';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const same = (k: number[]) => k.map((s) => [Math.floor(s / 2), Math.floor(s / 2)] as [number, number]);

describe('diracDelta', () => {
  it('puts a one at the kernel centre for i -> i, i < min(in, out)', () => {
    const d = diracDelta([3, 3, 2, 4]);
    const v = d.arraySync() as number[][][][];
    expect(v[1]![1]![0]![0]).toBe(1);
    expect(v[1]![1]![1]![1]).toBe(1);
    expect(tf.sum(d).arraySync()).toBe(2);
    d.dispose();
  });

  it('supports even kernels and 1-D/3-D shapes like torch dirac_ (centre = floor(k/2))', () => {
    const d1 = diracDelta([4, 3, 3]);
    expect((d1.arraySync() as number[][][])[2]![2]![2]).toBe(1);
    const d3 = diracDelta([3, 3, 3, 2, 2]);
    expect(tf.sum(d3).arraySync()).toBe(2);
    tf.dispose([d1, d3]);
  });

  it('rejects shapes that are not conv weights', () => {
    expect(() => diracDelta([3, 3])).toThrow(ShapeError);
    expect(() => tiledDiracDelta([3, 3, 3, 2])).toThrow(/multiple/);
  });
});

describe('parameterized conv with a = 1, b = 0 is the identity', () => {
  const kernels: [number, number[]][] = [
    [1, [3]],
    [2, [3, 3]],
    [3, [3, 3, 3]],
  ];
  const channels: [number, number][] = [
    [4, 4],
    [3, 5],
    [6, 2],
  ];
  for (const [rank, kernel] of kernels) {
    for (const [cin, cout] of channels) {
      it(`${rank}-D, in ${cin}, out ${cout}`, () => {
        const spatial = Array(rank).fill(5);
        const x = tf.randomNormal([2, ...spatial, cin], 0, 1, 'float32', 1);
        const w = tf.randomNormal([...kernel, cin, cout], 0, 1, 'float32', 2);
        const y = tf.tidy(() => {
          const wh = diracWeight(w, tf.ones([cout]), tf.zeros([cout]));
          return convNd(x, wh, { stride: Array(rank).fill(1), padding: same([...kernel]) });
        });
        const n = Math.min(cin, cout);
        const flatX = tf.tidy(() => tf.reshape(x, [-1, cin]).arraySync() as number[][]);
        const flatY = tf.tidy(() => tf.reshape(y, [-1, cout]).arraySync() as number[][]);
        expect(flatY.length).toBe(flatX.length);
        for (let p = 0; p < flatX.length; p++) {
          for (let c = 0; c < cout; c++) expect(flatY[p]![c]).toBe(c < n ? flatX[p]![c] : 0);
        }
        tf.dispose([x, w, y]);
      });
    }
  }

  it('v1: NCReLU then a tiled delta with a = 1, b = 0 returns x exactly', () => {
    const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 3);
    const w = tf.randomNormal([3, 3, 8, 4], 0, 1, 'float32', 4);
    const y = tf.tidy(() =>
      convNd(ncrelu(x), diracWeight(w, tf.ones([1]), tf.zeros([1]), 'v1'), {
        stride: [1, 1],
        padding: same([3, 3]),
      }),
    );
    expect(y.arraySync()).toEqual(x.arraySync());
    tf.dispose([x, w, y]);
  });
});

describe('normalizeFilters', () => {
  it('gives every output filter unit L2 norm', () => {
    const w = tf.randomNormal([3, 3, 4, 6], 0, 3, 'float32', 5);
    const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(normalizeFilters(w)), [0, 1, 2])).arraySync());
    for (const n of norms as number[]) expect(n).toBeCloseTo(1, 5);
    w.dispose();
  });
});

describe('gradients agree with finite differences', () => {
  const loss = (w: tf.Tensor, a: tf.Tensor, b: tf.Tensor, x: tf.Tensor, t: tf.Tensor, p: 'v1' | 'v2') =>
    tf.tidy(() => {
      const input = p === 'v1' ? ncrelu(x) : x;
      const y = convNd(input, diracWeight(w, a, b, p), { stride: [1, 1], padding: same([3, 3]) });
      return tf.sum(tf.mul(y, t));
    });

  for (const p of ['v2', 'v1'] as const) {
    it(`${p}: dL/dW, dL/da, dL/db`, () => {
      const cin = p === 'v1' ? 6 : 3;
      const cout = p === 'v1' ? 3 : 4;
      const scale = p === 'v1' ? 1 : cout;
      const x = tf.randomNormal([1, 4, 4, p === 'v1' ? 3 : cin], 0, 1, 'float32', 6);
      const t = tf.randomNormal([1, 4, 4, cout], 0, 1, 'float32', 7);
      const w = tf.randomNormal([3, 3, cin, cout], 0, 1, 'float32', 8);
      const a = tf.randomUniform([scale], 0.5, 1.5, 'float32', 9);
      const b = tf.randomUniform([scale], 0.05, 0.5, 'float32', 10);
      const grads = tf.grads((w_: tf.Tensor, a_: tf.Tensor, b_: tf.Tensor) => loss(w_, a_, b_, x, t, p))([
        w,
        a,
        b,
      ]);
      const params = [w, a, b];
      for (let k = 0; k < 3; k++) {
        const base = params[k]!.dataSync().slice();
        const g = grads[k]!.dataSync();
        const idxs = [0, Math.floor(base.length / 2), base.length - 1];
        for (const i of idxs) {
          const h = 1e-2;
          const probe = (delta: number) => {
            const v = base.slice();
            v[i] = v[i]! + delta;
            const moved = tf.tensor(v, params[k]!.shape);
            const args = params.map((q, j) => (j === k ? moved : q)) as [tf.Tensor, tf.Tensor, tf.Tensor];
            const l = loss(...args, x, t, p);
            const r = l.dataSync()[0]!;
            tf.dispose([moved, l]);
            return r;
          };
          const fd = (probe(h) - probe(-h)) / (2 * h);
          expect(Math.abs(fd - g[i]!)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
        }
      }
      tf.dispose([x, t, w, a, b, ...grads]);
    });
  }
});

describe('memory', () => {
  it('does not grow across 100 parameterized-conv calls', () => {
    const x = tf.randomNormal([1, 6, 6, 4]);
    const w = tf.randomNormal([3, 3, 4, 4]);
    const a = tf.ones([4]);
    const b = tf.fill([4], 0.1);
    const run = () =>
      tf
        .tidy(() =>
          convNd(x, diracWeight(w, a, b), {
            stride: [1, 1],
            padding: [
              [1, 1],
              [1, 1],
            ],
          }),
        )
        .dispose();
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, a, b]);
  });
});

describe('diracWeight v2 on CPU-memory backends (computed on the host)', () => {
  /** The definition written with tf ops, differentiated by tfjs. */
  const byOps = (w: tf.Tensor, a: tf.Tensor, b: tf.Tensor) =>
    tf.add(tf.mul(diracDelta(w.shape), a), tf.mul(normalizeFilters(w), b));

  for (const [name, shape] of [
    ['3x3, in = out', [3, 3, 8, 8]],
    ['3x3, in < out', [3, 3, 4, 6]],
    ['5x5, in > out', [5, 5, 7, 3]],
    ['1-D kernel', [3, 5, 5]],
  ] as const) {
    it(`matches the tf-op definition and its gradients: ${name}`, () => {
      const cout = shape[shape.length - 1]!;
      const wz = tf.randomNormal(shape as unknown as number[], 0, 1, 'float32', 3);
      const a = tf.randomUniform([cout], 0.5, 1.5, 'float32', 4);
      const b = tf.randomUniform([cout], 0.05, 0.2, 'float32', 5);
      const probe = tf.randomNormal(shape as unknown as number[], 0, 1, 'float32', 6);
      const loss = (f: typeof byOps) => (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.mul(f(x, y, z), probe));
      const ours = tf.grads(loss((x, y, z) => diracWeight(x, y, z)))([wz, a, b]);
      const ref = tf.grads(loss(byOps))([wz, a, b]);
      expect(tf.max(tf.abs(tf.sub(diracWeight(wz, a, b), byOps(wz, a, b)))).dataSync()[0]).toBeLessThan(1e-6);
      for (let i = 0; i < 3; i++) {
        const err = tf.max(tf.abs(tf.sub(ours[i]!, ref[i]!))).dataSync()[0]!;
        const scale = tf.max(tf.abs(ref[i]!)).dataSync()[0]!;
        expect(err / Math.max(scale, 1e-6)).toBeLessThan(1e-5);
      }
    });
  }

  it('an all-zero filter (norm on its 1e-12 floor) has finite gradients (the tf-op version gives NaN)', () => {
    const w = tf.mul(tf.randomNormal([3, 3, 4, 4], 0, 1, 'float32', 7), tf.tensor1d([1, 0, 1, 1]));
    const g = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(diracWeight(x, y, z)))([
      w,
      tf.ones([4]),
      tf.fill([4], 0.1),
    ]);
    for (const t of g) expect(t.dataSync().every(Number.isFinite)).toBe(true);
  });
});
