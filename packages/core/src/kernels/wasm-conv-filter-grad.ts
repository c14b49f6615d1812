/**
 * The filter gradient of stride-1 convolutions as our own WebAssembly SIMD kernel on tfjs-backend-wasm's
 * heap (kernels/simd/conv-filter-grad.wat). The swapped-batch Conv2D in wasm-conv-grad.ts hands XNNPACK a
 * "filter" as large as the whole activation, which it repacks on every call; here the reduction over
 * pixels runs with the accumulators of 2 input × 16 output channels in registers, tile by tile, so the
 * data of a tile stays in cache while every tap and channel block is accumulated from it. With the `winograd`
 * switch on, 3×3 padding-1 convolutions go to wasm-winograd.ts.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { convFilterGradWasmShared, convFilterGradWasmUnshared } from './simd/wasm-binaries.generated';
import { heapKernels, wasmSimdKernelEnabled } from './wasm-heap';
import { winogradApplies, winogradFilterGrad } from './wasm-winograd';

interface FilterGradExports {
  filterGrad(...args: number[]): void;
}

/** Output pixels per tile: the tile's dy and x rows (~16 KB each at 16 channels) stay in L1/L2. */
const TILE_PIXELS = 256;
/** Output channels per block: the kernel holds 16 of them (4 SIMD vectors) per input channel. */
const CO_BLOCK = 16;

/**
 * dW [kh, kw, Ci, Co] of a stride-1 NHWC convolution with the given top/left padding, or undefined when
 * the kernel does not apply (not the wasm backend, not float32, Co not a multiple of 16).
 */
export function wasmConvFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  padTop: number,
  padLeft: number,
): tf.Tensor4D | undefined {
  const [N, H, W, Ci] = x.shape;
  const [, OH, OW, Co] = dy.shape;
  const [KH, KW] = filterShape;
  if (!wasmSimdKernelEnabled('filterGrad') || x.dtype !== 'float32' || dy.dtype !== 'float32')
    return undefined;
  if (Co % CO_BLOCK !== 0 || x.size === 0 || dy.size === 0) return undefined;
  if (wasmSimdKernelEnabled('winograd') && winogradApplies(x, filterShape, padTop, padLeft, OH, OW)) {
    const dw = winogradFilterGrad(x, dy);
    if (dw) return dw;
  }
  const k = heapKernels<FilterGradExports>('convFilterGrad', {
    shared: convFilterGradWasmShared,
    unshared: convFilterGradWasmUnshared,
  });
  if (!k) return undefined;
  const { tensor: dw, ptr: dwPtr } = k.output(filterShape);
  const size = dw.size;
  // Batch items are split between this thread and the helper threads; each helper sums into its own
  // scratch copy of dW, added in at the end.
  const parts = k.batchParts(N);
  const scratch = parts > 1 ? k.scratch((parts - 1) * size * 4) : 0;
  const target = (i: number) => (i === 0 ? dwPtr : scratch + (i - 1) * size * 4);
  for (let i = 0; i < parts; i++) k.f32(target(i), size).fill(0);
  const rowsPerTile = Math.max(1, Math.floor(TILE_PIXELS / OW));
  const [xPtr, dyPtr] = [k.offset(x), k.offset(dy)];
  k.runBatch('convFilterGrad', 'filterGrad', N, parts, (n0, n1, i) => [
    xPtr,
    dyPtr,
    target(i),
    n0,
    n1,
    H,
    W,
    Ci,
    OH,
    OW,
    Co,
    KH,
    KW,
    padTop,
    padLeft,
    rowsPerTile,
  ]);
  const sum = k.f32(dwPtr, size);
  for (let i = 1; i < parts; i++) {
    const add = k.f32(target(i), size);
    for (let j = 0; j < size; j++) sum[j]! += add[j]!;
  }
  return dw as tf.Tensor4D;
}
