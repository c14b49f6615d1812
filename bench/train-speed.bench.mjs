// Training throughput of a CIFAR DiracNet (training form: Dirac conv + BN) on the default Node backend, against
// PyTorch CPU on the same network, batch and thread count, measured in the same run, plus a profile of where
// the time of one step goes.
//
//   npm run build && node bench/train-speed.bench.mjs [--model diracnet-34-1] [--batch 128] [--steps 5]
//     [--json bench/results/train-speed.json]
//
// With --json, the tables also go to that file for the docs site's benchmark page (bench/results-json.mjs).
//
// PyTorch comes from Debian's python3-torch (/usr/bin/python3); without it that column says n/a.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configureWasmSimdKernels, forward, useBackend } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import { crossEntropy, TrainableModel } from '@dirac/train';
import * as tf from '@tensorflow/tfjs-core';
import { jsonOutputPath, writeResultsJson } from './results-json.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const modelName = arg('model', 'diracnet-34-1');
const batch = Number(arg('batch', 128));
const steps = Number(arg('steps', 5));
const jsonPath = jsonOutputPath();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Seconds per full SGD step with our wasm SIMD kernels switched off (the tf-op and XNNPACK paths they replace). */
function measureWithout(model, b, switches) {
  const before = configureWasmSimdKernels(switches);
  try {
    model.step(b, 0.05);
    const times = [];
    for (let r = 0; r < steps; r++) {
      const t0 = performance.now();
      model.step(b, 0.05);
      times.push((performance.now() - t0) / 1000);
    }
    return median(times);
  } finally {
    configureWasmSimdKernels(before);
  }
}

function measure(name) {
  const spec = buildModel(name);
  const init = initParams(spec, 0);
  const model = new TrainableModel(spec, init, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  tf.dispose(Object.values(init));
  const b = {
    x: Float32Array.from({ length: batch * 32 * 32 * 3 }, () => Math.random() * 2 - 1),
    y: Int32Array.from({ length: batch }, (_, i) => i % 10),
    n: batch,
  };
  for (let i = 0; i < 2; i++) model.step(b, 0.05);
  const x = tf.tensor4d(b.x, [batch, 32, 32, 3]);
  const y = tf.tensor1d(b.y, 'int32');
  const fwdOnly = () => {
    const kept = [];
    const out = forward(spec, model.tensors, x, {
      mode: 'train',
      onBatchStats: (_n, s) => kept.push(s.mean, s.variance),
    });
    out.dataSync();
    tf.dispose([out, ...kept]);
  };
  const fwdBwdOnly = () => {
    const kept = [];
    const { value, grads } = tf.variableGrads(() => {
      const logits = forward(spec, model.tensors, x, {
        mode: 'train',
        onBatchStats: (_n, s) => kept.push(s.mean, s.variance),
      });
      return crossEntropy(logits, y);
    }, Object.values(model.trainable));
    value.dataSync();
    tf.dispose([value, ...Object.values(grads), ...kept]);
  };
  const stepWinograd = () => {
    const before = configureWasmSimdKernels({ winograd: true });
    try {
      model.step(b, 0.05);
    } finally {
      configureWasmSimdKernels(before);
    }
  };
  // Interleaved rounds (rotating order), so that load from other processes hits every phase alike.
  const phases = [() => model.step(b, 0.05), fwdOnly, fwdBwdOnly, stepWinograd];
  const times = phases.map(() => []);
  for (let r = 0; r < steps; r++) {
    for (let k = 0; k < phases.length; k++) {
      const i = (k + r) % phases.length;
      const t0 = performance.now();
      phases[i]();
      times[i].push((performance.now() - t0) / 1000);
    }
  }
  const [step, fwd, fwdBwd, winograd] = times.map(median);
  tf.dispose([x, y]);
  return { model, b, step, fwd, fwdBwd, winograd };
}

async function kernelProfile(model, b) {
  const prof = await tf.profile(() => {
    model.step(b, 0.05);
  });
  const by = new Map();
  for (const k of prof.kernels) {
    const e = by.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    by.set(k.name, e);
  }
  return [...by.entries()].sort((a, c) => c[1].ms - a[1].ms);
}

function torchReference(name) {
  const m = /^diracnet-(\d+)-([\d.]+)$/.exec(name);
  const script = fileURLToPath(new URL('./torch_train_speed.py', import.meta.url));
  if (!m || !existsSync('/usr/bin/python3')) return null;
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [script, m[1], m[2], String(batch), String(steps), String(cpus().length)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    return JSON.parse(out.trim().split('\n').pop());
  } catch {
    return null;
  }
}

const info = await useBackend('auto');
console.log(
  `backend: ${info.name} (${info.reason}); ${cpus().length} cores; ${modelName}, batch ${batch}, median of ${steps} steps`,
);
const dirac = measure(modelName);
const wasm = info.name === 'wasm';
const noSimd = wasm
  ? measureWithout(dirac.model, dirac.b, { batchNorm: false, filterGrad: false, conv: false })
  : null;
const plainName = modelName.replace(/^diracnet/, 'plain');
const plain = plainName !== modelName ? measure(plainName) : null;
const torch = torchReference(modelName);
const ips = (s) => (batch / s).toFixed(1);
const rows = [
  ['tfjs training form (Dirac conv + BN), full SGD step', dirac.step],
  ['  forward only (train-mode BN)', dirac.fwd],
  ['  forward + backward (no update)', dirac.fwdBwd],
  ...(wasm ? [['  same step with Winograd 3x3 convolutions (opt-in, winograd: true)', dirac.winograd]] : []),
  ...(noSimd ? [['  same step without our wasm SIMD kernels (tf ops + XNNPACK)', noSimd]] : []),
  ...(plain ? [['tfjs plain conv + BN (same net, no Dirac term), full step', plain.step]] : []),
];
const base = torch ? torch.imagesPerSecond : null;
console.log(`\n${'configuration'.padEnd(62)} ${'img/s'.padStart(8)} ${'vs PyTorch'.padStart(11)}`);
for (const [label, s] of rows)
  console.log(
    `${label.padEnd(62)} ${ips(s).padStart(8)} ${base ? (batch / s / base).toFixed(3).padStart(11) : 'n/a'.padStart(11)}`,
  );
console.log(
  `${`PyTorch ${torch?.torch ?? ''} CPU, ${torch?.threads ?? '?'} threads, same network`.padEnd(62)} ${base ? base.toFixed(1).padStart(8) : 'n/a'.padStart(8)} ${base ? '1.000'.padStart(11) : ''}`,
);
const stepMs = dirac.step * 1000;
console.log(
  `\nwhere a step's ${stepMs.toFixed(0)} ms go: forward ${(dirac.fwd * 1000).toFixed(0)} ms, backward ${((dirac.fwdBwd - dirac.fwd) * 1000).toFixed(0)} ms, update + running stats ${((dirac.step - dirac.fwdBwd) * 1000).toFixed(0)} ms`,
);
console.log(
  '\nkernels of one step (tf.profile; kernels called inside the custom gradient kernels are counted in both):',
);
const kernels = (await kernelProfile(dirac.model, dirac.b)).slice(0, 16);
for (const [name, e] of kernels)
  console.log(`  ${name.padEnd(26)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(6)} calls`);
if (jsonPath) {
  const round = (v, d = 1) => Number(v.toFixed(d));
  writeResultsJson(jsonPath, {
    benchmark: 'train-speed',
    title: `Training speed, ${modelName}, batch ${batch}`,
    baseline: base
      ? `PyTorch ${torch.torch} CPU, ${torch.threads} threads, same network, batch and machine, measured in the same run`
      : 'none: PyTorch (python3-torch) was not available in this run',
    machine: { backend: `${info.name}${info.threads ? `, ${info.threads} threads` : ''}` },
    tables: [
      {
        title: `Training images/s (median of ${steps} steps)`,
        columns: ['configuration', 'img/s', 'vs PyTorch'],
        rows: [
          ...rows.map(([label, s]) => [
            label.trim(),
            round(batch / s),
            base ? round(batch / s / base, 3) : null,
          ]),
          ...(base ? [[`PyTorch ${torch.torch} CPU, ${torch.threads} threads`, round(base), 1]] : []),
        ],
        plot: { label: 0, value: 1, unit: 'img/s' },
      },
      {
        title: `Where a step's ${stepMs.toFixed(0)} ms go`,
        columns: ['phase', 'ms'],
        rows: [
          ['forward', round(dirac.fwd * 1000, 0)],
          ['backward', round((dirac.fwdBwd - dirac.fwd) * 1000, 0)],
          ['update + running stats', round((dirac.step - dirac.fwdBwd) * 1000, 0)],
        ],
        plot: { label: 0, value: 1, unit: 'ms' },
      },
      {
        title:
          'Kernels of one step (tf.profile; kernels inside the custom gradient kernels are counted twice)',
        columns: ['kernel', 'ms', 'calls'],
        rows: kernels.map(([name, e]) => [name, round(e.ms), e.n]),
      },
    ],
  });
  console.log(`\nwrote ${jsonPath}`);
}
process.exit(0);
