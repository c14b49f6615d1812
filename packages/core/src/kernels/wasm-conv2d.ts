/**
 * Stride-1 convolutions as our own WebAssembly SIMD kernel on tfjs-backend-wasm's heap
 * (kernels/simd/conv2d.wat), registered as the wasm backend's `Conv2D` for the cases it covers (float32,
 * NHWC, stride and dilation 1, output channels a multiple of 16); every other case goes to the stock
 * XNNPACK kernel. Training calls Conv2D with a new weight tensor each step (the Dirac
 * re-parameterization), so XNNPACK repacks the weights every call, and its second thread helps little
 * on these small layers; this kernel reads the weights as they are and splits the batch between the
 * calling thread and the kernel helper threads. The input gradient of stride-1 convs (a Conv2D of dy
 * with the flipped filter) runs on it too. With the `winograd` switch on, 3×3 padding-1 convolutions go to
 * wasm-winograd.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2dWasmShared, conv2dWasmUnshared } from './simd/wasm-binaries.generated';
import { heapKernels, wasmSimdKernelEnabled } from './wasm-heap';
import { winogradApplies, winogradConv } from './wasm-winograd';

interface Conv2dExports {
  conv(...args: number[]): void;
}

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
  if (wasmSimdKernelEnabled('winograd') && winogradApplies(x, w.shape, padTop, padLeft, outH, outW)) {
    const y = winogradConv(x, w);
    if (y) return y;
  }
  const k = conv2dKernels();
  if (!k) return undefined;
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
