/**
 * The folded-form network on tfjs-core ops, compiled once per model into a flat list of steps.
 *
 * Only what a folded DiracNet (or a folded baseline) contains is supported: convs with bias, ReLU, NCReLU,
 * max-pool, global average pool, linear and residual blocks. Dirac convs and batch norms belong to the
 * training form and are refused, so no training code (Dirac weights, batch-norm folding, gradient kernels)
 * ends up in an app bundle. Convs followed by a ReLU (directly or across a max-pool, since
 * relu(maxpool(y)) = maxpool(relu(y))) run as one fused conv; a ReLU after a ReLU is dropped.
 */
import {
  type ConvLayerSpec,
  convNd,
  type LayerSpec,
  requireTensor,
  ShapeError,
  SpecError,
  type TensorMap,
} from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { TrainingFormError } from '../errors';
import type { Engine, EngineInfo } from './engine';

/** One compiled step: takes the activation, returns the next one (intermediates are freed by tidy). */
type Step = (x: tf.Tensor) => tf.Tensor;

function trainingLayer(type: string, name: string): TrainingFormError {
  return new TrainingFormError(
    `layer '${name}' is a ${type === 'diracConv' ? 'Dirac conv' : 'batch norm'}, which only the training form ` +
      'has: @dirac/infer runs folded models. Fold it first: `dirac fold <model dir> <out dir>`',
  );
}

function ncrelu(x: tf.Tensor): tf.Tensor {
  return tf.concat([tf.relu(x), tf.neg(tf.relu(tf.neg(x)))], -1);
}

function maxPoolStep(kernel: number[], stride: number[], padding: [number, number][]): Step {
  const p = padding[0]?.[0] ?? 0;
  if (!padding.every(([a, b]) => a === p && b === p)) {
    throw new SpecError('max-pool padding must be the same on every side');
  }
  const k = kernel as [number, number];
  const s = stride as [number, number];
  return (x) => {
    if (x.rank !== 4) throw new ShapeError(`max-pool supports 2-D inputs (NHWC); got rank ${x.rank}`);
    return tf.maxPool(x as tf.Tensor4D, k, s, p === 0 ? 'valid' : p);
  };
}

type Pad2D = number | [[number, number], [number, number], [number, number], [number, number]];

/**
 * A 2-D conv with its geometry worked out once: one `tf.fused.conv2d` (bias and ReLU fused) or `tf.conv2d`
 * per call, nothing else, so the runtime costs what hand-written tfjs costs.
 */
function conv2dStep(w: tf.Tensor4D, layer: ConvLayerSpec, bias: tf.Tensor | undefined, relu: boolean): Step {
  const [[t, b] = [0, 0], [l, r] = [0, 0]] = layer.padding;
  const pad: Pad2D =
    t === b && t === l && t === r
      ? t
      : [
          [0, 0],
          [t, b],
          [l, r],
          [0, 0],
        ];
  const strides: [number, number] = [layer.stride[0] ?? 1, layer.stride[1] ?? 1];
  const inChannels = w.shape[2];
  const name = layer.name;
  return (x) => {
    if (x.rank !== 4 || x.shape[3] !== inChannels) {
      throw new ShapeError(
        `conv '${name}' expects NHWC input with ${inChannels} channels; got [${x.shape.join(', ')}]`,
      );
    }
    if (!bias && !relu) return tf.conv2d(x as tf.Tensor4D, w, strides, pad as number);
    return tf.fused.conv2d({
      x: x as tf.Tensor4D,
      filter: w,
      strides,
      pad: pad as number,
      bias,
      activation: relu ? 'relu' : 'linear',
    });
  };
}

function compileLayers(layers: LayerSpec[], tensors: TensorMap): Step[] {
  const steps: Step[] = [];
  let lastRelu = false;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    switch (layer.type) {
      case 'conv': {
        const w = requireTensor(tensors, `${layer.name}.weight`);
        const bias = layer.bias ? requireTensor(tensors, `${layer.name}.bias`) : undefined;
        const next = layers[i + 1];
        const reluDirect = next?.type === 'relu';
        const reluAfterPool = next?.type === 'maxpool' && layers[i + 2]?.type === 'relu';
        const relu = reluDirect || reluAfterPool;
        steps.push(
          w.rank === 4
            ? conv2dStep(w as tf.Tensor4D, layer, bias, relu)
            : (x) => convNd(x, w, layer, { bias, relu }),
        );
        if (reluDirect) i += 1;
        if (reluAfterPool) {
          steps.push(maxPoolStep(next.kernel, next.stride, next.padding));
          i += 2;
        }
        lastRelu = relu;
        continue;
      }
      case 'relu':
        if (!lastRelu) steps.push((x) => tf.relu(x));
        lastRelu = true;
        continue;
      case 'ncrelu':
        steps.push(ncrelu);
        break;
      case 'maxpool':
        steps.push(maxPoolStep(layer.kernel, layer.stride, layer.padding));
        // max-pool keeps non-negativity: a ReLU after it stays redundant.
        continue;
      case 'globalAvgPool':
        steps.push((x) =>
          tf.mean(
            x,
            x.shape.slice(1, -1).map((_, j) => j + 1),
          ),
        );
        break;
      case 'linear': {
        const w = requireTensor(tensors, `${layer.name}.weight`) as tf.Tensor2D;
        const b = requireTensor(tensors, `${layer.name}.bias`);
        const { name, inFeatures } = layer;
        steps.push((x) => {
          if (x.rank !== 2 || x.shape[1] !== inFeatures) {
            throw new ShapeError(
              `linear '${name}' expects [N, ${inFeatures}] input; got [${x.shape.join(', ')}]`,
            );
          }
          return tf.add(tf.matMul(x as tf.Tensor2D, w), b);
        });
        break;
      }
      case 'residual': {
        const body = compileLayers(layer.body, tensors);
        const shortcut = compileLayers(layer.shortcut, tensors);
        steps.push((x) => tf.add(run(body, x), shortcut.length ? run(shortcut, x) : x));
        break;
      }
      case 'diracConv':
      case 'batchnorm':
        throw trainingLayer(layer.type, layer.name);
      default:
        throw new SpecError(
          `unknown layer type '${(layer as { type: string }).type}': this version of @dirac/infer cannot run it; upgrade @dirac/infer`,
        );
    }
    lastRelu = false;
  }
  return steps;
}

function run(steps: Step[], x: tf.Tensor): tf.Tensor {
  let y = x;
  for (const step of steps) y = step(y);
  return y;
}

/**
 * Compiles a folded model's layers into a function from an NHWC float batch to logits `[N, classes]`.
 * The returned function runs inside `tf.tidy`: only its result stays allocated (the caller owns it).
 *
 * @throws TrainingFormError when the layers contain Dirac convs or batch norms (the training form)
 * @throws MissingTensorError when a tensor the layers need is absent
 */
export function compileFolded(layers: LayerSpec[], tensors: TensorMap): (x: tf.Tensor) => tf.Tensor {
  const steps = compileLayers(layers, tensors);
  return (x) => tf.tidy(() => run(steps, x));
}

/**
 * The tfjs engine: {@link compileFolded} over the model's tensors, which it owns from now on (dispose()
 * frees them).
 */
export function createTfjsEngine(
  layers: LayerSpec[],
  tensors: TensorMap,
  info: Omit<EngineInfo, 'name'>,
): Engine {
  const run = compileFolded(layers, tensors);
  let owned: TensorMap | undefined = tensors;
  return {
    info: { name: 'tfjs', ...info },
    async run(x) {
      return run(x) as tf.Tensor2D;
    },
    async dispose() {
      if (owned) tf.dispose(Object.values(owned));
      owned = undefined;
    },
  };
}
