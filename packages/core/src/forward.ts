import * as tf from '@tensorflow/tfjs-core';
import { type BatchStats, batchNormInference, batchNormTraining } from './batchnorm';
import { convNd } from './conv';
import { diracWeight, ncrelu } from './dirac';
import { MissingTensorError, ShapeError, SpecError } from './errors';
import type { LayerSpec, TensorMap } from './types';

/** Options of {@link forward}. */
export interface ForwardOptions {
  /**
   * 'eval' (default): batch norm uses running statistics. 'train': batch norm uses batch statistics,
   * reported through `onBatchStats`.
   */
  mode?: 'eval' | 'train';
  /**
   * Train mode only: receives each batch-norm layer's batch statistics. The tensors are kept out of any
   * enclosing tidy scope: the callee owns (and must dispose) them.
   */
  onBatchStats?: (layerName: string, stats: BatchStats) => void;
}

/** Looks up a named tensor, with an error that names what is missing. */
export function requireTensor(tensors: TensorMap, name: string): tf.Tensor {
  const t = tensors[name];
  if (!t) throw new MissingTensorError(name, 'required by the model spec');
  return t;
}

function optionalBias(tensors: TensorMap, name: string, hasBias: boolean): tf.Tensor | undefined {
  return hasBias ? requireTensor(tensors, `${name}.bias`) : undefined;
}

/** Whether the layer after `i` is a ReLU that a fused conv can absorb (also across a max-pool). */
function reluFollows(layers: LayerSpec[], i: number): number {
  const next = layers[i + 1];
  if (next?.type === 'relu') return i + 1;
  if (next?.type === 'maxpool' && layers[i + 2]?.type === 'relu') return i + 2;
  return -1;
}

function runLayers(
  layers: LayerSpec[],
  tensors: TensorMap,
  input: tf.Tensor,
  opts: ForwardOptions,
): tf.Tensor {
  let x = input;
  const skip = new Set<number>();
  for (let i = 0; i < layers.length; i++) {
    if (skip.has(i)) continue;
    const layer = layers[i]!;
    // relu(maxpool(y)) = maxpool(relu(y)), so a conv (or a batch norm) absorbs the ReLU after a following
    // pool too.
    const fuses = layer.type === 'conv' || layer.type === 'batchnorm';
    const fusedRelu = fuses ? reluFollows(layers, i) : -1;
    if (fusedRelu >= 0) skip.add(fusedRelu);
    // relu(relu(y)) = relu(y): upstream's stem ReLU is followed by the first block's
    const lastRelu = fusedRelu >= 0 ? fusedRelu : layer.type === 'relu' ? i : -1;
    for (let j = lastRelu + 1; lastRelu >= 0 && layers[j]?.type === 'relu'; j++) skip.add(j);
    x = runLayer(layer, tensors, x, opts, fusedRelu >= 0);
  }
  return x;
}

function runLayer(
  layer: LayerSpec,
  tensors: TensorMap,
  x: tf.Tensor,
  opts: ForwardOptions,
  fusedRelu = false,
): tf.Tensor {
  switch (layer.type) {
    case 'conv':
      return convNd(x, requireTensor(tensors, `${layer.name}.weight`), layer, {
        bias: optionalBias(tensors, layer.name, layer.bias),
        relu: fusedRelu,
      });
    case 'diracConv': {
      const w = diracWeight(
        requireTensor(tensors, `${layer.name}.weight`),
        requireTensor(tensors, `${layer.name}.a`),
        requireTensor(tensors, `${layer.name}.b`),
        layer.parameterization,
      );
      return convNd(x, w, layer, { bias: optionalBias(tensors, layer.name, layer.bias) });
    }
    case 'batchnorm':
      return batchNorm(layer.name, layer.eps, tensors, x, opts, fusedRelu);
    case 'relu':
      return tf.relu(x);
    case 'ncrelu':
      return ncrelu(x);
    case 'maxpool':
      return maxPool(x, layer.kernel, layer.stride, layer.padding);
    case 'globalAvgPool':
      return tf.mean(
        x,
        x.shape.slice(1, -1).map((_, i) => i + 1),
      );
    case 'linear':
      return linear(layer.name, layer.inFeatures, tensors, x);
    case 'residual':
      return tf.add(
        runLayers(layer.body, tensors, x, opts),
        layer.shortcut.length ? runLayers(layer.shortcut, tensors, x, opts) : x,
      );
    default:
      throw new SpecError(`unknown layer type '${(layer as { type: string }).type}'`);
  }
}

function batchNorm(
  name: string,
  eps: number,
  tensors: TensorMap,
  x: tf.Tensor,
  opts: ForwardOptions,
  relu: boolean,
) {
  const gamma = requireTensor(tensors, `${name}.gamma`);
  const beta = requireTensor(tensors, `${name}.beta`);
  if (opts.mode === 'train') {
    const { y, stats } = batchNormTraining(x, { gamma, beta, eps }, { relu });
    tf.keep(stats.mean);
    tf.keep(stats.variance);
    if (opts.onBatchStats) opts.onBatchStats(name, stats);
    else tf.dispose([stats.mean, stats.variance]);
    return y;
  }
  return batchNormInference(
    x,
    {
      gamma,
      beta,
      mean: requireTensor(tensors, `${name}.mean`),
      variance: requireTensor(tensors, `${name}.var`),
      eps,
    },
    { relu },
  );
}

function maxPool(x: tf.Tensor, kernel: number[], stride: number[], padding: [number, number][]): tf.Tensor {
  if (x.rank !== 4) throw new ShapeError(`max-pool supports 2-D inputs (NHWC); got rank ${x.rank}`);
  const p = padding[0]?.[0] ?? 0;
  if (!padding.every(([a, b]) => a === p && b === p)) {
    throw new SpecError('max-pool padding must be the same on every side');
  }
  return tf.maxPool(
    x as tf.Tensor4D,
    kernel as [number, number],
    stride as [number, number],
    p === 0 ? 'valid' : p,
  );
}

function linear(name: string, inFeatures: number, tensors: TensorMap, x: tf.Tensor): tf.Tensor {
  if (x.rank !== 2 || x.shape[1] !== inFeatures) {
    throw new ShapeError(`linear '${name}' expects [N, ${inFeatures}] input; got [${x.shape.join(', ')}]`);
  }
  const w = requireTensor(tensors, `${name}.weight`) as tf.Tensor2D;
  return tf.add(tf.matMul(x as tf.Tensor2D, w), requireTensor(tensors, `${name}.bias`));
}

/**
 * Runs a chain of layers (a model spec's `layers`) on NHWC input. Works for both forms: the training form
 * (Dirac convs, batch norm) in 'eval' or 'train' mode and the folded form (convs with bias). Convs directly
 * followed by a ReLU run fused.
 */
export function forward(
  spec: { layers: LayerSpec[] },
  tensors: TensorMap,
  x: tf.Tensor,
  opts: ForwardOptions = {},
): tf.Tensor {
  return tf.tidy(() => runLayers(spec.layers, tensors, x, opts));
}
