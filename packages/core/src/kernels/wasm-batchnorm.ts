/**
 * Training-mode batch norm (+ the ReLU after it) on tfjs-backend-wasm as two SIMD passes forward and two
 * backward, instead of the ~15 broadcasting tfjs ops (each a full pass at ~2 ns/element on wasm) that
 * the same math takes when written with tf ops. See kernels/simd/batchnorm.wat.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { batchnormWasmShared, batchnormWasmUnshared } from './simd/wasm-binaries.generated';
import { type HeapKernels, heapKernels, wasmSimdKernelEnabled } from './wasm-heap';

interface BatchNormExports {
  moments(x: number, P: number, C: number, shift: number, acc: number): void;
  normalize(
    x: number,
    y: number,
    P: number,
    C: number,
    mean: number,
    scale: number,
    beta: number,
    relu: number,
  ): void;
  gradSums(
    dy: number,
    y: number,
    x: number,
    P: number,
    C: number,
    mean: number,
    acc: number,
    relu: number,
  ): void;
  gradInput(
    dy: number,
    y: number,
    x: number,
    dx: number,
    P: number,
    C: number,
    mean: number,
    a: number,
    b: number,
    k: number,
    relu: number,
  ): void;
}

/** The kernels when they apply to `x` (wasm backend, float32, channels a multiple of 4), else undefined. */
function kernelsFor(x: tf.Tensor): HeapKernels<BatchNormExports> | undefined {
  if (!wasmSimdKernelEnabled('batchNorm') || x.dtype !== 'float32' || x.rank < 2 || x.size === 0)
    return undefined;
  if (x.shape[x.rank - 1]! % 4 !== 0) return undefined;
  return heapKernels<BatchNormExports>('batchnorm', {
    shared: batchnormWasmShared,
    unshared: batchnormWasmUnshared,
  });
}

/** Whether {@link wasmBatchNormForward} runs on `x` (otherwise it returns undefined). */
export function wasmBatchNormApplies(x: tf.Tensor): boolean {
  return kernelsFor(x) !== undefined;
}

/** Result of {@link wasmBatchNormForward}: the output and the batch statistics as plain arrays. */
export interface WasmBatchNormForward {
  y: tf.Tensor;
  mean: Float32Array;
  /** biased, as PyTorch normalizes with */
  variance: Float32Array;
  invStd: Float32Array;
}

/** Scratch layout: four float32 vectors of C, then 2C float64 sums. */
/**
 * Scratch for per-channel vectors v0…v3 (float32) and one pair of float64 sums per part of the pixels
 * (the calling thread and each helper thread sum their own share).
 */
function scratchLayout(k: HeapKernels<BatchNormExports>, C: number, parts = 1) {
  const base = k.scratch(16 * C + parts * 16 * C);
  const acc = (i: number) => base + 16 * C + i * 16 * C;
  return { v0: base, v1: base + 4 * C, v2: base + 8 * C, v3: base + 12 * C, acc };
}

/**
 * Runs export `fn` over the P pixels, split between this thread and the helper threads;
 * `args(byteOffset, pixels, part)` gives the call's arguments for its range.
 */
function runPixels(
  k: HeapKernels<BatchNormExports>,
  fn: keyof BatchNormExports,
  P: number,
  C: number,
  parts: number,
  args: (offset: number, pixels: number, part: number) => number[],
): void {
  k.runBatch('batchnorm', fn, P, parts, (p0, p1, i) => args(p0 * C * 4, p1 - p0, i));
}

/** Into how many parts a batch norm's P pixels are split: 1 when the `batchNormThreads` switch is off. */
function pixelParts(k: HeapKernels<BatchNormExports>, P: number): number {
  return wasmSimdKernelEnabled('batchNormThreads') ? k.batchParts(P) : 1;
}

/** Σ of the parts' float64 [2C] sums (zeroed by {@link zeroSums} before the kernel ran). */
function partSums(k: HeapKernels<BatchNormExports>, acc: (i: number) => number, C: number, parts: number) {
  const sum = k.f64(acc(0), 2 * C).slice();
  for (let i = 1; i < parts; i++) {
    const a = k.f64(acc(i), 2 * C);
    for (let j = 0; j < 2 * C; j++) sum[j]! += a[j]!;
  }
  return sum;
}

function zeroSums(k: HeapKernels<BatchNormExports>, acc: (i: number) => number, C: number, parts: number) {
  for (let i = 0; i < parts; i++) k.f64(acc(i), 2 * C).fill(0);
}

/** Copies per-channel vectors into the scratch slots. */
function put(k: HeapKernels<BatchNormExports>, C: number, slots: [number, Float32Array][]): void {
  for (const [ptr, v] of slots) k.f32(ptr, C).set(v);
}

/**
 * y = relu?(γ·(x − μ)/√(σ² + ε) + β) over the last axis with the batch's own statistics, or undefined when
 * the SIMD kernels do not apply (the caller then uses tf ops).
 */
export function wasmBatchNormForward(
  x: tf.Tensor,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  relu: boolean,
): WasmBatchNormForward | undefined {
  const k = kernelsFor(x);
  if (!k) return undefined;
  const C = x.shape[x.rank - 1]!;
  const P = x.size / C;
  const { tensor: y, ptr: yPtr } = k.output(x.shape);
  const parts = pixelParts(k, P);
  const s = scratchLayout(k, C, parts);
  const xPtr = k.offset(x);
  // Sums are taken around the first pixel's values, which keeps Σ(x−s)² − (Σ(x−s))²/P well conditioned.
  k.f32(s.v0, C).set(k.f32(xPtr, C));
  zeroSums(k, s.acc, C, parts);
  runPixels(k, 'moments', P, C, parts, (o, n, i) => [xPtr + o, n, C, s.v0, s.acc(i)]);
  const shift = k.f32(s.v0, C).slice();
  const acc = partSums(k, s.acc, C, parts);
  const mean = new Float32Array(C);
  const variance = new Float32Array(C);
  const invStd = new Float32Array(C);
  const scale = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const d = acc[c]! / P;
    const v = Math.max(0, acc[C + c]! / P - d * d);
    mean[c] = shift[c]! + d;
    variance[c] = v;
    invStd[c] = 1 / Math.sqrt(v + eps);
    scale[c] = gamma[c]! * invStd[c]!;
  }
  put(k, C, [
    [s.v0, mean],
    [s.v1, scale],
    [s.v2, beta],
  ]);
  runPixels(k, 'normalize', P, C, parts, (o, n) => [
    xPtr + o,
    yPtr + o,
    n,
    C,
    s.v0,
    s.v1,
    s.v2,
    relu ? 1 : 0,
  ]);
  return { y, mean, variance, invStd };
}

/**
 * Inference-mode batch norm (+ ReLU) with given statistics, y = relu?(γ·(x − μ)/√(σ² + ε) + β), or undefined
 * when the SIMD kernels do not apply.
 */
export function wasmBatchNormInference(
  x: tf.Tensor,
  p: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; eps: number },
  relu: boolean,
): tf.Tensor | undefined {
  const k = kernelsFor(x);
  if (!k) return undefined;
  const C = x.shape[x.rank - 1]!;
  if (p.gamma.length !== C || p.beta.length !== C || p.mean.length !== C || p.variance.length !== C) {
    return undefined;
  }
  const { tensor: y, ptr: yPtr } = k.output(x.shape);
  const s = scratchLayout(k, C);
  const scale = Float32Array.from(p.variance, (v, c) => p.gamma[c]! / Math.sqrt(v + p.eps));
  put(k, C, [
    [s.v0, p.mean],
    [s.v1, scale],
    [s.v2, p.beta],
  ]);
  k.exports.normalize(k.offset(x), yPtr, x.size / C, C, s.v0, s.v1, s.v2, relu ? 1 : 0);
  return y;
}

/**
 * Gradients of {@link wasmBatchNormForward}: dx (a tensor owned by the caller), dγ and dβ. `y` is the
 * forward output (it carries the ReLU mask when `relu`).
 */
export function wasmBatchNormBackward(
  dy: tf.Tensor,
  x: tf.Tensor,
  y: tf.Tensor,
  gamma: Float32Array,
  fwd: { mean: Float32Array; invStd: Float32Array },
  relu: boolean,
): { dx: tf.Tensor; dGamma: Float32Array; dBeta: Float32Array } | undefined {
  const k = kernelsFor(x);
  if (!k || dy.dtype !== 'float32') return undefined;
  const C = x.shape[x.rank - 1]!;
  const P = x.size / C;
  const { tensor: dx, ptr: dxPtr } = k.output(x.shape);
  const parts = pixelParts(k, P);
  const s = scratchLayout(k, C, parts);
  const [dyPtr, xPtr] = [k.offset(dy), k.offset(x)];
  const yPtr = relu ? k.offset(y) : dyPtr;
  const r = relu ? 1 : 0;
  k.f32(s.v0, C).set(fwd.mean);
  zeroSums(k, s.acc, C, parts);
  runPixels(k, 'gradSums', P, C, parts, (o, n, i) => [
    dyPtr + o,
    yPtr + o,
    xPtr + o,
    n,
    C,
    s.v0,
    s.acc(i),
    r,
  ]);
  const acc = partSums(k, s.acc, C, parts);
  const dBeta = new Float32Array(C);
  const dGamma = new Float32Array(C);
  const a = new Float32Array(C);
  const b = new Float32Array(C);
  const k0 = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const inv = fwd.invStd[c]!;
    dBeta[c] = acc[c]!;
    dGamma[c] = acc[C + c]! * inv; // Σ g·x̂
    // dx = γ/σ · (g − Σg/P − x̂·Σgx̂/P) = a·g + b·(x − μ) + k0
    a[c] = gamma[c]! * inv;
    b[c] = (-a[c]! * inv * dGamma[c]!) / P;
    k0[c] = (-a[c]! * dBeta[c]!) / P;
  }
  put(k, C, [
    [s.v1, a],
    [s.v2, b],
    [s.v3, k0],
  ]);
  runPixels(k, 'gradInput', P, C, parts, (o, n) => [
    dyPtr + o,
    yPtr + o,
    xPtr + o,
    dxPtr + o,
    n,
    C,
    s.v0,
    s.v1,
    s.v2,
    s.v3,
    r,
  ]);
  return { dx, dGamma, dBeta };
}
