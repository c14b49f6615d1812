import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { forward } from './forward';
import type { LayerSpec, ModelSpec } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function spec(layers: LayerSpec[]): ModelSpec {
  return {
    name: 't',
    form: 'training',
    inputShape: [4, 4, 4],
    numClasses: 4,
    layers,
  } as unknown as ModelSpec;
}

describe('forward: ReLU fusion', () => {
  const bn: LayerSpec = { type: 'batchnorm', name: 'bn', channels: 4, eps: 1e-5, momentum: 0.1 };
  const tensors = {
    'bn.gamma': tf.ones([4]),
    'bn.beta': tf.fill([4], 0.1),
    'bn.mean': tf.zeros([4]),
    'bn.var': tf.ones([4]),
  };
  const x = tf.randomNormal([2, 4, 4, 4], 0, 1, 'float32', 1);

  it('consecutive ReLUs (upstream stem + first block) give relu once, in train and eval mode', () => {
    for (const mode of ['train', 'eval'] as const) {
      const once = forward(spec([bn, { type: 'relu' }]), tensors, x, { mode });
      const thrice = forward(spec([bn, { type: 'relu' }, { type: 'relu' }, { type: 'relu' }]), tensors, x, {
        mode,
      });
      expect(tf.max(tf.abs(tf.sub(once, thrice))).dataSync()[0]).toBe(0);
      expect(tf.min(thrice).dataSync()[0]).toBe(0);
    }
    const plain = forward(spec([{ type: 'relu' }, { type: 'relu' }]), tensors, x);
    expect(tf.max(tf.abs(tf.sub(plain, tf.relu(x)))).dataSync()[0]).toBe(0);
  });

  it('a training-mode batch norm absorbs the ReLU after a max-pool (relu∘maxpool = maxpool∘relu)', () => {
    const pool: LayerSpec = {
      type: 'maxpool',
      kernel: [2, 2],
      stride: [2, 2],
      padding: [
        [0, 0],
        [0, 0],
      ],
    };
    const fused = forward(spec([bn, pool, { type: 'relu' }]), tensors, x, { mode: 'train' });
    const ref = tf.relu(
      tf.maxPool(forward(spec([bn]), tensors, x, { mode: 'train' }) as tf.Tensor4D, 2, 2, 'valid'),
    );
    expect(tf.max(tf.abs(tf.sub(fused, ref))).dataSync()[0]).toBeLessThan(1e-6);
  });
});
