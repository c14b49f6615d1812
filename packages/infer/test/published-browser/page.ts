/**
 * The page of published-browser.test.ts, bundled from the packages' dist files as an app that installed them
 * from npm would be: trains a few steps with @dirac/train/browser on tfjs-wasm, folds with @dirac/core, and
 * classifies with @dirac/infer from the folded model's bytes. Reports through `window.__published`.
 */
import { disposeModel, fold, serializeModel, useBackend } from '@dirac/core';
import { load, type Prediction } from '@dirac/infer';
import { buildModel, initParams } from '@dirac/models';
import { TrainableModel } from '@dirac/train/browser';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { reportTo } from '../../../../test-support/page-report';

export interface PublishedReport {
  backend: string;
  losses: number[];
  top: Prediction[];
  /** tf.memory().numTensors before training and after everything was disposed */
  tensors: [number, number];
}

/** A batch of normalized-looking noise (NHWC), one image per class. */
function noiseBatch(n: number) {
  let state = 12345;
  const x = Float32Array.from({ length: n * 32 * 32 * 3 }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 31 - 1;
  });
  return { x, y: Int32Array.from({ length: n }, (_, i) => i % 10), n };
}

async function main(): Promise<PublishedReport> {
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  const info = await useBackend('wasm');
  const before = tf.memory().numTensors;
  const spec = buildModel('diracnet-10-0.5');
  const params = initParams(spec, 1);
  const trainer = new TrainableModel(spec, params, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  tf.dispose(Object.values(params));
  const batch = noiseBatch(10);
  const losses: number[] = [];
  for (let s = 0; s < 4; s++) losses.push(trainer.step(batch, 0.05).loss);
  const folded = fold({ spec: trainer.spec, tensors: trainer.tensors });
  trainer.dispose();
  const bytes = serializeModel(folded);
  disposeModel(folded);
  const model = await load(
    { spec: { ...bytes.spec, labels: [...'abcdefghij'] }, weights: bytes.weights },
    { warmup: false },
  );
  const image = new ImageData(new Uint8ClampedArray(32 * 32 * 4).fill(128), 32, 32);
  const top = await model.classify(image, { topk: 3 });
  model.dispose();
  return { backend: info.name, losses, top, tensors: [before, tf.memory().numTensors] };
}

reportTo('__published', main);
