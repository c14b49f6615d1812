/**
 * Transient faults in training steps: computes the gradient of one training step again and again from the
 * same weights and batch, and counts the results that differ from the first (the computation is
 * deterministic, so every difference is a fault). With `--bn-threads` batch norm splits its pixels with the
 * helper thread (the `batchNormThreads` switch, off by default because of exactly such faults); with
 * `--winograd` the 3×3 convolutions use the Winograd kernels. A differing result names the first batch-norm
 * layer whose batch statistics changed, which localizes the fault.
 *
 *   npx esbuild bench/repeat-step.bench.ts --bundle --platform=node --format=esm \
 *     --conditions=@dirac/source --external:@tensorflow/* --external:sharp --external:onnxruntime-node \
 *     --external:protobufjs --external:@resvg/* --outfile=bench/out/repeat-step.mjs
 *   node bench/out/repeat-step.mjs [run dir, default: a fresh diracnet-34-1] [--repeats 1500]
 *     [--bn-threads] [--winograd] [--data ../shared/data/cifar-10-binary.tar.gz]
 */
import '../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { configureWasmSimdKernels, forward, type TensorMap, useBackend } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint, withPrefix } from '../packages/train/src/checkpoint';
import { loadCifar } from '../packages/train/src/data/cifar';
import { BatchLoader } from '../packages/train/src/data/prefetch';
import { crossEntropy } from '../packages/train/src/loss';
import { globalNorm, gradientNorms } from '../packages/train/src/optim/step-guard';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const runDir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
const repeats = Number(arg('repeats', '1500'));
const switches = {
  batchNormThreads: process.argv.includes('--bn-threads'),
  winograd: process.argv.includes('--winograd'),
};
await useBackend('wasm');
configureWasmSimdKernels(switches);
const spec = buildModel('diracnet-34-1');
const tensors: TensorMap = runDir
  ? withPrefix((await loadCheckpoint(runDir)).tensors, 'model')
  : initParams(spec, 0);
const names = Object.keys(tensors).filter((k) => !/\.(mean|var)$/.test(k));
const vars = Object.fromEntries(names.map((k) => [k, tf.variable(tensors[k]!, true, `v_${k}`)]));
const model = { ...tensors, ...vars };
const train = await loadCifar(arg('data', '../shared/data/cifar-10-binary.tar.gz'), { split: 'train' });
const loader = new BatchLoader(train, { batchSize: 128, augment: true, seed: 0, normalize: 'cifar' });
let batch: { x: Float32Array; y: Int32Array } | undefined;
for await (const b of loader.epochBatches(0, 0)) {
  batch = b;
  break;
}
await loader.close();
const x = tf.tensor4d(batch!.x, [128, 32, 32, 3]);
const y = tf.tensor1d(batch!.y, 'int32');

/** One forward + backward: loss, global gradient norm, and each batch norm's batch statistics. */
function step() {
  const stats: { name: string; data: Float32Array }[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const logits = forward(spec, model, x, {
      mode: 'train',
      onBatchStats: (name, s) => {
        const data = new Float32Array([...s.mean.dataSync(), ...s.variance.dataSync()]);
        stats.push({ name, data });
        tf.dispose([s.mean, s.variance]);
      },
    });
    return crossEntropy(logits, y);
  }, Object.values(vars));
  const loss = value.dataSync()[0]!;
  const norm = globalNorm(gradientNorms(grads));
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, norm, stats };
}

const ref = step();
let faults = 0;
const t0 = Date.now();
for (let i = 1; i <= repeats; i++) {
  const s = step();
  if (s.loss !== ref.loss || s.norm !== ref.norm) {
    faults++;
    const k = s.stats.findIndex((st, j) => st.data.some((v, c) => v !== ref.stats[j]!.data[c]));
    console.log(
      `fault at repeat ${i}: loss ${s.loss} (first ${ref.loss}), gradient norm ${s.norm.toExponential(3)} (first ${ref.norm.toExponential(3)}); first batch norm with other statistics: ${k >= 0 ? s.stats[k]!.name : 'none'}`,
    );
  }
  if (i % 100 === 0)
    console.log(`${i} repeats, ${faults} faults, ${((Date.now() - t0) / i).toFixed(0)} ms each`);
}
console.log(
  JSON.stringify({ ...switches, model: runDir ?? 'fresh diracnet-34-1 (seed 0)', repeats, faults }),
);
