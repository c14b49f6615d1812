import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  conv2dBackpropFilterNHWC,
  conv2dBackpropInputNHWC,
  registerWasmConvGradKernels,
  unregisterWasmConvGradKernels,
} from './wasm-conv-grad';
import { configureWasmSimdKernels } from './wasm-heap';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];

interface Case {
  name: string;
  x: Shape4; // NHWC
  k: [number, number];
  co: number;
  strides: number | [number, number];
  pad: Pad;
  round?: 'floor' | 'round' | 'ceil';
}

const cases: Case[] = [
  { name: '3x3 s1 same', x: [1, 8, 8, 3], k: [3, 3], co: 5, strides: 1, pad: 'same' },
  { name: '3x3 s1 valid', x: [2, 9, 7, 4], k: [3, 3], co: 6, strides: 1, pad: 'valid' },
  { name: '3x3 s2 same, even size', x: [2, 8, 8, 4], k: [3, 3], co: 6, strides: 2, pad: 'same' },
  { name: '3x3 s2 same, odd size', x: [2, 9, 7, 4], k: [3, 3], co: 6, strides: 2, pad: 'same' },
  { name: '3x3 s2 valid, last row unread', x: [2, 8, 8, 4], k: [3, 3], co: 6, strides: 2, pad: 'valid' },
  { name: '3x3 s2 explicit pad 1 (PyTorch style)', x: [2, 10, 9, 4], k: [3, 3], co: 8, strides: 2, pad: 1 },
  {
    name: '3x3 s1 explicit asymmetric array',
    x: [2, 7, 8, 3],
    k: [3, 3],
    co: 4,
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
  {
    name: '3x3 s2 explicit asymmetric array',
    x: [2, 9, 8, 3],
    k: [3, 3],
    co: 4,
    strides: 2,
    pad: [
      [0, 0],
      [0, 2],
      [3, 1],
      [0, 0],
    ],
  },
  { name: '3x3 s1 pad 3 (> k-1)', x: [1, 6, 6, 2], k: [3, 3], co: 3, strides: 1, pad: 3 },
  {
    name: '3x3 s2 pad 0 ceil rounding',
    x: [2, 8, 8, 3],
    k: [3, 3],
    co: 4,
    strides: 2,
    pad: 0,
    round: 'ceil',
  },
  { name: '1x1 s1', x: [2, 6, 6, 8], k: [1, 1], co: 16, strides: 1, pad: 'valid' },
  { name: '1x1 s2 (shortcut)', x: [2, 8, 8, 8], k: [1, 1], co: 16, strides: 2, pad: 'valid' },
  { name: '1x1 s2 same odd', x: [2, 7, 7, 4], k: [1, 1], co: 6, strides: 2, pad: 'same' },
  { name: '7x7 s2 pad 3 (stem)', x: [2, 16, 16, 3], k: [7, 7], co: 8, strides: 2, pad: 3 },
  { name: '7x7 s1 same', x: [1, 10, 10, 3], k: [7, 7], co: 4, strides: 1, pad: 'same' },
  { name: '5x3 strides [1,2]', x: [2, 9, 10, 3], k: [5, 3], co: 4, strides: [1, 2], pad: 'same' },
  { name: '3x3 strides [3,2] valid', x: [2, 11, 10, 3], k: [3, 3], co: 4, strides: [3, 2], pad: 'valid' },
  { name: '4x4 s3 same', x: [1, 13, 12, 2], k: [4, 4], co: 3, strides: 3, pad: 'same' },
  { name: 'batch 64, 3x3 s1 same', x: [64, 4, 4, 3], k: [3, 3], co: 5, strides: 1, pad: 'same' },
  { name: 'batch 64, 3x3 s2 pad 1', x: [64, 6, 6, 5], k: [3, 3], co: 7, strides: 2, pad: 1 },
  // Co a multiple of 16: the filter gradient runs on our SIMD kernel (odd Ci exercises its 1-channel tail)
  { name: 'SIMD dW: 3x3 s1 same, Ci 5, Co 16', x: [3, 9, 11, 5], k: [3, 3], co: 16, strides: 1, pad: 'same' },
  { name: 'SIMD dW: 3x3 s1 valid, Co 32', x: [2, 8, 7, 4], k: [3, 3], co: 32, strides: 1, pad: 'valid' },
  { name: 'SIMD dW: 7x7 s1 pad 3, Ci 3', x: [1, 10, 10, 3], k: [7, 7], co: 16, strides: 1, pad: 3 },
  { name: 'SIMD dW: 3x3 s1 pad 3 (> k-1)', x: [1, 6, 6, 2], k: [3, 3], co: 16, strides: 1, pad: 3 },
  { name: 'SIMD dW: 1x1 s1', x: [2, 6, 6, 8], k: [1, 1], co: 48, strides: 1, pad: 'valid' },
  // 3x3 pad 1, Ci a multiple of 4: both gradients by Winograd F(4x4, 3x3) (odd sizes: clipped edge tiles;
  // more than one block of tiles, and a partial last one)
  { name: 'Winograd: 3x3 s1 pad 1, 16 -> 16', x: [3, 8, 8, 16], k: [3, 3], co: 16, strides: 1, pad: 1 },
  { name: 'Winograd: odd size, Ci 8, Co 32', x: [2, 7, 9, 8], k: [3, 3], co: 32, strides: 1, pad: 'same' },
  { name: 'Winograd: 64 -> 64, 70 tiles', x: [5, 8, 7, 64], k: [3, 3], co: 64, strides: 1, pad: 1 },
  { name: 'Winograd: one row, Ci 4', x: [2, 1, 10, 4], k: [3, 3], co: 16, strides: 1, pad: 1 },
  {
    name: 'SIMD dW: tall image, many rows per tile',
    x: [2, 40, 5, 2],
    k: [3, 3],
    co: 16,
    strides: 1,
    pad: 1,
  },
  { name: 'SIMD dW: wide image, one row per tile', x: [1, 4, 300, 2], k: [3, 3], co: 16, strides: 1, pad: 1 },
  {
    name: 'SIMD dW: 3x3 s1 explicit asymmetric array',
    x: [2, 7, 8, 3],
    k: [3, 3],
    co: 16,
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
];

/** Deterministic uniform(-1, 1) values. */
function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function relErr(got: Float32Array | number[], ref: Float32Array | number[]): number {
  expect(got.length).toBe(ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

function outShape(c: Case): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    [c.k[0], c.k[1], c.x[3], c.co],
    c.strides,
    1,
    c.pad,
    c.round,
    false,
    'channelsLast',
  );
  return info.outShape as Shape4;
}

/** Runs both gradient kernels of a case directly on the current backend. */
function runKernels(
  c: Case,
  seed: number,
  format: 'NHWC' | 'NCHW' = 'NHWC',
): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const wShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.co];
    const yShape = outShape(c);
    const toFormat = (t: tf.Tensor4D) =>
      (format === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t) as tf.Tensor4D;
    const x = toFormat(tf.tensor4d(random(tf.util.sizeFromShape(c.x), seed), c.x));
    const dy = toFormat(tf.tensor4d(random(tf.util.sizeFromShape(yShape), seed + 1), yShape));
    const w = tf.tensor4d(random(tf.util.sizeFromShape(wShape), seed + 2), wShape);
    const base = { strides: c.strides, pad: c.pad, dataFormat: format, dimRoundingMode: c.round };
    let pad = c.pad;
    if (format === 'NCHW' && typeof pad === 'object') pad = [pad[0], pad[3], pad[1], pad[2]];
    const inputShape = format === 'NCHW' ? [c.x[0], c.x[3], c.x[1], c.x[2]] : c.x;
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
      ...base,
      pad,
      inputShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
      ...base,
      pad,
      filterShape: wShape,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** A small conv net touching every path: s1 same, s2 explicit, 1x1 s2 shortcut, 7x7 stem, conv1d. */
function smallNetGrads(seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(random(4 * 12 * 12 * 3, seed), [4, 12, 12, 3]);
    const ws = [
      tf.mul(tf.tensor4d(random(7 * 7 * 3 * 8, seed + 1), [7, 7, 3, 8]), 0.1),
      tf.mul(tf.tensor4d(random(3 * 3 * 8 * 8, seed + 2), [3, 3, 8, 8]), 0.2),
      tf.mul(tf.tensor4d(random(3 * 3 * 8 * 16, seed + 3), [3, 3, 8, 16]), 0.2),
      tf.mul(tf.tensor4d(random(1 * 1 * 8 * 16, seed + 4), [1, 1, 8, 16]), 0.3),
      tf.mul(tf.tensor3d(random(3 * 16 * 4, seed + 5), [3, 16, 4]), 0.2),
    ] as tf.Tensor[];
    const f = (xx: tf.Tensor, w0: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor, w4: tf.Tensor) => {
      let h = tf.relu(tf.conv2d(xx as tf.Tensor4D, w0 as tf.Tensor4D, 1, 'same')); // 12x12x8
      h = tf.relu(tf.add(h, tf.conv2d(h, w1 as tf.Tensor4D, 1, 'same'))) as tf.Tensor4D;
      const a = tf.conv2d(h, w2 as tf.Tensor4D, 2, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]); // 6x6x16
      const b = tf.conv2d(h, w3 as tf.Tensor4D, 2, 'valid');
      const z = tf.relu(tf.add(a, b)); // [4, 6, 6, 16]
      const seq = tf.reshape(z, [4, 36, 16]) as tf.Tensor3D;
      const c = tf.conv1d(seq, w4 as tf.Tensor3D, 2, 'same'); // [4, 18, 4]
      return tf.sum(tf.square(c));
    };
    const grads = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([x, ...ws]);
    return grads.map((g) => g.dataSync() as Float32Array);
  });
}

async function use(name: 'cpu' | 'wasm'): Promise<void> {
  expect(await tf.setBackend(name)).toBe(true);
  await tf.ready();
}

describe('wasm conv gradient kernels', () => {
  const ref = new Map<string, { dx: Float32Array; dw: Float32Array }>();
  let refNchw: { dx: Float32Array; dw: Float32Array };
  let refNet: Float32Array[];

  beforeAll(async () => {
    // Registered before the wasm backend initialises (the order useBackend() uses).
    registerWasmConvGradKernels();
    await use('cpu');
    cases.forEach((c, i) => {
      ref.set(c.name, runKernels(c, 100 * i + 7));
    });
    refNchw = runKernels(cases[5]!, 4242, 'NCHW');
    refNet = smallNetGrads(99);
    await use('wasm');
    configureWasmSimdKernels({ winograd: true }); // opt-in: the 'Winograd' cases run on it
  });
  afterAll(() => configureWasmSimdKernels({ winograd: false }));

  for (const [i, c] of cases.entries()) {
    it(`agrees with cpu: ${c.name}`, () => {
      const got = runKernels(c, 100 * i + 7);
      const want = ref.get(c.name)!;
      expect(relErr(got.dx, want.dx)).toBeLessThan(1e-4);
      expect(relErr(got.dw, want.dw)).toBeLessThan(1e-4);
    });
  }

  it('the generic route (no wasm heap access: tf ops only) agrees too, run on the cpu backend', async () => {
    await use('cpu');
    try {
      for (const [i, c] of cases.entries()) {
        const got = tf.tidy(() => {
          const wShape: Shape4 = [c.k[0], c.k[1], c.x[3], c.co];
          const yShape = outShape(c);
          const seed = 100 * i + 7;
          const x = tf.tensor4d(random(tf.util.sizeFromShape(c.x), seed), c.x);
          const dy = tf.tensor4d(random(tf.util.sizeFromShape(yShape), seed + 1), yShape);
          const w = tf.tensor4d(random(tf.util.sizeFromShape(wShape), seed + 2), wShape);
          const attrs = {
            strides: c.strides,
            pad: c.pad,
            dataFormat: 'NHWC' as const,
            dimRoundingMode: c.round,
          };
          return {
            dx: conv2dBackpropInputNHWC(c.x, dy, w, attrs).dataSync() as Float32Array,
            dw: conv2dBackpropFilterNHWC(x, dy, wShape, attrs).dataSync() as Float32Array,
          };
        });
        const want = ref.get(c.name)!;
        expect(relErr(got.dx, want.dx), c.name).toBeLessThan(1e-4);
        expect(relErr(got.dw, want.dw), c.name).toBeLessThan(1e-4);
      }
    } finally {
      await use('wasm');
    }
  });

  it('agrees with cpu for NCHW attrs', () => {
    const got = runKernels(cases[5]!, 4242, 'NCHW');
    expect(relErr(got.dx, refNchw.dx)).toBeLessThan(1e-4);
    expect(relErr(got.dw, refNchw.dw)).toBeLessThan(1e-4);
  });

  it('tf.grads of a small conv network (conv2d strides 1/2, 1x1, 7x7, conv1d) agrees with cpu', () => {
    const got = smallNetGrads(99);
    expect(got.length).toBe(refNet.length);
    got.forEach((g, i) => {
      expect(relErr(g, refNet[i]!)).toBeLessThan(1e-4);
    });
  });

  it('conv2dTranspose (which runs Conv2DBackpropInput) agrees with cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(random(2 * 5 * 5 * 6, 5), [2, 5, 5, 6]);
        const w = tf.tensor4d(random(3 * 3 * 4 * 6, 6), [3, 3, 4, 6]);
        return tf.conv2dTranspose(x, w, [2, 10, 10, 4], 2, 'same').dataSync() as Float32Array;
      });
    const got = run();
    await use('cpu');
    const want = run();
    await use('wasm');
    expect(relErr(got, want)).toBeLessThan(1e-4);
  });

  it('gradients of dilated convs are rejected by tfjs itself on every backend', async () => {
    const f = (x: tf.Tensor) =>
      tf.sum(tf.conv2d(x as tf.Tensor4D, tf.ones([3, 3, 2, 2]) as tf.Tensor4D, 1, 'same', 'NHWC', 2));
    const attempt = () => tf.tidy(() => tf.grad(f)(tf.ones([1, 6, 6, 2])));
    expect(attempt).toThrow(/dilation/);
    await use('cpu');
    expect(attempt).toThrow(/dilation/);
    await use('wasm');
  });

  it('does not leak tensors or wasm memory across 100 gradient calls', () => {
    const x = tf.tensor4d(random(8 * 8 * 8 * 4, 1), [8, 8, 8, 4]);
    const w1 = tf.tensor4d(random(3 * 3 * 4 * 8, 2), [3, 3, 4, 8]);
    const w2 = tf.tensor4d(random(3 * 3 * 8 * 8, 3), [3, 3, 8, 8]);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.conv2d(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')), c as tf.Tensor4D, 2, 1),
      );
    const g = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor);
    tf.dispose(g([x, w1, w2])); // warm-up
    const before = tf.memory();
    const backendIds = tf.backend().numDataIds();
    for (let i = 0; i < 100; i++) tf.dispose(g([x, w1, w2]));
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(tf.backend().numDataIds()).toBe(backendIds);
    tf.dispose([x, w1, w2]);
  });

  it('can be unregistered (stock kernels back) and registered again after init, idempotently', () => {
    const f = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.sum(tf.conv2d(x, w, 1, 'same'));
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 2, 2]) as tf.Tensor4D;
    const run = () =>
      tf.tidy(() =>
        tf
          .grads(f as (...a: tf.Tensor[]) => tf.Tensor)([x, w])[1]!
          .dataSync(),
      );
    unregisterWasmConvGradKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
    expect(run).toThrow();
    registerWasmConvGradKernels();
    registerWasmConvGradKernels();
    // all-ones input, 'same' 3x3 on 4x4: tap (a, b) sees 3 or 4 valid rows times 3 or 4 valid columns
    const rows = [3, 4, 3];
    const want = Array.from(
      { length: 36 },
      (_, i) => rows[Math.floor(i / 12)]! * rows[Math.floor(i / 4) % 3]!,
    );
    expect(Array.from(run())).toEqual(want);
    tf.dispose([x, w]);
  });

  it('tf.clone shares data on wasm (no copy), and either tensor can be disposed first', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const buffers = () => tf.memory().numDataBuffers;
    const before = buffers();
    const y = tf.clone(x);
    expect(buffers()).toBe(before); // shared, not copied
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    const z = tf.clone(y);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual([1, 2, 3]);
    z.dispose();
    expect(buffers()).toBe(before - 1);
  });
});
