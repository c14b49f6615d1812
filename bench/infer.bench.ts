/**
 * Inference benchmark of @dirac/infer in Node, all measured in one run, in alternating rounds:
 *
 * - @dirac/infer, engine 'auto': `load()` of the folded model (which picks onnxruntime-node when it can be
 *   imported, else tfjs), then `await model.predict()` on a preprocessed NHWC batch (a tfjs tensor);
 * - raw onnxruntime-node: an `InferenceSession` on the same network exported by `dirac export --format onnx`
 *   (bench/out/<net>.onnx, NCHW input), fed a ready-made NCHW `ort.Tensor` — the baseline of the 'auto'
 *   engine: @dirac/infer should add almost nothing (target ratio ≥ 0.95);
 * - @dirac/infer, engine 'tfjs' (tfjs wasm with SIMD and worker threads, `useBackend('auto')`) and raw tfjs:
 *   the same folded network written by hand with `tf.fused.conv2d` / `tf.maxPool` / `tf.matMul` on the same
 *   weight tensors (target ratio ≥ 0.95);
 * - the training form: @dirac/core `forward()` on the unfolded model (Dirac weights and batch norm each
 *   call), on tfjs, to show what folding buys;
 * - @dirac/infer with dtype 'int8': the int8 QDQ network on onnxruntime-node (ranges calibrated on random
 *   inputs; speed only), against PyTorch's float32;
 * - PyTorch CPU (Debian's python3-torch, the better of 1 and 2 threads), the same folded network built from
 *   the same spec by bench/infer_torch.py, as the outside reference (target: 'auto' ≥ 2x PyTorch); it runs
 *   after the JavaScript engines, in its own process.
 *
 * Networks: CIFAR DiracNet-34-1 (32x32, batch 1 and 64) and ImageNet DiracNet-18 (224x224, batch 1 and 8),
 * random weights. Run from the repository root (tsx is not installed; esbuild is):
 *
 *   npx esbuild bench/infer.bench.ts --bundle --platform=node --format=esm --conditions=@dirac/source \
 *     --external:@tensorflow/* --external:sharp --external:onnxruntime-node --external:protobufjs \
 *     --outfile=bench/out/infer.mjs && node bench/out/infer.mjs [--json bench/results/infer.json] [--note "…"]
 *
 * Budget: about 3 minutes on 2 cores. Times are the best of alternating repetitions (the engines take turns
 * in a rotating order, so that load from other jobs hits them alike: the ONNX Runtime pair in one group of
 * rounds, the tfjs engines in another); ratios are also given as the median of per-round ratios. The machine may be shared: absolute numbers move with other jobs, ratios measured in
 * the same run much less; only compare numbers from one run. Env: DIRAC_PYTHON (default /usr/bin/python3),
 * BENCH_QUICK=1 for a short smoke run.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fold, foldSpec, forward, type Model, serializeModel, useBackend } from '@dirac/core';
import { calibrateActivations, exportOnnx } from '@dirac/core/onnx';
import { load } from '@dirac/infer/node';
import { buildModel, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { jsonOutputPath, writeResultsJson } from './results-json.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const PYTHON = process.env.DIRAC_PYTHON ?? '/usr/bin/python3';

interface Run {
  net: 'diracnet-34-1' | 'diracnet-18';
  batch: number;
  /** seconds of alternating rounds */
  budget: number;
}

const RUNS: Run[] = [
  { net: 'diracnet-34-1', batch: 1, budget: 6 },
  { net: 'diracnet-34-1', batch: 64, budget: 14 },
  { net: 'diracnet-18', batch: 1, budget: 14 },
  { net: 'diracnet-18', batch: 8, budget: 26 },
].map((r) => ({ ...r, budget: QUICK ? 1 : r.budget })) as Run[];

/* ------------------------------------------------------------------------------------------------ */
/* the folded networks by hand                                                                        */
/* ------------------------------------------------------------------------------------------------ */

type T4 = tf.Tensor4D;

function convRelu(t: Model['tensors'], name: string, x: T4, stride: number, pad: number): T4 {
  return tf.fused.conv2d({
    x,
    filter: t[`${name}.weight`] as T4,
    strides: stride,
    pad,
    bias: t[`${name}.bias`],
    activation: 'relu',
  });
}

function head(t: Model['tensors'], x: T4): tf.Tensor2D {
  const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
  return tf.add(tf.matMul(pooled, t['fc.weight'] as tf.Tensor2D), t['fc.bias']!);
}

/** CIFAR DiracNet-34-1, folded: stem conv, 3 groups of 10 conv+ReLU, 2x2 max-pools between groups. */
function rawCifar34(t: Model['tensors'], x: T4): tf.Tensor2D {
  return tf.tidy(() => {
    let y = convRelu(t, 'conv', x, 1, 1);
    for (let g = 0; g < 3; g++) {
      for (let b = 0; b < 10; b++) y = convRelu(t, `group${g}.block${b}.conv`, y, 1, 1);
      if (g < 2) y = tf.maxPool(y, 2, 2, 'valid');
    }
    return head(t, y);
  });
}

/** ImageNet DiracNet-18, folded: 7x7/2 stem, 3x3/2 max-pool, 4 groups of 4 conv+ReLU, 2x2 pools between. */
function rawImagenet18(t: Model['tensors'], x: T4): tf.Tensor2D {
  return tf.tidy(() => {
    let y = tf.maxPool(convRelu(t, 'conv', x, 2, 3), 3, 2, 1);
    for (let g = 0; g < 4; g++) {
      for (let b = 0; b < 4; b++) y = convRelu(t, `group${g}.block${b}.conv`, y, 1, 1);
      if (g < 3) y = tf.maxPool(y, 2, 2, 'valid');
    }
    return head(t, y);
  });
}

/* ------------------------------------------------------------------------------------------------ */
/* timing                                                                                             */
/* ------------------------------------------------------------------------------------------------ */

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type Engine = 'auto' | 'ort' | 'int8' | 'infer' | 'raw' | 'training';
const ENGINES: Engine[] = ['auto', 'ort', 'int8', 'infer', 'raw', 'training'];

async function timeOnce(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Row {
  net: string;
  batch: number;
  /** images/s (best round) */
  ips: Record<Engine, number>;
  /** median over rounds of (baseline time / engine time) measured in the same round */
  autoVsOrt: number;
  inferVsRaw: number;
  autoEngine: string;
  torch?: number;
  torchThreads?: number;
  rounds: number;
  /** max |Δ| / max |raw tfjs| of the 'auto' and 'tfjs' engines' logits */
  relDiffAuto: number;
  relDiffInfer: number;
}

function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / tf.max(tf.abs(b)).dataSync()[0]!);
}

async function measureNet(runs: Run[]): Promise<Row[]> {
  const name = runs[0]!.net;
  const spec = buildModel(name);
  const training: Model = { spec, tensors: initParams(spec, 0) };
  const folded = fold(training);
  const auto = await load(serializeModel(folded), { engine: 'auto' });
  // The int8 (QDQ) network @dirac/infer runs for dtype 'int8', with ranges calibrated on random inputs
  // (speed only: random weights have no accuracy to lose).
  const [h0, w0, c0] = spec.inputShape;
  const calib = tf.randomNormal([8, h0, w0, c0], 0, 1, 'float32', 7) as T4;
  const table8 = await calibrateActivations(folded, [calib]);
  calib.dispose();
  const bytes8 = serializeModel(folded);
  bytes8.spec = { ...bytes8.spec, metadata: { ...bytes8.spec.metadata, quantization: { int8: table8 } } };
  const int8 = await load(bytes8, { dtype: 'int8' });
  const inferTfjs = await load(serializeModel(folded), { engine: 'tfjs' });
  // The ONNX file `dirac export --format onnx` writes for this network.
  mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
  const onnxFile = new URL(`./out/${name}.onnx`, import.meta.url).pathname;
  writeFileSync(onnxFile, exportOnnx(folded));
  const session = await ort.InferenceSession.create(onnxFile);
  const raw = name === 'diracnet-18' ? rawImagenet18 : rawCifar34;
  const [h, w, c] = spec.inputShape;
  const rows: Row[] = [];
  for (const run of runs) {
    const x = tf.randomNormal([run.batch, h, w, c], 0, 1, 'float32', 1) as T4;
    const xNchw = new ort.Tensor(
      'float32',
      tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]).dataSync() as Float32Array),
      [run.batch, c, h, w],
    );
    const tfjsOnce = async (f: () => tf.Tensor | Promise<tf.Tensor>) => {
      const y = await f();
      await y.data();
      y.dispose();
    };
    const engines: Record<Engine, () => Promise<unknown>> = {
      auto: () => tfjsOnce(() => auto.predict(x)),
      int8: () => tfjsOnce(() => int8.predict(x)),
      ort: async () => {
        const out = await session.run({ [session.inputNames[0]!]: xNchw });
        for (const t of Object.values(out)) t.dispose();
      },
      infer: () => tfjsOnce(() => inferTfjs.predict(x)),
      raw: () => tfjsOnce(() => raw(folded.tensors, x)),
      training: () => tfjsOnce(() => forward(training.spec, training.tensors, x, { mode: 'eval' })),
    };
    // Same network everywhere: compare outputs.
    const want = raw(folded.tensors, x);
    const ya = await auto.predict(x);
    const yi = await inferTfjs.predict(x);
    const relDiffAuto = relDiff(ya, want);
    const relDiffInfer = relDiff(yi, want);
    tf.dispose([want, ya, yi]);
    for (const e of ENGINES) await engines[e](); // warm-up (kernels, XNNPACK packing, ORT arenas)
    const best = Object.fromEntries(ENGINES.map((e) => [e, Infinity])) as Record<Engine, number>;
    // Two groups, each with half the budget, so that the ONNX Runtime pair is not timed right after the
    // training form (whose garbage the next JavaScript-heavy call pays for). Within a group the order
    // rotates every round.
    const ratios: Record<string, number[]> = { autoVsOrt: [], inferVsRaw: [] };
    let rounds = 0;
    for (const [group, ratio] of [
      [['auto', 'ort', 'int8'], 'autoVsOrt'],
      [['infer', 'raw', 'training'], 'inferVsRaw'],
    ] as [Engine[], string][]) {
      const start = performance.now();
      let r = 0;
      while (r < 5 || (performance.now() - start < (run.budget * 1000) / 2 && r < 400)) {
        const order = group.map((_, i, a) => a[(i + r) % a.length]!);
        const ms = {} as Record<Engine, number>;
        for (const k of order) {
          ms[k] = await timeOnce(engines[k]);
          best[k] = Math.min(best[k], ms[k]);
        }
        ratios[ratio]!.push(ratio === 'autoVsOrt' ? ms.ort / ms.auto : ms.raw / ms.infer);
        r++;
      }
      rounds += r;
    }
    const autoVsOrt = ratios.autoVsOrt!;
    const inferVsRaw = ratios.inferVsRaw!;
    x.dispose();
    xNchw.dispose();
    const ips = Object.fromEntries(ENGINES.map((e) => [e, (1000 * run.batch) / best[e]])) as Record<
      Engine,
      number
    >;
    rows.push({
      net: name,
      batch: run.batch,
      ips,
      autoVsOrt: median(autoVsOrt),
      inferVsRaw: median(inferVsRaw),
      autoEngine: `${auto.engine.name}/${auto.engine.backend}`,
      rounds,
      relDiffAuto,
      relDiffInfer,
    });
    process.stderr.write(`  ${name} batch ${run.batch}: ${rounds} rounds\n`);
  }
  await auto.dispose();
  await int8.dispose();
  await inferTfjs.dispose();
  await session.release();
  tf.dispose([...Object.values(training.tensors), ...Object.values(folded.tensors)]);
  return rows;
}

/**
 * Runs bench/infer_torch.py on the folded specs; resolves to images/s (and the thread count that gave them)
 * by "net/batch", or an error text.
 */
function torchReference(runs: Run[]): Promise<Map<string, { ips: number; threads: number }> | string> {
  const req = {
    // PyTorch's best of 1 and 2 threads: on a busy machine its 2-thread OpenMP barriers can stall.
    threads: [1, 2],
    runs: runs.map((r) => {
      const spec = foldSpec(buildModel(r.net));
      return {
        net: r.net,
        batch: r.batch,
        layers: spec.layers,
        inputShape: spec.inputShape,
        budget_s: r.budget / 2,
      };
    }),
  };
  return new Promise((resolve) => {
    const script = new URL('../infer_torch.py', import.meta.url).pathname;
    const child = spawn(PYTHON, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', (e) => resolve(`cannot run ${PYTHON}: ${e.message}`));
    child.on('close', (code) => {
      if (code !== 0) return resolve(`${PYTHON} ${script} exited ${code}: ${err.trim().split('\n').at(-1)}`);
      const m = new Map<string, { ips: number; threads: number }>();
      for (const line of out.trim().split('\n')) {
        const r = JSON.parse(line) as { net: string; batch: number; images_per_s: number; threads: number };
        m.set(`${r.net}/${r.batch}`, { ips: r.images_per_s, threads: r.threads });
      }
      resolve(m);
    });
    child.stdin.end(JSON.stringify(req));
  });
}

/* ------------------------------------------------------------------------------------------------ */
/* main                                                                                               */
/* ------------------------------------------------------------------------------------------------ */

const t0 = performance.now();
const info = await useBackend('auto');
console.log(`@dirac/infer inference benchmark — backend ${info.name}: ${info.reason}`);
console.log(
  `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')} — shared: other jobs may run; compare ratios, which are measured in alternating rounds`,
);
const rows = [
  ...(await measureNet(RUNS.filter((r) => r.net === 'diracnet-34-1'))),
  ...(await measureNet(RUNS.filter((r) => r.net === 'diracnet-18'))),
];
const torch = await torchReference(RUNS).catch((e: Error) => e.message);
if (typeof torch !== 'string') {
  for (const r of rows) {
    const t = torch.get(`${r.net}/${r.batch}`);
    r.torch = t?.ips;
    r.torchThreads = t?.threads;
  }
}

const fmt = (v: number | undefined, d = 1) => (v === undefined ? '—' : v.toFixed(d));
const header = [
  'network',
  'batch',
  "@dirac/infer 'auto' img/s",
  'engine',
  'raw onnxruntime-node img/s',
  'auto/raw ORT (best)',
  'auto/raw ORT (paired median)',
  'PyTorch CPU img/s',
  'auto/PyTorch',
  "@dirac/infer dtype 'int8' img/s",
  'int8/PyTorch',
  "@dirac/infer 'tfjs' img/s",
  'raw tfjs img/s',
  'tfjs/raw tfjs (paired median)',
  'training form img/s',
  'max rel |Δ| auto, tfjs vs raw tfjs',
];
const table = rows.map((r) => [
  `${r.net} (${r.net === 'diracnet-18' ? 'ImageNet 224' : 'CIFAR 32'})`,
  String(r.batch),
  fmt(r.ips.auto),
  r.autoEngine,
  fmt(r.ips.ort),
  fmt(r.ips.auto / r.ips.ort, 3),
  fmt(r.autoVsOrt, 3),
  r.torch === undefined ? '—' : `${fmt(r.torch)} (${r.torchThreads} thr)`,
  r.torch === undefined ? '—' : fmt(r.ips.auto / r.torch, 2),
  fmt(r.ips.int8),
  r.torch === undefined ? '—' : fmt(r.ips.int8 / r.torch, 2),
  fmt(r.ips.infer),
  fmt(r.ips.raw),
  fmt(r.inferVsRaw, 3),
  fmt(r.ips.training),
  `${r.relDiffAuto.toExponential(1)}, ${r.relDiffInfer.toExponential(1)}`,
]);
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => ' --- ').join('|')}|`);
for (const line of table) console.log(`| ${line.join(' | ')} |`);
if (typeof torch === 'string') console.log(`\nPyTorch reference unavailable: ${torch}`);
const worstOrt = Math.min(...rows.map((r) => r.autoVsOrt));
const worstTfjs = Math.min(...rows.map((r) => r.inferVsRaw));
const verdict = (v: boolean) => (v ? 'met' : 'NOT met (noise? rerun)');
console.log(
  `\n@dirac/infer 'auto' / raw onnxruntime-node (median of per-round ratios): worst ${worstOrt.toFixed(3)} (target ≥ 0.95) — ${verdict(worstOrt >= 0.95)}`,
);
if (typeof torch !== 'string') {
  const worstTorch = Math.min(...rows.map((r) => (r.torch ? r.ips.auto / r.torch : Infinity)));
  console.log(
    `@dirac/infer 'auto' / PyTorch CPU (best times): worst ${worstTorch.toFixed(2)}x (target ≥ 2x) — ${verdict(worstTorch >= 2)}`,
  );
}
console.log(
  `@dirac/infer 'tfjs' / raw tfjs (median of per-round ratios): worst ${worstTfjs.toFixed(3)} (target ≥ 0.95) — ${verdict(worstTfjs >= 0.95)}`,
);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const jsonPath = jsonOutputPath();
if (jsonPath) {
  writeResultsJson(jsonPath, {
    benchmark: 'infer',
    title:
      "@dirac/infer inference speed: engine 'auto' (onnxruntime-node) against raw onnxruntime-node and PyTorch CPU",
    baseline:
      'raw onnxruntime-node on the ONNX file of `dirac export` and PyTorch CPU on the same folded network, measured in the same run; ratios > 1: @dirac/infer is faster',
    tables: [
      {
        title: 'Folded networks, random weights, images/s',
        columns: header,
        rows: table.map((row) => row.map((c) => (/^-?\d+(\.\d+)?$/.test(c) ? Number(c) : c))),
        plot: { label: 0, value: 2, unit: 'img/s' },
      },
    ],
    notes: [
      `@dirac/infer 'auto' / raw onnxruntime-node (median of per-round ratios): worst ${worstOrt.toFixed(3)}`,
      `@dirac/infer 'tfjs' / raw tfjs (median of per-round ratios): worst ${worstTfjs.toFixed(3)}`,
      'Only ratios measured in one run mean anything on a shared machine.',
    ],
  });
  console.log(`wrote ${jsonPath}`);
}
process.exit(0);
