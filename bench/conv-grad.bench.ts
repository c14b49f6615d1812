/**
 * Convolution-gradient benchmark: tfjs wasm with the kernels of packages/core/src/kernels/wasm-conv-grad.ts
 * (1 and 2 threads), wasm with its stock kernels, and the cpu backend, all measured in one run.
 *
 * Run from the repository root (tsx is not installed; esbuild is):
 *
 *   npx esbuild bench/conv-grad.bench.ts --bundle --platform=node --format=esm --packages=external \
 *     --outfile=bench/out/conv-grad.mjs && node bench/out/conv-grad.mjs [--json bench/results/conv-grad.json]
 *
 * With --json, the tables also go to that file for the docs site's benchmark page (bench/results-json.mjs).
 * Each configuration runs in its own child process (the wasm thread count is fixed when the backend
 * starts). Budget: about 1–2 minutes on 2 cores, most of it the cpu backend, which is measured at batch 1
 * because its filter gradient runs at ~0.01 GFLOP/s (its GFLOP/s and images/s barely depend on batch).
 * Times are the best of several repetitions, which is the most stable statistic on a shared machine.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle has no gradient functions; the relative path makes esbuild inline them.
import '../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { prepareWasmThreads, wasmThreadsCount } from '../packages/core/src/backend/wasm-threads';
import { registerWasmConvGradKernels } from '../packages/core/src/kernels/wasm-conv-grad';
import { jsonOutputPath, writeResultsJson } from './results-json.mjs';

type Config = 'cpu' | 'stock' | 'new1' | 'new2';

const CONFIGS: { id: Config; label: string }[] = [
  { id: 'cpu', label: 'cpu' },
  { id: 'stock', label: 'wasm stock 1t' },
  { id: 'new1', label: 'wasm new 1t' },
  { id: 'new2', label: 'wasm new 2t' },
];

interface Layer {
  name: string;
  h: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
  pad: 'same' | 'valid' | number;
}

const LAYERS: Layer[] = [
  { name: '32x32 16->16 3x3 s1', h: 32, ci: 16, co: 16, k: 3, stride: 1, pad: 'same' },
  { name: '16x16 32->32 3x3 s1', h: 16, ci: 32, co: 32, k: 3, stride: 1, pad: 'same' },
  { name: '8x8 64->64 3x3 s1', h: 8, ci: 64, co: 64, k: 3, stride: 1, pad: 'same' },
  { name: '32x32 16->32 3x3 s2 p1', h: 32, ci: 16, co: 32, k: 3, stride: 2, pad: 1 },
  { name: '32x32 16->32 1x1 s2', h: 32, ci: 16, co: 32, k: 1, stride: 2, pad: 'valid' },
];

/** Stacks of 8 3x3 same convs with ReLU: one training step (forward + all weight gradients). */
const STACKS = [
  { name: '32x32x16 x8', h: 32, c: 16 },
  { name: '16x16x32 x8', h: 16, c: 32 },
  { name: '8x8x64 x8', h: 8, c: 64 },
];
const DEPTH = 8;
const BATCH = 32;
const CPU_BATCH = 1;

type Op = 'fwd' | 'dx' | 'dw';
interface ChildResult {
  config: Config;
  threads: number;
  batch: number;
  /** per layer and op: GFLOP/s, or null when the kernel does not exist */
  kernels: Record<string, Record<Op, number | null>>;
  /** per stack: images/s of one training step, or null */
  stacks: Record<string, number | null>;
  /** images/s with the stock input gradient and the new filter gradient (config 'stock' only) */
  hybrid?: Record<string, number | null>;
}

/* ------------------------------------------------------------------------------------------------ */
/* child                                                                                              */
/* ------------------------------------------------------------------------------------------------ */

function bestMs(fn: () => void, warm: number, reps: number): number {
  for (let i = 0; i < warm; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/** Runs a kernel and forces completion (wasm and cpu kernels are synchronous; no readback needed). */
function runOnce(make: () => tf.Tensor | tf.Tensor[]): void {
  const out = make();
  tf.dispose(out);
}

function measureKernels(batch: number, slow: boolean): ChildResult['kernels'] {
  const res: ChildResult['kernels'] = {};
  for (const L of LAYERS) {
    const x = tf.randomNormal([batch, L.h, L.h, L.ci]) as tf.Tensor4D;
    const w = tf.randomNormal([L.k, L.k, L.ci, L.co]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, L.stride, L.pad);
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const flops = 2 * batch * y.shape[1] * y.shape[2] * L.k * L.k * L.ci * L.co;
    const attrs = { strides: L.stride, pad: L.pad, dataFormat: 'NHWC' };
    const ops: Record<Op, () => tf.Tensor> = {
      fwd: () => tf.conv2d(x, w, L.stride, L.pad),
      dx: () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
          ...attrs,
          inputShape: x.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      dw: () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          ...attrs,
          filterShape: w.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    };
    const row = {} as Record<Op, number | null>;
    for (const op of ['fwd', 'dx', 'dw'] as Op[]) {
      if (
        !tf.getKernel(
          op === 'fwd' ? 'Conv2D' : op === 'dx' ? 'Conv2DBackpropInput' : 'Conv2DBackpropFilter',
          tf.getBackend(),
        )
      ) {
        row[op] = null;
        continue;
      }
      // the stock wasm input gradient is a scalar loop: fewer repetitions
      const stockLoop =
        tf.getBackend() === 'wasm' && op === 'dx' && !tf.getKernel('Conv2DBackpropFilter', 'wasm');
      const ms = slow
        ? bestMs(() => runOnce(ops[op]), 0, 2)
        : bestMs(() => runOnce(ops[op]), stockLoop ? 1 : 2, stockLoop ? 3 : 15);
      row[op] = flops / ms / 1e6;
    }
    res[L.name] = row;
    tf.dispose([x, w, y, dy]);
  }
  return res;
}

function measureStacks(batch: number, slow: boolean): Record<string, number> {
  const res: Record<string, number> = {};
  for (const S of STACKS) {
    const x = tf.randomNormal([batch, S.h, S.h, S.c]) as tf.Tensor4D;
    const ws = Array.from({ length: DEPTH }, () =>
      tf.mul(tf.randomNormal([3, 3, S.c, S.c]), Math.sqrt(2 / (9 * S.c))),
    ) as tf.Tensor4D[];
    const loss = (...w: tf.Tensor[]) => {
      let h: tf.Tensor4D = x;
      for (const wi of w) h = tf.relu(tf.conv2d(h, wi as tf.Tensor4D, 1, 'same'));
      return tf.mean(tf.square(h));
    };
    const step = tf.grads(loss);
    const ms = slow
      ? bestMs(() => runOnce(() => step(ws)), 0, 1)
      : bestMs(() => runOnce(() => step(ws)), 2, 7);
    res[S.name] = (1000 * batch) / ms;
    tf.dispose([x, ...ws]);
  }
  return res;
}

async function child(config: Config): Promise<ChildResult> {
  if (config === 'cpu') {
    await tf.setBackend('cpu');
    return {
      config,
      threads: 1,
      batch: CPU_BATCH,
      kernels: measureKernels(CPU_BATCH, true),
      stacks: measureStacks(CPU_BATCH, true),
    };
  }
  await prepareWasmThreads(config === 'new2' ? 2 : 1);
  const stockInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (config !== 'stock') registerWasmConvGradKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed');
  const result: ChildResult = {
    config,
    threads: wasmThreadsCount(),
    batch: BATCH,
    kernels: measureKernels(BATCH, false),
    stacks: {},
  };
  if (config === 'stock') {
    for (const S of STACKS) result.stacks[S.name] = null; // no filter gradient: training impossible
    // hybrid: add only the new filter gradient, keep the stock input gradient
    registerWasmConvGradKernels();
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    if (stockInput) tf.registerKernel(stockInput);
    result.hybrid = measureStacks(BATCH, false);
  } else {
    result.stacks = measureStacks(BATCH, false);
  }
  return result;
}

/* ------------------------------------------------------------------------------------------------ */
/* parent                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

function fmt(v: number | null | undefined, digits = 1): string {
  if (v == null) return 'n/a';
  return v >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a == null || b == null || b === 0) return 'n/a';
  const r = a / b;
  return `${r >= 100 ? r.toFixed(0) : r.toFixed(1)}x`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

async function parent(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const t0 = Date.now();
  console.log(
    `conv-grad bench: ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, Node ${process.version}, ` +
      `load average at start ${os.loadavg()[0]!.toFixed(2)}`,
  );
  const results = {} as Record<Config, ChildResult>;
  for (const c of CONFIGS) {
    const t = Date.now();
    const { stdout } = await promisify(execFile)(process.execPath, [self, '--child', c.id], {
      maxBuffer: 1 << 24,
      timeout: 300_000,
    });
    const line = stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .pop();
    if (!line) throw new Error(`no result from ${c.id}:\n${stdout}`);
    results[c.id] = JSON.parse(line) as ChildResult;
    console.log(
      `  ${c.label.padEnd(14)} threads used: ${results[c.id].threads}, ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
  }

  const cpu = results.cpu;
  const kRows: string[][] = [];
  for (const L of LAYERS) {
    for (const op of ['fwd', 'dx', 'dw'] as Op[]) {
      const v = (c: Config) => results[c].kernels[L.name]?.[op] ?? null;
      kRows.push([
        `${L.name} ${op}`,
        fmt(v('cpu'), 2),
        fmt(v('stock')),
        fmt(v('new1')),
        fmt(v('new2')),
        ratio(v('new1'), v('cpu')),
        ratio(v('new2'), v('cpu')),
        ratio(v('new2'), v('stock')),
      ]);
    }
  }
  console.log(
    `\nPer kernel, GFLOP/s (2·N·oh·ow·kh·kw·Ci·Co; wasm batch ${BATCH}, cpu batch ${cpu.batch}; best of several; ` +
      `fwd = stock Conv2D on every wasm column):`,
  );
  console.log(
    table(
      ['layer / op', 'cpu', 'wasm stock 1t', 'new 1t', 'new 2t', 'new 1t/cpu', 'new 2t/cpu', 'new 2t/stock'],
      kRows,
    ),
  );

  const sRows = STACKS.map((S) => [
    S.name,
    fmt(cpu.stacks[S.name], 2),
    fmt(results.stock.stacks[S.name]),
    fmt(results.stock.hybrid?.[S.name]),
    fmt(results.new1.stacks[S.name]),
    fmt(results.new2.stacks[S.name]),
    ratio(results.new1.stacks[S.name], cpu.stacks[S.name]),
    ratio(results.new2.stacks[S.name], cpu.stacks[S.name]),
  ]);
  console.log(
    `\nTraining step (forward + weight gradients of ${DEPTH} 3x3 convs with ReLU), images/s ` +
      `(wasm batch ${BATCH}, cpu batch ${cpu.batch}):`,
  );
  console.log(
    table(
      [
        'stack',
        'cpu',
        'wasm stock 1t',
        'stock dx + new dw 1t',
        'new 1t',
        'new 2t',
        'new 1t/cpu',
        'new 2t/cpu',
      ],
      sRows,
    ),
  );
  console.log(`\ntotal ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const jsonPath = jsonOutputPath();
  if (jsonPath) {
    const kHead = ['layer / op', 'cpu', 'wasm stock 1t', 'new 1t', 'new 2t', 'new 1t/cpu', 'new 2t/cpu'];
    writeResultsJson(jsonPath, {
      benchmark: 'conv-grad',
      title: 'Convolution gradients on tfjs-wasm: the kernels of @dirac/core against stock tfjs',
      command:
        'npx esbuild bench/conv-grad.bench.ts --bundle --platform=node --format=esm --packages=external ' +
        `--outfile=bench/out/conv-grad.mjs && node bench/out/conv-grad.mjs --json ${jsonPath}`,
      baseline: 'the tfjs cpu backend and stock tfjs-wasm kernels, measured in the same run',
      tables: [
        {
          title:
            `Per kernel, GFLOP/s (wasm batch ${BATCH}, cpu batch ${cpu.batch}; best of several; ` +
            'fwd = stock Conv2D on every wasm column)',
          columns: [...kHead, 'new 2t/stock'],
          rows: kRows,
        },
        {
          title:
            `Training step (forward + weight gradients of ${DEPTH} 3x3 convs with ReLU), images/s ` +
            `(wasm batch ${BATCH}, cpu batch ${cpu.batch})`,
          columns: [
            'stack',
            'cpu',
            'wasm stock 1t',
            'stock dx + new dw 1t',
            'new 1t',
            'new 2t',
            'new 1t/cpu',
            'new 2t/cpu',
          ],
          rows: sRows,
          plot: { label: 0, value: 5, unit: 'img/s (new 2t)' },
        },
      ],
    });
    console.log(`wrote ${jsonPath}`);
  }
}

const i = process.argv.indexOf('--child');
if (i >= 0) {
  const result = await child(process.argv[i + 1] as Config);
  console.log(JSON.stringify(result));
} else {
  await parent();
}
