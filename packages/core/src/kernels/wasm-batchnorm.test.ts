import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchNormInference, batchNormTraining } from '../batchnorm';
import { relErr } from './test-helpers';
import { wasmBatchNormApplies } from './wasm-batchnorm';
import { configureWasmSimdKernels } from './wasm-heap';

const setWasmBatchNormEnabled = (on: boolean) => configureWasmSimdKernels({ batchNorm: on });

beforeAll(async () => {
  await tf.setBackend('wasm');
});
afterAll(() => setWasmBatchNormEnabled(true));

type Grads = { y: Float32Array; mean: Float32Array; variance: Float32Array; grads: Float32Array[] };

/** Output, statistics and gradients (x, γ, β) of Σ w·bn(x) with the SIMD kernels on or off. */
function run(
  simd: boolean,
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  w: tf.Tensor,
  relu: boolean,
): Grads {
  setWasmBatchNormEnabled(simd);
  try {
    return tf.tidy(() => {
      const kept: tf.Tensor[] = [];
      const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { y, stats } = batchNormTraining(a, { gamma: g, beta: b, eps: 1e-5 }, { relu });
        kept.push(tf.keep(y), stats.mean, stats.variance);
        return tf.sum(tf.mul(y, w));
      };
      const grads = tf
        .grads(f)([x, gamma, beta])
        .map((t) => t.dataSync() as Float32Array);
      const [y, mean, variance] = kept.map((t) => t.dataSync() as Float32Array) as [
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      tf.dispose(kept);
      return { y, mean, variance, grads };
    });
  } finally {
    setWasmBatchNormEnabled(true);
  }
}

/** The same quantities in float64, straight from the definitions. */
function reference(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  w: Float32Array,
  relu: boolean,
): Grads {
  const C = gamma.length;
  const n = x.length / C;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let i = 0; i < x.length; i++) mean[i % C]! += x[i]! / n;
  for (let i = 0; i < x.length; i++) variance[i % C]! += (x[i]! - mean[i % C]!) ** 2 / n;
  const inv = Array.from(variance, (v) => 1 / Math.sqrt(v + 1e-5));
  const xhat = Float64Array.from(x, (v, i) => (v - mean[i % C]!) * inv[i % C]!);
  const y = Float32Array.from(xhat, (v, i) => {
    const o = gamma[i % C]! * v + beta[i % C]!;
    return relu ? Math.max(0, o) : o;
  });
  const g = Float64Array.from(w, (v, i) => (relu && y[i]! <= 0 ? 0 : v));
  const dBeta = new Float64Array(C);
  const dGamma = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    dBeta[i % C]! += g[i]!;
    dGamma[i % C]! += g[i]! * xhat[i]!;
  }
  const dx = Float32Array.from(g, (v, i) => {
    const c = i % C;
    return gamma[c]! * inv[c]! * (v - dBeta[c]! / n - (xhat[i]! * dGamma[c]!) / n);
  });
  return {
    y,
    mean: Float32Array.from(mean),
    variance: Float32Array.from(variance),
    grads: [dx, Float32Array.from(dGamma), Float32Array.from(dBeta)],
  };
}

describe('SIMD batch norm on tfjs-backend-wasm', () => {
  const cases = [
    { name: 'centred data, no ReLU', shape: [4, 6, 5, 8], mean: 0, std: 1, relu: false },
    { name: 'fused ReLU', shape: [3, 7, 9, 12], mean: 0.3, std: 1, relu: true },
    {
      name: 'a large mean and a small spread (precision)',
      shape: [8, 16, 16, 16],
      mean: 50,
      std: 0.05,
      relu: true,
    },
    {
      name: 'more pixels than one 64-pixel tile, odd count',
      shape: [5, 11, 13, 4],
      mean: -1,
      std: 3,
      relu: false,
    },
  ];
  for (const c of cases) {
    it(`matches the tf-op batch norm: ${c.name}`, () => {
      const [x, gamma, beta, w] = [
        tf.randomNormal(c.shape, c.mean, c.std, 'float32', 1),
        tf.randomUniform([c.shape[3]!], 0.2, 1.5, 'float32', 2),
        tf.randomUniform([c.shape[3]!], -1, 1, 'float32', 3),
        tf.randomNormal(c.shape, 0, 1, 'float32', 4),
      ];
      expect(wasmBatchNormApplies(x)).toBe(true);
      const fast = run(true, x, gamma, beta, w, c.relu);
      const data = (t: tf.Tensor) => t.dataSync() as Float32Array;
      const exact = reference(data(x), data(gamma), data(beta), data(w), c.relu);
      // Both paths against float64; the SIMD one must be at least as close as the tf-op one.
      const ops = run(false, x, gamma, beta, w, c.relu);
      for (const key of ['y', 'mean', 'variance'] as const) {
        expect(relErr(fast[key], exact[key])).toBeLessThan(Math.max(2e-5, 2 * relErr(ops[key], exact[key])));
      }
      for (let i = 0; i < 3; i++) {
        expect(relErr(fast.grads[i]!, exact.grads[i]!)).toBeLessThan(
          Math.max(1e-4, 2 * relErr(ops.grads[i]!, exact.grads[i]!)),
        );
      }
      if (c.relu) expect(fast.y.some((v) => v === 0)).toBe(true);
      tf.dispose([x, gamma, beta, w]);
    });
  }

  it('falls back to tf ops when the channels are not a multiple of 4, with the same results', () => {
    const x = tf.randomNormal([2, 3, 3, 6], 0, 1, 'float32', 5);
    expect(wasmBatchNormApplies(x)).toBe(false);
    const { y, stats } = batchNormTraining(
      x,
      { gamma: tf.ones([6]), beta: tf.zeros([6]), eps: 1e-5 },
      { relu: true },
    );
    expect(Math.min(...y.dataSync())).toBe(0);
    tf.dispose([x, y, stats.mean, stats.variance]);
  });

  it('does not leak tensors across repeated training steps', () => {
    const x = tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 6);
    const gamma = tf.variable(tf.ones([8]));
    const beta = tf.variable(tf.zeros([8]));
    const step = () => {
      const { grads, value } = tf.variableGrads(() => {
        const { y, stats } = batchNormTraining(x, { gamma, beta, eps: 1e-5 }, { relu: true });
        tf.dispose([stats.mean, stats.variance]);
        return tf.sum(tf.square(y));
      });
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma, beta]);
  });

  it('the committed wasm binaries are built from the .wat sources', () => {
    const script = fileURLToPath(new URL('../../../../scripts/build-wasm-kernels.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });

  it('inference mode (running statistics, optional ReLU) matches tf ops, and stays differentiable', () => {
    const x = tf.randomNormal([3, 5, 7, 8], 2, 3, 'float32', 8);
    const p = {
      gamma: tf.randomUniform([8], 0.5, 1.5, 'float32', 9),
      beta: tf.randomUniform([8], -1, 1, 'float32', 10),
      mean: tf.randomUniform([8], 1, 3, 'float32', 11),
      variance: tf.randomUniform([8], 4, 12, 'float32', 12),
      eps: 1e-5,
    };
    for (const relu of [false, true]) {
      const fast = batchNormInference(x, p, { relu });
      setWasmBatchNormEnabled(false);
      const ref = batchNormInference(x, p, { relu });
      setWasmBatchNormEnabled(true);
      expect(relErr(fast.dataSync() as Float32Array, ref.dataSync() as Float32Array)).toBeLessThan(1e-6);
      tf.dispose([fast, ref]);
    }
    // under a gradient tape the tf-op path runs, so the gradient exists
    const g = tf.grad((a: tf.Tensor) => tf.sum(batchNormInference(a, p, { relu: true })))(x);
    expect(g.shape).toEqual(x.shape);
    tf.dispose([x, g, ...Object.values(p).filter((v): v is tf.Tensor => v instanceof tf.Tensor)]);
  });
});
