import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relErr } from './test-helpers';
import { registerWasmConvGradKernels } from './wasm-conv-grad';
import { wasmConv2dApplies } from './wasm-conv2d';
import { configureWasmSimdKernels } from './wasm-heap';

type Pad =
  | 'same'
  | 'valid'
  | number
  | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  pad: Pad;
  stride?: number;
}

const cases: Record<string, Case> = {
  '3x3 same, 16 → 16 (a DiracNet layer)': { x: [2, 8, 8, 16], k: [3, 3], co: 16, pad: 1 },
  '3x3 same, odd width, Ci 5, Co 32': { x: [3, 7, 9, 5], k: [3, 3], co: 32, pad: 'same' },
  '3x3 valid, Ci 1': { x: [2, 6, 5, 1], k: [3, 3], co: 16, pad: 'valid' },
  '1x1, Co 48': { x: [2, 5, 5, 8], k: [1, 1], co: 48, pad: 'valid' },
  '7x7 pad 3, Ci 3': { x: [1, 12, 11, 3], k: [7, 7], co: 16, pad: 3 },
  '3x3 pad 3 (> k − 1: all-padding rows and columns)': { x: [1, 4, 5, 2], k: [3, 3], co: 16, pad: 3 },
  '5x3 explicit asymmetric padding': {
    x: [2, 9, 8, 4],
    k: [5, 3],
    co: 16,
    pad: [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ],
  },
  'width 1': { x: [2, 6, 1, 4], k: [3, 3], co: 16, pad: 1 },
  'Winograd: 3x3 same, odd height and width, Ci 8, Co 32': { x: [3, 7, 9, 8], k: [3, 3], co: 32, pad: 1 },
  'Winograd: 64 → 64 at 8x8': { x: [3, 8, 8, 64], k: [3, 3], co: 64, pad: 'same' },
  'Winograd: 16 → 32 at 32x32 (a widening DiracNet layer)': { x: [2, 32, 32, 16], k: [3, 3], co: 32, pad: 1 },
  'Winograd: 20 tiles per row (two blocks), 5 tiles (odd)': { x: [2, 3, 40, 4], k: [3, 3], co: 16, pad: 1 },
  'Winograd: one row, 5 tiles': { x: [2, 1, 10, 12], k: [3, 3], co: 16, pad: 1 },
  'stride 2 (stock kernel)': { x: [2, 8, 8, 4], k: [3, 3], co: 16, pad: 1, stride: 2 },
  'Co 8 (stock kernel)': { x: [2, 8, 8, 4], k: [3, 3], co: 8, pad: 1 },
};

function inputs(c: Case, seed: number) {
  return [
    tf.randomUniform(c.x, -1, 1, 'float32', seed),
    tf.randomUniform([c.k[0], c.k[1], c.x[3], c.co], -1, 1, 'float32', seed + 1),
  ] as [tf.Tensor4D, tf.Tensor4D];
}

const run = (c: Case, seed: number) =>
  tf.tidy(() => {
    const [x, w] = inputs(c, seed);
    return tf.conv2d(x, w, c.stride ?? 1, c.pad).dataSync() as Float32Array;
  });

afterAll(() => configureWasmSimdKernels({ winograd: false }));

describe('SIMD Conv2D on tfjs-backend-wasm', () => {
  const ref = new Map<string, Float32Array>();
  beforeAll(async () => {
    registerWasmConvGradKernels();
    configureWasmSimdKernels({ winograd: true }); // opt-in: the 'Winograd' cases run on it
    await tf.setBackend('cpu');
    Object.entries(cases).forEach(([name, c], i) => {
      ref.set(name, run(c, 10 * i + 1));
    });
    await tf.setBackend('wasm');
  });

  Object.entries(cases).forEach(([name, c], i) => {
    it(`agrees with the cpu backend: ${name}`, () => {
      expect(relErr(run(c, 10 * i + 1), ref.get(name)!)).toBeLessThan(1e-5);
    });
  });

  it('is used exactly for float32 convolutions with 16k output channels, unless switched off', () => {
    const x = tf.zeros([1, 4, 4, 3]);
    const w16 = tf.zeros([3, 3, 3, 16]);
    const w8 = tf.zeros([3, 3, 3, 8]);
    expect(wasmConv2dApplies(x, w16)).toBe(true);
    expect(wasmConv2dApplies(x, w8)).toBe(false);
    const before = configureWasmSimdKernels({ conv: false });
    expect(wasmConv2dApplies(x, w16)).toBe(false);
    const name = Object.keys(cases)[1]!;
    expect(relErr(run(cases[name]!, 11), ref.get(name)!)).toBeLessThan(1e-5); // stock kernel, same answer
    configureWasmSimdKernels(before);
    tf.dispose([x, w16, w8]);
  });

  it('runs 3x3 padding-1 convolutions by Winograd when switched on (same answer, other rounding)', () => {
    const name = 'Winograd: 64 → 64 at 8x8';
    const i = Object.keys(cases).indexOf(name);
    const wino = run(cases[name]!, 10 * i + 1);
    const before = configureWasmSimdKernels({ winograd: false });
    const direct = run(cases[name]!, 10 * i + 1);
    configureWasmSimdKernels(before);
    expect(relErr(direct, ref.get(name)!)).toBeLessThan(1e-5);
    expect(relErr(wino, ref.get(name)!)).toBeLessThan(1e-5);
    expect(Array.from(wino)).not.toEqual(Array.from(direct));
  });

  it('does not leak tensors', () => {
    const c = Object.values(cases)[0]!;
    run(c, 1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) run(c, 1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
