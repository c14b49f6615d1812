/**
 * Tiny folded models for the exporter tests (not part of the package API: index.ts does not export it).
 */
import { fold, forward, type Model, type TensorMap } from '@dirac/core';
import { type BuildOptions, buildModel, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';

/** Randomizes every batch norm's γ, β and running statistics so that folding them is really tested. */
function randomizeBatchNorms(tensors: TensorMap, seed: number): void {
  let i = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const role = name.slice(name.lastIndexOf('.') + 1);
    const s = seed * 7919 + i++;
    let next: tf.Tensor | undefined;
    if (role === 'mean' || role === 'beta') next = tf.randomNormal(t.shape, 0, 0.3, 'float32', s);
    else if (role === 'var') next = tf.randomUniform(t.shape, 0.5, 2, 'float32', s);
    else if (role === 'gamma') next = tf.randomUniform(t.shape, 0.5, 1.5, 'float32', s);
    if (next) {
      t.dispose();
      tensors[name] = next;
    }
  }
}

/** A registry model with seeded parameters and random batch-norm statistics, folded. */
export function foldedModel(name: string, options: BuildOptions = {}, seed = 1): Model {
  const spec = buildModel(name, options);
  const tensors = initParams(spec, seed);
  randomizeBatchNorms(tensors, seed);
  const training = { spec, tensors };
  const folded = fold(training);
  tf.dispose(Object.values(tensors));
  return folded;
}

/**
 * A hand-made folded model with NCReLU (v1 DiracNets) and asymmetric conv padding: conv 3x3 stride [2, 1]
 * → NCReLU → conv 1x1 (→ ReLU when `reluAfter`) → global average pool → FC to 10 classes.
 */
export function ncreluModel(reluAfter = false): Model {
  const spec = buildModel('diracnet-10-1');
  const layers = [
    {
      type: 'conv',
      name: 'c0',
      inChannels: 3,
      outChannels: 4,
      kernel: [3, 3],
      stride: [2, 1],
      padding: [
        [0, 1],
        [2, 1],
      ],
      bias: true,
    },
    { type: 'ncrelu' },
    {
      type: 'conv',
      name: 'c1',
      inChannels: 8,
      outChannels: 6,
      kernel: [1, 1],
      stride: [1, 1],
      padding: [
        [0, 0],
        [0, 0],
      ],
      bias: false,
    },
    ...(reluAfter ? [{ type: 'relu' }] : []),
    { type: 'globalAvgPool' },
    { type: 'linear', name: 'fc', inFeatures: 6, outFeatures: 10 },
  ] as Model['spec']['layers'];
  return {
    spec: { ...spec, form: 'folded', layers },
    tensors: {
      'c0.weight': tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 1),
      'c0.bias': tf.randomNormal([4], 0, 1, 'float32', 2),
      'c1.weight': tf.randomNormal([1, 1, 8, 6], 0, 1, 'float32', 3),
      'fc.weight': tf.randomNormal([6, 10], 0, 1, 'float32', 4),
      'fc.bias': tf.randomNormal([10], 0, 1, 'float32', 5),
    },
  };
}

/** Seeded standard-normal NCHW input. */
export function randomNchw(shape: [number, number, number, number], seed = 0): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);
}

/** Our reference logits for NCHW input (the forward pass runs NHWC). */
export function referenceLogits(model: Model, nchw: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => {
    const x = tf.transpose(tf.tensor4d(nchw, shape as [number, number, number, number]), [0, 2, 3, 1]);
    return forward(model.spec, model.tensors, x, { mode: 'eval' }).dataSync() as Float32Array;
  });
}

/** NCHW → NHWC of a flat array. */
export function nchwToNhwc(nchw: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(
    () =>
      tf
        .transpose(tf.tensor4d(nchw, shape as [number, number, number, number]), [0, 2, 3, 1])
        .dataSync() as Float32Array,
  );
}

/** max |a − b| / max |b|. */
export function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    ref = Math.max(ref, Math.abs(want[i]!));
  }
  return diff / Math.max(ref, Number.MIN_VALUE);
}
