import * as tf from '@tensorflow/tfjs-core';
import { foldBatchNorm } from './batchnorm';
import { diracWeight } from './dirac';
import { SpecError } from './errors';
import { forward, requireTensor } from './forward';
import type {
  BatchNormLayerSpec,
  ConvLayerSpec,
  DiracConvLayerSpec,
  FoldReport,
  LayerSpec,
  Model,
  ModelSpec,
  TensorMap,
  VerifyFoldOptions,
} from './types';

function batchNormParams(tensors: TensorMap, bn: BatchNormLayerSpec) {
  return {
    gamma: requireTensor(tensors, `${bn.name}.gamma`),
    beta: requireTensor(tensors, `${bn.name}.beta`),
    mean: requireTensor(tensors, `${bn.name}.mean`),
    variance: requireTensor(tensors, `${bn.name}.var`),
    eps: bn.eps,
  };
}

function effectiveWeight(layer: ConvLayerSpec | DiracConvLayerSpec, tensors: TensorMap): tf.Tensor {
  const w = requireTensor(tensors, `${layer.name}.weight`);
  if (layer.type === 'conv') return tf.clone(w);
  return diracWeight(
    w,
    requireTensor(tensors, `${layer.name}.a`),
    requireTensor(tensors, `${layer.name}.b`),
    layer.parameterization,
  );
}

/** Folds one conv (plain or Dirac) and, when given, the batch norm right after it. */
function foldConv(
  layer: ConvLayerSpec | DiracConvLayerSpec,
  bn: BatchNormLayerSpec | undefined,
  tensors: TensorMap | null,
  out: TensorMap,
): ConvLayerSpec {
  const { type: _type, ...geometry } = layer;
  const { parameterization: _p, ...plain } = geometry as DiracConvLayerSpec;
  if (bn && bn.channels !== layer.outChannels) {
    throw new SpecError(
      `batch norm '${bn.name}' has ${bn.channels} channels after conv '${layer.name}' with ${layer.outChannels}`,
    );
  }
  if (!tensors) return { ...plain, type: 'conv', bias: layer.bias || bn !== undefined };
  const bias = layer.bias ? requireTensor(tensors, `${layer.name}.bias`) : null;
  const [weight, foldedBias] = tf.tidy(() => {
    const w = effectiveWeight(layer, tensors);
    if (bn) {
      const f = foldBatchNorm(w, bias, batchNormParams(tensors, bn));
      return [f.weight, f.bias];
    }
    return bias ? [w, tf.clone(bias)] : [w];
  });
  out[`${layer.name}.weight`] = weight!;
  if (foldedBias) out[`${layer.name}.bias`] = foldedBias;
  return { ...plain, type: 'conv', bias: foldedBias !== undefined };
}

function copyTensors(names: string[], tensors: TensorMap | null, out: TensorMap) {
  if (!tensors) return;
  for (const n of names) out[n] = tf.clone(requireTensor(tensors, n));
}

function foldLayers(layers: LayerSpec[], tensors: TensorMap | null, out: TensorMap): LayerSpec[] {
  const result: LayerSpec[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    switch (layer.type) {
      case 'conv':
      case 'diracConv': {
        const next = layers[i + 1];
        const bn = next?.type === 'batchnorm' ? next : undefined;
        if (bn) i++;
        result.push(foldConv(layer, bn, tensors, out));
        break;
      }
      case 'batchnorm':
        // A batch norm with no conv right before it (pre-activation baselines) stays as it is.
        copyTensors(
          ['gamma', 'beta', 'mean', 'var'].map((r) => `${layer.name}.${r}`),
          tensors,
          out,
        );
        result.push({ ...layer });
        break;
      case 'linear':
        copyTensors([`${layer.name}.weight`, `${layer.name}.bias`], tensors, out);
        result.push({ ...layer });
        break;
      case 'residual':
        result.push({
          ...layer,
          body: foldLayers(layer.body, tensors, out),
          shortcut: foldLayers(layer.shortcut, tensors, out),
        });
        break;
      default:
        result.push({ ...layer });
    }
  }
  return result;
}

/**
 * Turns a training-form model into its folded (deployable) form: every Dirac conv becomes a plain conv
 * with weight `a·δ + b·W/‖W‖`, and every batch norm that directly follows a conv is folded into that conv's
 * weight and bias. Always uses the running statistics (inference semantics), so there is no "training mode"
 * to forget. Returns new tensors: the input model is left untouched and may be disposed independently.
 */
export function fold(model: Model): Model {
  if (model.spec.form !== 'training') {
    throw new SpecError(
      `fold() takes a training-form model; '${model.spec.name}' is already ${model.spec.form}`,
    );
  }
  const tensors: TensorMap = {};
  try {
    const layers = foldLayers(model.spec.layers, model.tensors, tensors);
    return { spec: { ...structuredClone(model.spec), form: 'folded', layers }, tensors };
  } catch (e) {
    tf.dispose(Object.values(tensors));
    throw e;
  }
}

/** The folded form's spec, without computing any tensor (for counts and planning). */
export function foldSpec(spec: ModelSpec): ModelSpec {
  if (spec.form !== 'training') return structuredClone(spec);
  return { ...structuredClone(spec), form: 'folded', layers: foldLayers(spec.layers, null, {}) };
}

function layerParams(layer: LayerSpec): number {
  const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);
  switch (layer.type) {
    case 'conv':
      return prod(layer.kernel) * layer.inChannels * layer.outChannels + (layer.bias ? layer.outChannels : 0);
    case 'diracConv': {
      const scales = layer.parameterization === 'v2' ? 2 * layer.outChannels : 2;
      return (
        prod(layer.kernel) * layer.inChannels * layer.outChannels +
        scales +
        (layer.bias ? layer.outChannels : 0)
      );
    }
    case 'batchnorm':
      return 2 * layer.channels;
    case 'linear':
      return layer.inFeatures * layer.outFeatures + layer.outFeatures;
    case 'residual':
      return countParams({ layers: [...layer.body, ...layer.shortcut] });
    default:
      return 0;
  }
}

/**
 * Learnable parameters of a spec: conv weights and biases, Dirac `a` and `b`, batch-norm γ and β, linear
 * weights and biases (batch-norm running statistics are buffers, not parameters).
 */
export function countParams(spec: Pick<ModelSpec, 'layers'>): number {
  return spec.layers.reduce((sum, l) => sum + layerParams(l), 0);
}

/** Disposes every tensor of a model. */
export function disposeModel(model: Model): void {
  tf.dispose(Object.values(model.tensors));
}

/**
 * Runs the training and folded forms in inference mode on the same input and measures how far apart they
 * are. The relative error is max |Δ| divided by max |training output|.
 */
export function verifyFold(training: Model, folded: Model, options: VerifyFoldOptions = {}): FoldReport {
  const tolerance = options.tolerance ?? 1e-5;
  const [h, w, c] = training.spec.inputShape;
  const input =
    options.input ?? tf.randomNormal([options.batch ?? 2, h, w, c], 0, 1, 'float32', options.seed ?? 0);
  try {
    const [maxAbs, maxRef] = tf.tidy(() => {
      const a = forward(training.spec, training.tensors, input, { mode: 'eval' });
      const b = forward(folded.spec, folded.tensors, input, { mode: 'eval' });
      return [tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!, tf.max(tf.abs(a)).dataSync()[0]!];
    });
    const maxRelError = maxAbs / Math.max(maxRef, Number.MIN_VALUE);
    return {
      maxAbsError: maxAbs,
      maxRelError,
      tolerance,
      ok: Number.isFinite(maxRelError) && maxRelError <= tolerance,
      inputShape: input.shape,
      trainingParams: countParams(training.spec),
      foldedParams: countParams(folded.spec),
    };
  } finally {
    if (!options.input) input.dispose();
  }
}
