/**
 * The filter gradient of stride-1 convolutions as our own WebAssembly SIMD kernel on tfjs-backend-wasm's
 * heap (kernels/simd/conv-filter-grad.wat). The swapped-batch Conv2D in wasm-conv-grad.ts hands XNNPACK a
 * "filter" as large as the whole activation, which it repacks on every call; here the reduction over
 * pixels runs with the accumulators of 2 input × 16 output channels in registers, tile by tile, so the
 * data of a tile stays in cache while every tap and channel block is accumulated from it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { convFilterGradWasmShared, convFilterGradWasmUnshared } from './simd/wasm-binaries.generated';
import { heapKernels, wasmSimdKernelEnabled } from './wasm-heap';

interface FilterGradExports {
  block2(
    x: number,
    dy: number,
    acc: number,
    rows: number,
    cols: number,
    xRow: number,
    dyRow: number,
    xPix: number,
    dyPix: number,
    accRow: number,
  ): void;
  block1(
    x: number,
    dy: number,
    acc: number,
    rows: number,
    cols: number,
    xRow: number,
    dyRow: number,
    xPix: number,
    dyPix: number,
  ): void;
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
  const k = heapKernels<FilterGradExports>('convFilterGrad', {
    shared: convFilterGradWasmShared,
    unshared: convFilterGradWasmUnshared,
  });
  if (!k) return undefined;
  const { tensor: dw, ptr: dwPtr } = k.output(filterShape);
  k.f32(dwPtr, dw.size).fill(0);
  const [xPtr, dyPtr] = [k.offset(x), k.offset(dy)];
  const xPix = Ci * 4;
  const dyPix = Co * 4;
  const xRow = W * xPix;
  const dyRow = OW * dyPix;
  const rowsPerTile = Math.max(1, Math.floor(TILE_PIXELS / OW));
  const { block1, block2 } = k.exports;
  for (let n = 0; n < N; n++) {
    for (let y0 = 0; y0 < OH; y0 += rowsPerTile) {
      const y1 = Math.min(OH, y0 + rowsPerTile);
      for (let ky = 0; ky < KH; ky++) {
        // output rows whose input row y + ky − padTop lies inside the image
        const ya = Math.max(y0, padTop - ky);
        const yb = Math.min(y1, H + padTop - ky);
        if (ya >= yb) continue;
        for (let kx = 0; kx < KW; kx++) {
          const xa = Math.max(0, padLeft - kx);
          const xb = Math.min(OW, W + padLeft - kx);
          if (xa >= xb) continue;
          const xBase = xPtr + ((n * H + ya + ky - padTop) * W + (xa + kx - padLeft)) * xPix;
          const dyBase = dyPtr + ((n * OH + ya) * OW + xa) * dyPix;
          const accBase = dwPtr + (ky * KW + kx) * Ci * dyPix;
          const rows = yb - ya;
          const cols = xb - xa;
          for (let co = 0; co < Co; co += CO_BLOCK) {
            let ci = 0;
            for (; ci + 1 < Ci; ci += 2) {
              block2(
                xBase + ci * 4,
                dyBase + co * 4,
                accBase + (ci * Co + co) * 4,
                rows,
                cols,
                xRow,
                dyRow,
                xPix,
                dyPix,
                dyPix,
              );
            }
            if (ci < Ci) {
              block1(
                xBase + ci * 4,
                dyBase + co * 4,
                accBase + (ci * Co + co) * 4,
                rows,
                cols,
                xRow,
                dyRow,
                xPix,
                dyPix,
              );
            }
          }
        }
      }
    }
  }
  return dw as tf.Tensor4D;
}
