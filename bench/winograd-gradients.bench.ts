/**
 * How far the Winograd F(4×4, 3×3) training kernels move a DiracNet's gradients: the parameter gradients of
 * one batch of real CIFAR-10 test images with `winograd: true`, against the direct SIMD kernels, and the
 * direct kernels against tfjs' own ops (the noise floor of float32 summation order), in the same run.
 * Prints the largest relative difference (max |Δ| / max |g| per tensor) and the worst tensors.
 *
 *   npx esbuild bench/winograd-gradients.bench.ts --bundle --platform=node --format=esm \
 *     --conditions=@dirac/source --external:@tensorflow/* --external:sharp --external:onnxruntime-node \
 *     --external:protobufjs --external:@resvg/* --outfile=bench/out/winograd-gradients.mjs
 *   node bench/out/winograd-gradients.mjs [training-form model dir, default: a fresh diracnet-34-1]
 *     [--data ../shared/data/cifar-10-binary.tar.gz] [--batch 128]
 */
import '../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { configureWasmSimdKernels, forward, type Model, useBackend } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';
import { buildModel, initParams } from '@dirac/models';
import { crossEntropy } from '@dirac/train';
import * as tf from '@tensorflow/tfjs-core';
import { loadCifar } from '../packages/train/src/data/cifar';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const dir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
const batch = Number(arg('batch', '128'));
const MEAN = [0.4914, 0.4822, 0.4465];
const STD = [0.247, 0.2435, 0.2616];

await useBackend('auto');
const model: Model = dir
  ? await loadModelDir(dir)
  : (() => {
      const spec = buildModel('diracnet-34-1');
      return { spec, tensors: initParams(spec, 0) };
    })();
const data = await loadCifar(arg('data', '../shared/data/cifar-10-binary.tar.gz'), {
  split: 'test',
  limit: batch,
});
const x = tf.tensor4d(
  Float32Array.from(data.images, (v, i) => (v / 255 - MEAN[i % 3]!) / STD[i % 3]!),
  [batch, 32, 32, 3],
);
const y = tf.tensor1d(Int32Array.from(data.labels), 'int32');
const names = Object.keys(model.tensors).filter((k) => !/\.(mean|var)$/.test(k));
const vars = Object.fromEntries(names.map((k) => [k, tf.variable(model.tensors[k]!, true, `v_${k}`)]));
const tensors = { ...model.tensors, ...vars };

function gradients(switches: Parameters<typeof configureWasmSimdKernels>[0]) {
  const before = configureWasmSimdKernels(switches);
  try {
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(forward(model.spec, tensors, x, { mode: 'train' }), y),
      names.map((n) => vars[n]!),
    );
    const g = Object.fromEntries(names.map((n) => [n, grads[`v_${n}`]!.dataSync() as Float32Array]));
    tf.dispose([value, ...Object.values(grads)]);
    return g;
  } finally {
    configureWasmSimdKernels(before);
  }
}

function compare(label: string, a: Record<string, Float32Array>, b: Record<string, Float32Array>) {
  const rows = names.map((n) => {
    let d = 0;
    let s = 0;
    for (let i = 0; i < b[n]!.length; i++) {
      d = Math.max(d, Math.abs(a[n]![i]! - b[n]![i]!));
      s = Math.max(s, Math.abs(b[n]![i]!));
    }
    return [n, d / (s || 1)] as const;
  });
  rows.sort((p, q) => q[1] - p[1]);
  console.log(`${label}: largest relative difference ${rows[0]![1].toExponential(2)} (${rows[0]![0]})`);
  for (const [n, r] of rows.slice(1, 4)) console.log(`  then ${n} ${r.toExponential(2)}`);
}

console.log(`${dir ?? 'diracnet-34-1, fresh initialisation'}; ${batch} CIFAR-10 test images`);
const direct = gradients({ winograd: false });
compare('Winograd F(4x4, 3x3) vs direct kernels', gradients({ winograd: true }), direct);
compare('direct kernels vs tfjs ops (noise floor)', direct, gradients({ conv: false, filterGrad: false }));
process.exit(0);
