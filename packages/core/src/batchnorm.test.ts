import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormTraining, updateRunningStats } from './batchnorm';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The textbook formulation, differentiated by tfjs itself. */
function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

describe('batchNormTraining', () => {
  it('matches the textbook forward, statistics and gradients (x, γ, β)', () => {
    const x = tf.randomNormal([4, 5, 3, 6], 0.5, 2, 'float32', 1);
    const gamma = tf.randomUniform([6], 0.2, 1.5, 'float32', 2);
    const beta = tf.randomUniform([6], -1, 1, 'float32', 3);
    const w = tf.randomNormal([4, 5, 3, 6], 0, 1, 'float32', 4);
    const ours = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { y, stats } = batchNormTraining(a, { gamma: g, beta: b, eps: 1e-5 });
      tf.dispose([stats.mean, stats.variance]);
      return tf.sum(tf.mul(y, w));
    };
    const ref = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(a, g, b, 1e-5), w));
    const ga = tf.grads(ours)([x, gamma, beta]);
    const gb = tf.grads(ref)([x, gamma, beta]);
    for (let i = 0; i < 3; i++) {
      const diff = tf.max(tf.abs(tf.sub(ga[i]!, gb[i]!))).dataSync()[0]!;
      const scale = tf.max(tf.abs(gb[i]!)).dataSync()[0]!;
      expect(diff / scale).toBeLessThan(1e-4);
    }
    const { y, stats } = batchNormTraining(x, { gamma, beta, eps: 1e-5 });
    const m = tf.moments(x, [0, 1, 2]);
    expect(tf.max(tf.abs(tf.sub(y, reference(x, gamma, beta, 1e-5)))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(stats.variance, m.variance))).dataSync()[0]).toBeLessThan(1e-5);
    expect(stats.count).toBe(60);
  });

  it('updates running statistics as PyTorch (unbiased variance, momentum 0.1)', () => {
    const running = { mean: tf.zeros([2]), variance: tf.ones([2]) };
    const batch = { mean: tf.tensor1d([1, 2]), variance: tf.tensor1d([4, 8]), count: 5 };
    const next = updateRunningStats(running, batch, 0.1);
    expect(Array.from(next.mean.dataSync())).toEqual([0.1, 0.2].map((v) => Math.fround(v)));
    const v = next.variance.dataSync();
    expect(v[0]).toBeCloseTo(0.9 + 0.1 * 4 * 1.25, 5);
    expect(v[1]).toBeCloseTo(0.9 + 0.1 * 8 * 1.25, 5);
  });
});
