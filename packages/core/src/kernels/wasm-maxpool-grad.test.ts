import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmConvGradKernels } from './wasm-conv-grad';

type Case = { x: [number, number, number, number]; k: number; s: number; pad: 'valid' | 'same' | number };
const cases: Record<string, Case> = {
  '2x2/2 valid (CIFAR DiracNets)': { x: [3, 8, 8, 16], k: 2, s: 2, pad: 'valid' },
  '2x2/2 valid, odd size': { x: [2, 7, 9, 5], k: 2, s: 2, pad: 'valid' },
  '3x3/2 pad 1 (ImageNet stem, overlapping windows)': { x: [2, 9, 10, 4], k: 3, s: 2, pad: 1 },
  '3x3/1 same': { x: [1, 6, 5, 3], k: 3, s: 1, pad: 'same' },
};

/** Gradient of Σ w·maxPool(x) on the current backend. */
function grad(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.randomNormal(c.x, 0, 1, 'float32', seed) as tf.Tensor4D;
    const y = tf.maxPool(x, c.k, c.s, c.pad);
    const w = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 1);
    const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), w));
    return tf.grad(f)(x).dataSync() as Float32Array;
  });
}

describe('MaxPoolGrad on wasm', () => {
  const ref = new Map<string, Float32Array>();
  beforeAll(async () => {
    registerWasmConvGradKernels();
    await tf.setBackend('cpu');
    for (const [i, [name, c]] of Object.entries(cases).entries()) ref.set(name, grad(c, i * 10 + 1));
    await tf.setBackend('wasm');
  });

  Object.entries(cases).forEach(([name, c], i) => {
    it(`equals the cpu backend: ${name}`, () => {
      const got = grad(c, i * 10 + 1);
      const want = ref.get(name)!;
      expect(got.length).toBe(want.length);
      let d = 0;
      for (let j = 0; j < got.length; j++) d = Math.max(d, Math.abs(got[j]! - want[j]!));
      expect(d).toBeLessThan(1e-5);
    });
  });

  it('is the registered kernel', () => {
    expect(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc.name).toBe('maxPoolGradKernel');
  });

  it('does not leak tensors', () => {
    const c = Object.values(cases)[0]!;
    grad(c, 1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) grad(c, 1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
