// 3×3 convolutions of a CIFAR DiracNet on the default Node backend (tfjs-wasm with @dirac/core's SIMD
// kernels): Winograd's F(4×4, 3×3) against the direct kernels it replaces, for the convolution (which is
// also how the input gradient runs) and the filter gradient, measured in the same run, alternating, on the
// same tensors; and for the fused convolution + bias + ReLU of folded models (inference), against tfjs-wasm's
// own XNNPACK kernel. GFLOP/s count the direct convolution's 2·9·Ci·Co multiply-adds per output pixel for
// both, so the ratio is the speed-up.
//
//   npm run build && node bench/winograd.bench.mjs [--batch 128] [--reps 7] [--json bench/results/winograd.json]
import { configureWasmSimdKernels, useBackend } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { jsonOutputPath, writeResultsJson } from './results-json.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const batch = Number(arg('batch', 128));
const reps = Number(arg('reps', 7));
const jsonPath = jsonOutputPath();

const LAYERS = [
  { name: '32x32 16->16', hw: 32, ci: 16, co: 16 },
  { name: '32x32 16->32 (widening)', hw: 32, ci: 16, co: 32 },
  { name: '16x16 32->32', hw: 16, ci: 32, co: 32 },
  { name: '8x8 64->64', hw: 8, ci: 64, co: 64 },
];

const info = await useBackend('auto');
if (info.name !== 'wasm') throw new Error(`this benchmark is about the wasm backend, got ${info.name}`);
console.log(`backend: ${info.name} (${info.reason}); batch ${batch}, best of ${reps}`);

const OPS = {
  conv: (x, w) => tf.conv2d(x, w, 1, 'same'),
  'fused conv + bias + ReLU': (x, w, _dy, bias) =>
    tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'relu' }),
  'filter gradient': (x, w, dy) =>
    tf
      .engine()
      .runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape },
      ),
};

function time(op, x, w, dy, bias, winograd) {
  const before = configureWasmSimdKernels({ winograd, winogradInference: winograd });
  try {
    const t0 = performance.now();
    // tfjs-wasm runs kernels synchronously: the work is done when the op returns (reading the result back
    // would add a copy whose cost varies with where the JS engine puts it)
    const y = op(x, w, dy, bias);
    const ms = performance.now() - t0;
    y.dispose();
    return ms;
  } finally {
    configureWasmSimdKernels(before);
  }
}

const rows = [];
for (const l of LAYERS) {
  const x = tf.randomUniform([batch, l.hw, l.hw, l.ci], -1, 1, 'float32', 1);
  const w = tf.randomUniform([3, 3, l.ci, l.co], -0.2, 0.2, 'float32', 2);
  const dy = tf.randomUniform([batch, l.hw, l.hw, l.co], -1, 1, 'float32', 3);
  const bias = tf.randomUniform([l.co], -1, 1, 'float32', 4);
  for (const [opName, op] of Object.entries(OPS)) {
    time(op, x, w, dy, bias, true);
    time(op, x, w, dy, bias, false);
    const best = { direct: Infinity, wino: Infinity };
    for (let r = 0; r < reps; r++) {
      // alternate the order so that load from other processes hits both alike
      for (const winograd of r % 2 ? [true, false] : [false, true]) {
        const ms = time(op, x, w, dy, bias, winograd);
        const k = winograd ? 'wino' : 'direct';
        best[k] = Math.min(best[k], ms);
      }
    }
    const gflop = (2 * 9 * l.ci * l.co * l.hw * l.hw * batch) / 1e9;
    rows.push([
      `${l.name} ${opName}`,
      Number(best.direct.toFixed(1)),
      Number(best.wino.toFixed(1)),
      Number((gflop / (best.direct / 1000)).toFixed(1)),
      Number((gflop / (best.wino / 1000)).toFixed(1)),
      Number((best.direct / best.wino).toFixed(2)),
    ]);
  }
  tf.dispose([x, w, dy, bias]);
}
const columns = ['layer', 'direct ms', 'Winograd ms', 'direct GFLOP/s', 'Winograd GFLOP/s', 'speed-up'];
console.log(`\n${columns.map((c, i) => (i ? c.padStart(17) : c.padEnd(50))).join('')}`);
for (const r of rows)
  console.log(r.map((c, i) => (i ? String(c).padStart(17) : String(c).padEnd(50))).join(''));
if (jsonPath) {
  writeResultsJson(jsonPath, {
    benchmark: 'winograd',
    title: `3×3 convolutions (stride 1, padding 1), batch ${batch}: Winograd F(4×4, 3×3) against the direct SIMD kernels`,
    baseline:
      'the direct SIMD kernels of @dirac/core (convolution, filter gradient), same tensors, measured alternately in the same run',
    machine: { backend: `${info.name}${info.threads ? `, ${info.threads} threads` : ''}` },
    tables: [
      {
        title: `Best of ${reps} calls; GFLOP/s as 2·9·Ci·Co per output pixel for both`,
        columns,
        rows,
        plot: { label: 0, value: 5, unit: 'x' },
      },
    ],
  });
  console.log(`\nwrote ${jsonPath}`);
}
process.exit(0);
