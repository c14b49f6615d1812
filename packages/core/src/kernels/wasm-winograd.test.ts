import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { relErr } from './test-helpers';
import { registerWasmConvGradKernels } from './wasm-conv-grad';
import { configureWasmSimdKernels } from './wasm-heap';
import { winogradApplies } from './wasm-winograd';

// Correctness of every tile shape against the cpu backend is in wasm-conv2d.test.ts and wasm-conv-grad.test.ts
// (their 'Winograd' cases); here: what the kernel takes, wider layers, and that it is generated as committed.

/** y, dx and dW of a 3x3 padding-1 convolution on the current backend. */
function convAndGrads(shape: [number, number, number, number], co: number, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.randomUniform(shape, -1, 1, 'float32', seed) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, shape[3], co], -0.1, 0.1, 'float32', seed + 1) as tf.Tensor4D;
    const dy = tf.randomUniform([shape[0], shape[1], shape[2], co], -1, 1, 'float32', seed + 2);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 1), dy));
    const [dx, dw] = tf.grads(f)([x, w]);
    return [tf.conv2d(x, w, 1, 1), dx!, dw!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('Winograd F(4x4, 3x3) kernels', () => {
  beforeAll(async () => {
    registerWasmConvGradKernels();
    await tf.setBackend('wasm');
  });

  it('take 3x3 stride-1 padding-1 float32 convolutions with Ci % 4 = 0 and Co % 16 = 0', () => {
    const x = tf.zeros([2, 8, 8, 16]);
    expect(winogradApplies(x, [3, 3, 16, 32], 1, 1, 8, 8)).toBe(true);
    expect(winogradApplies(x, [3, 3, 16, 8], 1, 1, 8, 8)).toBe(false); // Co
    expect(winogradApplies(x, [5, 5, 16, 16], 2, 2, 8, 8)).toBe(false); // 5x5
    expect(winogradApplies(x, [3, 3, 16, 16], 0, 0, 6, 6)).toBe(false); // valid
    expect(winogradApplies(x, [3, 3, 16, 16], 1, 1, 4, 4)).toBe(false); // stride 2
    expect(winogradApplies(tf.zeros([2, 8, 8, 6]), [3, 3, 6, 16], 1, 1, 8, 8)).toBe(false); // Ci
    x.dispose();
  });

  it('are used for training only when switched on, for folded models unless switched off', () => {
    expect(configureWasmSimdKernels({})).toMatchObject({ winograd: false, winogradInference: true });
  });

  it('match the direct kernels on wide layers (128 -> 128 at 7x7, 64 -> 128 at 10x6)', () => {
    for (const [shape, co] of [
      [[2, 7, 7, 128], 128],
      [[3, 10, 6, 64], 128],
    ] as const) {
      const direct = convAndGrads([...shape], co, 5);
      const before = configureWasmSimdKernels({ winograd: true });
      const wino = convAndGrads([...shape], co, 5);
      configureWasmSimdKernels(before);
      wino.forEach((a, i) => {
        expect(relErr(a, direct[i]!), `${shape} output ${i}`).toBeLessThan(1e-5);
      });
    }
  });

  it('run fused convolutions (bias, ReLU) of folded models like the cpu backend, and leave other ones stock', async () => {
    const x = tf.randomUniform([8, 9, 8, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 16, 32], -0.2, 0.2, 'float32', 2) as tf.Tensor4D;
    const bias = tf.randomUniform([32], -1, 1, 'float32', 3) as tf.Tensor1D;
    const cases: Array<{ bias?: tf.Tensor1D; activation: 'linear' | 'relu' | 'elu'; pad: 1 | 'valid' }> = [
      { bias, activation: 'relu', pad: 1 },
      { bias, activation: 'linear', pad: 1 },
      { activation: 'relu', pad: 1 },
      { bias, activation: 'elu', pad: 1 }, // stock
      { bias, activation: 'relu', pad: 'valid' }, // stock
    ];
    const run = () =>
      cases.map((c) => tf.tidy(() => tf.fused.conv2d({ x, filter: w, strides: 1, ...c }).dataSync()));
    const wino = run();
    const before = configureWasmSimdKernels({ winogradInference: false });
    const stock = run();
    configureWasmSimdKernels(before);
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend('wasm');
    cases.forEach((c, i) => {
      expect(relErr(wino[i]!, cpu[i]!), `${c.activation} ${c.pad}`).toBeLessThan(1e-5);
      if (c.activation !== 'elu' && c.pad === 1)
        expect(Array.from(wino[i]!)).not.toEqual(Array.from(stock[i]!));
      else expect(Array.from(wino[i]!)).toEqual(Array.from(stock[i]!));
    });
    // a batch under 8 stays with the stock kernel
    const small = () =>
      tf.tidy(() =>
        tf.fused
          .conv2d({ x: tf.slice(x, 0, 2), filter: w, pad: 1, bias, activation: 'relu', strides: 1 })
          .dataSync(),
      );
    const withWinograd = small();
    configureWasmSimdKernels({ winogradInference: false });
    expect(Array.from(withWinograd)).toEqual(Array.from(small()));
    configureWasmSimdKernels(before);
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([x, w, bias]);
  });

  it('winograd.wat is what scripts/gen-winograd-wat.mjs writes', () => {
    const script = fileURLToPath(new URL('../../../../scripts/gen-winograd-wat.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
