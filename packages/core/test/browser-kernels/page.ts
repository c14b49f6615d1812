/**
 * The page of browser-kernels.test.ts: gradients of a CIFAR DiracNet's training form (Dirac convs, batch
 * norm in train mode, max-pool) on tfjs-wasm in the browser, with our SIMD kernels and without, and on the
 * cpu backend as the reference. Reports through `window.__kernels`.
 */
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients; @dirac/train's loop imports them the same way
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  configureWasmSimdKernels,
  forward,
  type TensorMap,
  useBackend,
  wasmSimdKernelsAvailable,
} from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { reportTo } from '../../../../test-support/page-report';

export interface Run {
  backend: string;
  simdAvailable: boolean;
  loss: number;
  grads: Record<string, number[]>;
  ms: number;
}

export interface KernelsReport {
  crossOriginIsolated: boolean;
  /** tfjs-wasm's thread count (more than 1 only in a cross-origin isolated page) */
  wasmThreads: number;
  /** whether the wasm heap is a SharedArrayBuffer (then our kernels' shared-memory build runs) */
  sharedHeap: boolean;
  runs: Run[];
}

const spec = buildModel(new URLSearchParams(location.search).get('model') ?? 'diracnet-10-1');
const batch = 8;

/** Deterministic inputs, labels and parameters as plain arrays, so every backend gets the same numbers. */
function fixtures() {
  return tf.tidy(() => {
    const params = initParams(spec, 3);
    const arrays = Object.fromEntries(
      Object.entries(params).map(([k, t]) => [k, { shape: t.shape, data: t.dataSync().slice() }]),
    );
    const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 5).dataSync().slice();
    return { arrays, x, labels: Array.from({ length: batch }, (_, i) => (i * 3) % 10) };
  });
}

async function gradients(backend: string, f: ReturnType<typeof fixtures>): Promise<Run> {
  await useBackend(backend as 'wasm' | 'cpu');
  const params: TensorMap = Object.fromEntries(
    Object.entries(f.arrays).map(([k, a]) => [k, tf.tensor(a.data, a.shape, 'float32')]),
  );
  const names = Object.keys(params).filter((k) => !/\.(mean|var)$/.test(k));
  const x = tf.tensor4d(f.x, [batch, 32, 32, 3]);
  const y = tf.oneHot(f.labels, 10);
  const stats: tf.Tensor[] = [];
  const loss = (...ws: tf.Tensor[]) => {
    const t = { ...params, ...Object.fromEntries(names.map((n, i) => [n, ws[i]!])) };
    const logits = forward(spec, t, x, {
      mode: 'train',
      onBatchStats: (_, s) => stats.push(s.mean, s.variance),
    });
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  };
  const start = performance.now();
  const { value, grads } = tf.valueAndGrads(loss)(names.map((n) => params[n]!));
  const out: Record<string, number[]> = {};
  names.forEach((n, i) => {
    out[n] = Array.from(grads[i]!.dataSync());
  });
  const run = {
    backend,
    simdAvailable: wasmSimdKernelsAvailable(),
    loss: value.dataSync()[0]!,
    grads: out,
    ms: performance.now() - start,
  };
  tf.dispose([value, ...grads, x, y, ...stats, ...Object.values(params)]);
  return run;
}

async function main(): Promise<KernelsReport> {
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  // asks for 2; tfjs-wasm caps it at its pool, half the logical cores
  if (globalThis.crossOriginIsolated) setThreadsCount(2);
  await useBackend('cpu');
  const f = fixtures();
  const runs = [await gradients('cpu', f), await gradients('wasm', f)];
  const heap = (tf.backend() as unknown as { wasm?: { wasmMemory?: WebAssembly.Memory } }).wasm?.wasmMemory;
  const sharedHeap = typeof SharedArrayBuffer !== 'undefined' && heap?.buffer instanceof SharedArrayBuffer;
  const wasmThreads = getThreadsCount();
  configureWasmSimdKernels({ batchNorm: false, filterGrad: false, conv: false });
  runs.push({ ...(await gradients('wasm', f)), backend: 'wasm, tfjs ops only' });
  configureWasmSimdKernels({ batchNorm: true, filterGrad: true, conv: true });
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated,
    wasmThreads,
    sharedHeap,
    runs,
  };
}

reportTo('__kernels', main);
