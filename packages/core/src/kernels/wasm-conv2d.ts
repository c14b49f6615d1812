/**
 * Stride-1 convolutions as our own WebAssembly SIMD kernel on tfjs-backend-wasm's heap
 * (kernels/simd/conv2d.wat), registered as the wasm backend's `Conv2D` for the cases it covers (float32,
 * NHWC, stride and dilation 1, output channels a multiple of 16); every other case goes to the stock
 * XNNPACK kernel. Training calls Conv2D with a new weight tensor each step (the Dirac
 * re-parameterization), so XNNPACK repacks the weights every call, and its second thread helps little
 * on these small layers; this kernel reads the weights as they are and splits the batch between the
 * calling thread and the kernel helper threads. The input gradient of stride-1 convs (a Conv2D of dy
 * with the flipped filter) runs on it too.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dWasmShared, conv2dWasmUnshared } from './simd/wasm-binaries.generated';
import { type HeapKernels, heapKernels, wasmSimdKernelEnabled } from './wasm-heap';

interface Conv2dExports {
  conv(...args: number[]): void;
  winoFilter(w: number, u: number, ci: number, co: number): void;
  convWino(...args: number[]): void;
}

/**
 * Output tiles per block of the Winograd kernel: its per-block buffers (16 × tiles × channels floats, 16 KB
 * at 16 channels) stay in L1/L2 while the 16 products run over them.
 */
const WINO_TILES = 16;

/** Whether {@link wasmConv2d} runs for these operands (it also needs the wasm backend's heap). */
export function wasmConv2dApplies(x: tf.TensorInfo, w: tf.TensorInfo): boolean {
  return (
    wasmSimdKernelEnabled('conv') &&
    x.dtype === 'float32' &&
    w.dtype === 'float32' &&
    x.shape.length === 4 &&
    w.shape.length === 4 &&
    w.shape[3]! % 16 === 0 &&
    tf.util.sizeFromShape(x.shape) > 0
  );
}

function conv2dKernels() {
  return heapKernels<Conv2dExports>('conv2d', { shared: conv2dWasmShared, unshared: conv2dWasmUnshared });
}

/** Whether {@link wasmConv2d} will run (not return undefined) for these operands and output size. */
export function wasmConv2dRuns(x: tf.TensorInfo, w: tf.TensorInfo, outH: number, outW: number): boolean {
  return wasmConv2dApplies(x, w) && outH > 0 && outW > 0 && conv2dKernels() !== undefined;
}

/**
 * y = conv(x, w) with stride 1 and the given top/left padding and output size, or undefined when the
 * kernel does not apply (switched off, not the wasm backend, not float32, Co not a multiple of 16).
 */
export function wasmConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  padTop: number,
  padLeft: number,
  outH: number,
  outW: number,
): tf.Tensor4D | undefined {
  const [N, H, W, Ci] = x.shape;
  const [KH, KW, , Co] = w.shape;
  if (!wasmConv2dApplies(x, w) || outH <= 0 || outW <= 0) return undefined;
  const k = conv2dKernels();
  if (!k) return undefined;
  if (winogradApplies(x, w, padTop, padLeft, outH, outW)) return winogradConv(k, x, w);
  const { tensor: y, ptr: yPtr } = k.output([N, outH, outW, Co]);
  const [xPtr, wPtr] = [k.offset(x), k.offset(w)];
  k.runBatch('conv2d', 'conv', N, k.batchParts(N), (n0, n1) => [
    xPtr,
    wPtr,
    yPtr,
    n0,
    n1,
    H,
    W,
    Ci,
    outH,
    outW,
    Co,
    KH,
    KW,
    padTop,
    padLeft,
  ]);
  return y as tf.Tensor4D;
}

function winogradApplies(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  padTop: number,
  padLeft: number,
  outH: number,
  outW: number,
): boolean {
  const [, H, W, Ci] = x.shape;
  const [KH, KW] = w.shape;
  return (
    wasmSimdKernelEnabled('winograd') &&
    KH === 3 &&
    KW === 3 &&
    padTop === 1 &&
    padLeft === 1 &&
    outH === H &&
    outW === W &&
    Ci % 4 === 0
  );
}

/** The 3×3, padding-1 convolution by Winograd's F(2×2, 3×3) (kernels/simd/conv2d.wat, `convWino`). */
function winogradConv(k: HeapKernels<Conv2dExports>, x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const [N, H, W, Ci] = x.shape;
  const Co = w.shape[3];
  const tilesW = (W + 1) >> 1;
  const T = Math.min(WINO_TILES, tilesW);
  const { tensor: y, ptr: yPtr } = k.output([N, H, W, Co]);
  const parts = k.batchParts(N);
  // Scratch: the transformed filter, then per part its padded input rows and tile buffers (all in bytes,
  // multiples of 16 since Ci % 4 = 0 and Co % 16 = 0).
  const uBytes = 16 * Ci * Co * 4;
  const rowsBytes = 4 * (2 * tilesW + 2) * Ci * 4;
  const vBytes = 16 * T * Ci * 4;
  const mBytes = 16 * T * Co * 4;
  const partBytes = rowsBytes + vBytes + mBytes;
  const u = k.scratch(uBytes + parts * partBytes);
  const [xPtr, wPtr] = [k.offset(x), k.offset(w)];
  k.exports.winoFilter(wPtr, u, Ci, Co);
  k.runBatch('conv2d', 'convWino', N, parts, (n0, n1, i) => {
    const rows = u + uBytes + i * partBytes;
    return [xPtr, u, yPtr, n0, n1, H, W, Ci, Co, rows, rows + rowsBytes, rows + rowsBytes + vBytes, T];
  });
  return y as tf.Tensor4D;
}
