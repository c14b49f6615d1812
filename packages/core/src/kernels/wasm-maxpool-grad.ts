/**
 * `MaxPoolGrad` for tfjs-backend-wasm as one JavaScript pass over its heap: the stock kernel takes ~50 ms
 * for one [128, 32, 32, 16] activation (a 2x2 pool of DiracNet-34-1), this ~3 ms. Each output routes its
 * gradient to the first maximum of its window in row-major order (as tfjs' cpu backend does); windows may
 * overlap (the 3x3/2 pool of ImageNet DiracNets), so contributions add up.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WrappedKernel } from './wrapped-kernel';

interface BackendWasmLike extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function routeGradients(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const { top, left } = info.padInfo;
  dx.fill(0);
  // Per output pixel, the window's pixels are scanned in order with all channels at once (contiguous).
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const y0 = oy * SH - top;
      const ya = Math.max(0, y0);
      const yb = Math.min(H, y0 + KH);
      for (let ox = 0; ox < OW; ox++) {
        const x0 = ox * SW - left;
        const xa = Math.max(0, x0);
        const xb = Math.min(W, x0 + KW);
        if (ya >= yb || xa >= xb) continue;
        let first = true;
        for (let y = ya; y < yb; y++) {
          for (let xx = xa; xx < xb; xx++) {
            const base = ((n * H + y) * W + xx) * C;
            if (first) {
              for (let c = 0; c < C; c++) {
                best[c] = x[base + c]!;
                at[c] = base + c;
              }
              first = false;
            } else {
              for (let c = 0; c < C; c++) {
                const v = x[base + c]!;
                if (v > best[c]!) {
                  best[c] = v;
                  at[c] = base + c;
                }
              }
            }
          }
        }
        const o = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) dx[at[c]!]! += dy[o + c]!;
      }
    }
  }
}

const maxPoolGradKernel: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs as unknown as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const a = attrs as unknown as MaxPoolGradAttrs;
  const b = backend as BackendWasmLike;
  const usable =
    typeof b.makeOutput === 'function' &&
    typeof b.typedArrayFromHeap === 'function' &&
    input.dtype === 'float32' &&
    dy.dtype === 'float32' &&
    input.shape.length === 4;
  if (!usable) return maxPoolGradWrap.stock!.kernelFunc(args);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const out = b.makeOutput(input.shape.slice(), 'float32');
  // Views after the allocation, which may grow (and so move) the heap.
  routeGradients(
    b.typedArrayFromHeap(input) as Float32Array,
    b.typedArrayFromHeap(dy) as Float32Array,
    b.typedArrayFromHeap(out) as Float32Array,
    info,
  );
  return out;
};

/** The kernel, installed on 'wasm' in place of the stock one (kept for other dtypes). */
export const maxPoolGradWrap = new WrappedKernel('MaxPoolGrad', maxPoolGradKernel);
