/**
 * The page of browser-train.test.ts: trains a DiracNet in the browser with @dirac/train/browser on tfjs-wasm
 * (our SIMD kernels), on a small synthetic 10-class set, with augmentation, normalization and a one-cycle
 * schedule, then evaluates it. Reports through `window.__train`.
 */
// #region imports
import { useBackend, wasmSimdKernelsAvailable } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import {
  augmentCifarBatch,
  evaluate,
  learningRate,
  normalizeBatch,
  normalizeLut,
  normalizeStats,
  Rng,
  splitBatches,
  TrainableModel,
} from '@dirac/train/browser';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
// #endregion imports
import { reportTo } from '../../../../test-support/page-report';

export interface TrainReport {
  backend: string;
  simd: boolean;
  losses: number[];
  tensorsAfterStep: number[];
  /** top-1 on a held-out synthetic set, and on the training images (both un-augmented) */
  top1: number;
  trainTop1: number;
  /** train-mode top-1 of each step's batch */
  stepTop1: number[];
}

const n = 160;
const pixels = 32 * 32 * 3;

/** Ten classes told apart by a colour and a stripe direction, with noise: learnable in a few steps. */
function syntheticSet(seed: number): { images: Uint8Array; labels: Uint8Array; n: number } {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * pixels);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 10;
    labels[i] = label;
    for (let p = 0; p < 32 * 32; p++) {
      const [x, y] = [p % 32, Math.floor(p / 32)];
      const stripe = ((label < 5 ? x : y) >> 2) % 2;
      for (let c = 0; c < 3; c++) {
        const base = (label * 37 * (c + 1)) % 256;
        images[(i * 32 * 32 + p) * 3 + c] = Math.min(255, (base * stripe + rng.nextInt(48)) | 0);
      }
    }
  }
  return { images, labels, n };
}

async function main(): Promise<TrainReport> {
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  const train = syntheticSet(1); // { images: Uint8Array (N×32×32×3), labels: Uint8Array, n }
  const steps = Number(new URLSearchParams(location.search).get('steps') ?? 60);
  const losses: number[] = [];
  const tensorsAfterStep: number[] = [];
  const stepTop1: number[] = [];
  // #region train
  const info = await useBackend('wasm');
  const spec = buildModel('diracnet-10-1');
  const model = new TrainableModel(spec, initParams(spec, 1), {
    momentum: 0.9,
    nesterov: true,
    weightDecay: 5e-4,
  });
  const lut = normalizeLut(normalizeStats('cifar'));
  const rng = new Rng(2);
  const batch = 32;
  for (let s = 0; s < steps; s++) {
    const idx = Array.from({ length: batch }, () => rng.nextInt(train.n));
    const x = normalizeBatch(augmentCifarBatch(train.images, idx, rng), lut);
    const y = Int32Array.from(idx, (i) => train.labels[i]!);
    const lr = learningRate({ name: 'onecycle', lr: 0.05, epochs: steps }, s); // progress in steps here
    const r = model.step({ x, y, n: batch }, lr); // { loss, correct, n }
    losses.push(r.loss);
    stepTop1.push(r.correct / r.n);
    tensorsAfterStep.push(tf.memory().numTensors);
  }
  // #endregion train
  const test = syntheticSet(3);
  const result = await evaluate(
    spec,
    model.tensors,
    splitBatches(test, 40, (src, out) => normalizeBatch(src, lut, out), pixels),
  );
  const onTrain = await evaluate(
    spec,
    model.tensors,
    splitBatches(train, 40, (src, out) => normalizeBatch(src, lut, out), pixels),
  );
  const simd = wasmSimdKernelsAvailable();
  model.dispose();
  return {
    backend: info.name,
    simd,
    losses,
    tensorsAfterStep,
    top1: result.top1,
    trainTop1: onTrain.top1,
    stepTop1,
  };
}

reportTo('__train', main);
