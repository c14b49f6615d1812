#!/usr/bin/env node
/**
 * Writes a folded DiracNet with random weights as a model directory, to try the examples with until the
 * zoo has trained models:
 *
 *   node examples/node/make-demo-model.mjs /tmp/demo-model             # CIFAR-10 DiracNet-10-1
 *   node examples/node/make-demo-model.mjs /tmp/demo-in --imagenet     # ImageNet DiracNet-18, width 1/16
 *
 * Needs the packages built (`npm run build`). Its answers are meaningless: the weights are random.
 */
import { disposeModel, fold, useBackend } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { buildModel, CIFAR10_CLASSES, initParams } from '@dirac/models';

/**
 * Builds, folds and saves a random-weights demo model; returns its spec.
 * @param {string} dir output folder
 * @param {{ imagenet?: boolean, seed?: number }} [options]
 */
export async function makeDemoModel(dir, options = {}) {
  const spec = options.imagenet ? buildModel('diracnet-18', { width: 0.0625 }) : buildModel('diracnet-10-1');
  if (!options.imagenet) spec.labels = [...CIFAR10_CLASSES];
  spec.metadata = { note: 'random weights, for trying the examples only' };
  const training = { spec, tensors: initParams(spec, options.seed ?? 1) };
  const folded = fold(training);
  disposeModel(training);
  const saved = await saveModelDir(dir, folded, { dtypes: ['float32', 'float16'] });
  disposeModel(folded);
  return saved;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node examples/node/make-demo-model.mjs <out dir> [--imagenet]');
    process.exit(2);
  }
  await useBackend('auto');
  const spec = await makeDemoModel(dir, { imagenet: process.argv.includes('--imagenet') });
  console.log(`wrote ${spec.name} (folded, random weights) to ${dir}`);
}
