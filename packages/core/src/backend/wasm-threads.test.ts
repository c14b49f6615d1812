import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { batchNormTraining } from '../batchnorm';
import { registerWasmConvGradKernels } from '../kernels/wasm-conv-grad';
import { configureWasmSimdKernels, heapKernels } from '../kernels/wasm-heap';
import { prepareWasmThreads, wasmThreadsCount, wasmThreadsInfo } from './wasm-threads';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../..');

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

/** Forward conv plus both gradients of a small two-layer net. */
function convAndGrads(): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(random(8 * 16 * 16 * 8, 1), [8, 16, 16, 8]);
    const w1 = tf.tensor4d(random(3 * 3 * 8 * 16, 2), [3, 3, 8, 16]);
    const w2 = tf.tensor4d(random(3 * 3 * 16 * 16, 3), [3, 3, 16, 16]);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.square(
          tf.conv2d(
            tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
            c as tf.Tensor4D,
            2,
            1,
          ),
        ),
      );
    const y = tf.conv2d(x, w1, 1, 'same');
    const grads = tf.grads(f as (...a: tf.Tensor[]) => tf.Tensor)([x, w1, w2]);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Output and gradients (x, γ, β) of a training-mode batch norm + ReLU. */
function batchNormAndGrads(): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(random(8 * 16 * 16 * 16, 4), [8, 16, 16, 16]);
    const gamma = tf.tensor1d(random(16, 5));
    const beta = tf.tensor1d(random(16, 6));
    const w = tf.tensor4d(random(8 * 16 * 16 * 16, 7), [8, 16, 16, 16]);
    const bn = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      batchNormTraining(a, { gamma: g, beta: b, eps: 1e-5 }, { relu: true }).y;
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(a, g, b), w));
    return [bn(x, gamma, beta), ...tf.grads(f)([x, gamma, beta])].map((t) => t.dataSync() as Float32Array);
  });
}

function relErr(got: Float32Array, ref: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

const CHILD = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { prepareWasmThreads, wasmThreadsInfo } from './wasm-threads';
import { registerWasmConvGradKernels } from '../kernels/wasm-conv-grad';
if (process.argv[3] === 'find-first') tf.findBackend('wasm'); // starts initialising the backend
const planned = await prepareWasmThreads(Number(process.argv[2]));
registerWasmConvGradKernels();
await tf.setBackend('wasm');
const y = tf.conv2d(tf.ones([4, 16, 16, 8]), tf.ones([3, 3, 8, 8]), 1, 'same');
const sum = (await tf.sum(y).data())[0];
// filter gradients (Co 16) start the SIMD kernels' helper thread, which must not keep the process alive
const dw = () =>
  tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.ones([4, 8, 8, 8]), dy: tf.ones([4, 8, 8, 16]) }, {
    strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 8, 16],
  });
dw();
await new Promise((r) => setTimeout(r, 300));
await dw().data();
console.log(JSON.stringify({ planned, info: wasmThreadsInfo(), sum, backend: tf.getBackend() }));
// no process.exit(): the process must end by itself
`;

/** Bundles a tiny CLI around wasm-threads.ts (dependencies stay external) and runs it in a fresh Node. */
async function runChild(
  threads: number,
  mode = '',
): Promise<{
  planned: { threads: number; reason: string };
  info: { threads: number };
  sum: number;
  backend: string;
  ms: number;
}> {
  const outDir = join(repoRoot, 'node_modules/.cache/dirac-core-tests');
  await mkdir(outDir, { recursive: true });
  const outfile = join(outDir, 'wasm-threads-child.mjs');
  await build({
    stdin: { contents: CHILD, resolveDir: here, sourcefile: 'child.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile,
    logLevel: 'silent',
  });
  const t0 = Date.now();
  const { stdout } = await promisify(execFile)(process.execPath, [outfile, String(threads), mode], {
    timeout: 60_000,
    cwd: repoRoot,
  });
  const line = stdout.trim().split('\n').pop()!;
  return { ...JSON.parse(line), ms: Date.now() - t0 };
}

describe('wasm threads in Node', () => {
  it('runs the wasm backend on 2 threads, with results equal to the cpu backend', async () => {
    await tf.setBackend('cpu');
    const ref = convAndGrads();

    expect(wasmThreadsCount()).toBe(0); // not initialised yet
    const planned = await prepareWasmThreads(2);
    expect(planned.threads).toBe(2);
    expect(planned.reason).toMatch(/2 threads/);
    registerWasmConvGradKernels();
    expect(await tf.setBackend('wasm')).toBe(true);
    expect(wasmThreadsCount()).toBe(2);
    expect(wasmThreadsInfo().threads).toBe(2);
    expect((globalThis as { Worker?: unknown }).Worker).toBeUndefined(); // no global left behind

    const got = convAndGrads();
    got.forEach((g, i) => {
      expect(relErr(g, ref[i]!)).toBeLessThan(1e-4);
    });

    // Our SIMD kernels (here the convolution, bound by the one above) split the batch with a helper thread
    // once that thread has booted.
    const pool = heapKernels('conv2d', { shared: '', unshared: '' })?.helpers();
    expect(pool).toBeDefined();
    for (let i = 0; i < 100 && pool!.available < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pool!.available).toBe(1);
    const jobs = pool!.jobsDone;
    convAndGrads().forEach((g, i) => {
      expect(relErr(g, ref[i]!)).toBeLessThan(1e-4);
    });
    expect(pool!.jobsDone).toBeGreaterThan(jobs);

    // Batch norm splits its pixels with the helper too (batchNormThreads: false keeps it on the calling
    // thread); both match tf ops.
    const bnJobs = pool!.jobsDone;
    batchNormAndGrads();
    expect(pool!.jobsDone).toBeGreaterThan(bnJobs);
    const [simd, threaded, ops] = [
      { batchNorm: true, batchNormThreads: false },
      { batchNorm: true },
      { batchNorm: false },
    ].map((switches) => {
      const before = configureWasmSimdKernels(switches);
      try {
        return batchNormAndGrads();
      } finally {
        configureWasmSimdKernels(before);
      }
    });
    expect(pool!.jobsDone).toBeGreaterThan(bnJobs);
    threaded!.forEach((g, i) => {
      expect(relErr(g, ops![i]!)).toBeLessThan(1e-4);
    });
    simd!.forEach((g, i) => {
      expect(relErr(g, ops![i]!)).toBeLessThan(1e-4);
    });

    // The Winograd training kernels split the batch too, and give the same results on every run (the
    // threads' buffers do not overlap): bit for bit, as the direct kernels do.
    const before = configureWasmSimdKernels({ winograd: true });
    try {
      const winoJobs = pool!.jobsDone;
      const [first, second] = [convAndGrads(), convAndGrads()];
      expect(pool!.jobsDone).toBeGreaterThan(winoJobs);
      first.forEach((g, i) => {
        expect(relErr(g, ref[i]!)).toBeLessThan(1e-4);
        expect(Buffer.from(g.buffer).equals(Buffer.from(second[i]!.buffer)), `output ${i}`).toBe(true);
      });
    } finally {
      configureWasmSimdKernels(before);
    }

    // A helper woken without a new job (a late notify, or an interrupt) must not run its last job again:
    // for accumulating kernels that doubled their part of the sums (wrong batch statistics about once in
    // 500 training steps, before the helper re-checked its job counter after every wake-up).
    const bn = heapKernels<{ moments: unknown }>('batchnorm', { shared: '', unshared: '' })!;
    const x = tf.tensor2d(random(64 * 4, 9), [64, 4]);
    const mem = tf.zeros([4 + 16]); // 4 float32 shifts, then 2·4 float64 sums
    const [xPtr, memPtr] = [bn.offset(x), bn.offset(mem)];
    bn.f32(memPtr, 4).set([0.1, -0.2, 0.3, 0]);
    pool!.run('batchnorm', 'moments', [[xPtr, 64, 4, memPtr, memPtr + 16]], () => {});
    const sums = bn.f64(memPtr + 16, 8).slice();
    expect(sums.some((v) => v !== 0)).toBe(true);
    pool!.wakeWithoutJob();
    await new Promise((r) => setTimeout(r, 200));
    expect(Array.from(bn.f64(memPtr + 16, 8))).toEqual(Array.from(sums));
    tf.dispose([x, mem]);

    const again = await prepareWasmThreads(1);
    expect(again.threads).toBe(2);
    expect(again.reason).toMatch(/already initialised/);
  });

  it('a CLI using 2 threads exits by itself', async () => {
    const r = await runChild(2);
    expect(r.backend).toBe('wasm');
    expect(r.info.threads).toBe(2);
    expect(r.sum).toBe(4 * 8 * (14 * 14 * 9 + 4 * 14 * 6 + 4 * 4) * 8);
    expect(r.ms).toBeLessThan(30_000);
  });

  it('reports the truth when the backend started initialising before the call', async () => {
    const r = await runChild(2, 'find-first');
    expect(r.planned.threads).toBe(1);
    expect(r.planned.reason).toMatch(/already initialised/);
    expect(r.info.threads).toBe(1);
  });

  it('threads = 1 gives the single-threaded module', async () => {
    const r = await runChild(1);
    expect(r.planned.threads).toBe(1);
    expect(r.info.threads).toBe(1);
  });
});
