import type { LayerSpec, ModelSpec, TensorMap } from '@dirac/core';
import { expectedTensorShapes } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Kaiming-normal std as torch.nn.init.kaiming_normal_ with its defaults (fan_in, gain √2): fan_in is every
 * weight axis but the output one.
 */
function kaimingStd(shape: number[]): number {
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return Math.sqrt(2 / fanIn);
}

function roleOf(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

function batchNormNames(layers: LayerSpec[], out = new Set<string>()): Set<string> {
  for (const l of layers) {
    if (l.type === 'batchnorm') out.add(l.name);
    if (l.type === 'residual') batchNormNames([...l.body, ...l.shortcut], out);
  }
  return out;
}

/**
 * Initial parameters as upstream: conv and FC weights Kaiming normal, Dirac a = 1 and b = 0.1, BN γ ~ U(0, 1),
 * β = 0, running mean 0 and variance 1, biases 0. Reproducible from `seed` on every backend.
 */
export function initParams(spec: Pick<ModelSpec, 'layers'>, seed = 0): TensorMap {
  const shapes = expectedTensorShapes(spec);
  const bnLayers = batchNormNames(spec.layers);
  const out: TensorMap = {};
  Object.entries(shapes).forEach(([name, shape], i) => {
    const layer = name.slice(0, name.lastIndexOf('.'));
    const role = roleOf(name);
    const s = seed * 100_003 + i;
    if (bnLayers.has(layer)) {
      out[name] =
        role === 'gamma'
          ? tf.randomUniform(shape, 0, 1, 'float32', s)
          : role === 'var'
            ? tf.ones(shape)
            : tf.zeros(shape);
    } else if (role === 'weight') {
      out[name] = tf.randomNormal(shape, 0, kaimingStd(shape), 'float32', s);
    } else if (role === 'a') {
      out[name] = tf.ones(shape);
    } else if (role === 'b') {
      out[name] = tf.fill(shape, 0.1);
    } else {
      out[name] = tf.zeros(shape);
    }
  });
  return out;
}
