/**
 * Folds the latest checkpoint of a training run (read only; the run may still be training) into a folded
 * model directory, for measuring a partly trained model, e.g. its int8 and fp16 exports:
 *
 *   npx esbuild bench/fold-checkpoint.ts --bundle --platform=node --format=esm --conditions=@dirac/source \
 *     --external:@tensorflow/* --external:sharp --outfile=bench/out/fold-checkpoint.mjs
 *   node bench/out/fold-checkpoint.mjs runs/diracnet-10-1 /tmp/partial-folded [diracnet-10-1]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { disposeModel, fold, safetensorsToTensors, useBackend, verifyFold } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { buildModel } from '@dirac/models';

const [run, out, name = 'diracnet-10-1'] = process.argv.slice(2);
if (!run || !out) {
  console.error('usage: fold-checkpoint.mjs <run dir> <out dir> [model name]');
  process.exit(2);
}
await useBackend('cpu');
const latest = JSON.parse(await readFile(join(run, 'checkpoint.json'), 'utf8')).latest as string;
const dir = join(run, 'checkpoints', latest);
const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8'));
const all = safetensorsToTensors(new Uint8Array(await readFile(join(dir, 'tensors.safetensors'))));
const tensors = Object.fromEntries(
  Object.entries(all)
    .filter(([k]) => k.startsWith('model/'))
    .map(([k, t]) => [k.slice('model/'.length), t]),
);
const spec = buildModel(name);
spec.labels = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const training = { spec, tensors };
const folded = fold(training);
const report = verifyFold(training, folded);
if (!report.ok) throw new Error(`fold verification failed: ${JSON.stringify(report)}`);
folded.spec.metadata = {
  ...folded.spec.metadata,
  note: `partly trained: ${run} checkpoint ${latest}, epoch ${state.epoch}, step ${state.stepInEpoch} of it`,
};
await saveModelDir(out, folded);
disposeModel(folded);
console.log(
  `folded ${run} ${latest} (epoch ${state.epoch}) into ${out}; max rel error ${report.maxRelError.toExponential(1)}`,
);
process.exit(0);
