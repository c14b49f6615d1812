/**
 * 3×3 stride-1 convolutions with padding 1 (every Dirac conv) by Winograd's F(2×2, 3×3), as our own
 * WebAssembly SIMD kernel on tfjs-backend-wasm's heap (kernels/simd/winograd.wat): 16 products per 2×2
 * outputs and (ci, co) instead of 36, for the convolution (forward, and the input gradient) and for the
 * filter gradient. The batch is split between the calling thread and the kernel helper threads, each with
 * its own buffers in one scratch area.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { winogradWasmShared, winogradWasmUnshared } from './simd/wasm-binaries.generated';
import { heapKernels, wasmSimdKernelEnabled } from './wasm-heap';

interface WinogradExports {
  winoFilter(w: number, u: number, ci: number, co: number): void;
  convWino(...args: number[]): void;
  filterGradWino(...args: number[]): void;
  winoFilterGradOut(s: number, dw: number, ci: number, co: number): void;
}

/** Output tiles per block of the convolution: its buffers (16 × tiles × channels floats) stay in L1/L2. */
const CONV_TILES = 16;
/** Tiles per block of the filter gradient (its sums are loaded and stored once per block). */
const GRAD_TILES = 32;

/**
 * Whether a convolution of `x` with a filter of `filterShape` ([kh, kw, Ci, Co]) at this padding and output
 * size is one the Winograd kernel computes: 3×3, padding 1, output size = input size (stride 1), float32,
 * Ci a multiple of 4, Co of 16, and not switched off.
 */
export function winogradApplies(
  x: tf.TensorInfo,
  filterShape: readonly number[],
  padTop: number,
  padLeft: number,
  outH: number,
  outW: number,
): boolean {
  const [N, H, W, Ci] = x.shape as number[];
  const [KH, KW, , Co] = filterShape as number[];
  return (
    wasmSimdKernelEnabled('winograd') &&
    x.dtype === 'float32' &&
    KH === 3 &&
    KW === 3 &&
    padTop === 1 &&
    padLeft === 1 &&
    outH === H &&
    outW === W &&
    N! > 0 &&
    H! > 0 &&
    W! > 0 &&
    Ci! % 4 === 0 &&
    Co! % 16 === 0
  );
}

function winogradKernels() {
  return heapKernels<WinogradExports>('winograd', {
    shared: winogradWasmShared,
    unshared: winogradWasmUnshared,
  });
}

/** Byte sizes of one thread's buffers: padded input rows, transformed input tiles, output-side tiles. */
function partBuffers(W: number, Ci: number, Co: number, tiles: number) {
  const rows = 4 * (2 * ((W + 1) >> 1) + 2) * Ci * 4;
  // 16 planes, each a cache line longer than its tiles (see winograd.wat)
  const v = 16 * (tiles * Ci * 4 + 64);
  const out = 16 * (tiles * Co * 4 + 64);
  return { rows, v, out, total: rows + v + out };
}

/** y = conv(x, w), 3×3, padding 1, stride 1; undefined when the kernel cannot run here. */
export function winogradConv(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D | undefined {
  const k = winogradKernels();
  if (!k || w.dtype !== 'float32') return undefined;
  const [N, H, W, Ci] = x.shape;
  const Co = w.shape[3];
  const T = Math.min(CONV_TILES, (W + 1) >> 1);
  const { tensor: y, ptr: yPtr } = k.output([N, H, W, Co]);
  const parts = k.batchParts(N);
  const uBytes = 16 * Ci * Co * 4;
  const b = partBuffers(W, Ci, Co, T);
  const u = k.scratch(uBytes + parts * b.total);
  const [xPtr, wPtr] = [k.offset(x), k.offset(w)];
  k.exports.winoFilter(wPtr, u, Ci, Co);
  k.runBatch('winograd', 'convWino', N, parts, (n0, n1, i) => {
    const rows = u + uBytes + i * b.total;
    return [xPtr, u, yPtr, n0, n1, H, W, Ci, Co, rows, rows + b.rows, rows + b.rows + b.v, T];
  });
  return y as tf.Tensor4D;
}

/** dW [3, 3, Ci, Co] of y = conv(x, W), 3×3, padding 1, stride 1; undefined when the kernel cannot run. */
export function winogradFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D | undefined {
  const k = winogradKernels();
  if (!k || dy.dtype !== 'float32') return undefined;
  const [N, H, W, Ci] = x.shape;
  const Co = dy.shape[3];
  const { tensor: dw, ptr: dwPtr } = k.output([3, 3, Ci, Co]);
  const parts = k.batchParts(N);
  const sFloats = 16 * Ci * Co;
  const b = partBuffers(W, Ci, Co, GRAD_TILES);
  const partBytes = sFloats * 4 + b.total;
  const base = k.scratch(parts * partBytes);
  const sums = (i: number) => base + i * partBytes;
  for (let i = 0; i < parts; i++) k.f32(sums(i), sFloats).fill(0);
  const [xPtr, dyPtr] = [k.offset(x), k.offset(dy)];
  k.runBatch('winograd', 'filterGradWino', N, parts, (n0, n1, i) => {
    const rows = sums(i) + sFloats * 4;
    return [xPtr, dyPtr, sums(i), n0, n1, H, W, Ci, Co, rows, rows + b.rows, rows + b.rows + b.v, GRAD_TILES];
  });
  const total = k.f32(sums(0), sFloats);
  for (let i = 1; i < parts; i++) {
    const add = k.f32(sums(i), sFloats);
    for (let j = 0; j < sFloats; j++) total[j]! += add[j]!;
  }
  k.exports.winoFilterGradOut(sums(0), dwPtr, Ci, Co);
  return dw as tf.Tensor4D;
}
