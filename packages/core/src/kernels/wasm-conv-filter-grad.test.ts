import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { wasmConvFilterGrad } from './wasm-conv-filter-grad';
import { configureWasmSimdKernels } from './wasm-heap';

// Correctness against the cpu backend is in wasm-conv-grad.test.ts (the 'SIMD dW' cases); this file checks
// when the kernel is used at all.
beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('wasmConvFilterGrad', () => {
  it('applies to float32 stride-1 convolutions with a multiple of 16 output channels, and only those', () => {
    const x = tf.randomNormal([2, 5, 5, 3]) as tf.Tensor4D;
    const dy16 = tf.randomNormal([2, 5, 5, 16]) as tf.Tensor4D;
    const dy8 = tf.randomNormal([2, 5, 5, 8]) as tf.Tensor4D;
    const dw = wasmConvFilterGrad(x, dy16, [3, 3, 3, 16], 1, 1);
    expect(dw?.shape).toEqual([3, 3, 3, 16]);
    expect(wasmConvFilterGrad(x, dy8, [3, 3, 3, 8], 1, 1)).toBeUndefined();
    const before = configureWasmSimdKernels({ filterGrad: false });
    expect(wasmConvFilterGrad(x, dy16, [3, 3, 3, 16], 1, 1)).toBeUndefined();
    configureWasmSimdKernels(before);
    tf.dispose([x, dy16, dy8, dw!]);
  });

  it('computes 3x3 padding-1 gradients by Winograd when switched on (same answer, other rounding)', () => {
    const x = tf.randomUniform([4, 8, 8, 16], -1, 1, 'float32', 1) as tf.Tensor4D;
    const dy = tf.randomUniform([4, 8, 8, 16], -1, 1, 'float32', 2) as tf.Tensor4D;
    const direct = wasmConvFilterGrad(x, dy, [3, 3, 16, 16], 1, 1)!;
    const before = configureWasmSimdKernels({ winograd: true });
    const wino = wasmConvFilterGrad(x, dy, [3, 3, 16, 16], 1, 1)!;
    configureWasmSimdKernels(before);
    const [a, b] = [wino.dataSync(), direct.dataSync()];
    const scale = Math.max(...Array.from(b, Math.abs));
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!))) / scale).toBeLessThan(1e-5);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    tf.dispose([x, dy, wino, direct]);
  });

  it('sums a 1x1 filter gradient exactly as Σ x·dy', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const dy = tf.tensor4d(
      Array.from({ length: 64 }, (_, i) => i % 16),
      [1, 2, 2, 16],
    );
    const dw = wasmConvFilterGrad(x, dy, [1, 1, 1, 16], 0, 0)!;
    expect(Array.from(dw.dataSync())).toEqual(Array.from({ length: 16 }, (_, c) => 10 * c));
    tf.dispose([x, dy, dw]);
  });
});
