import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel, initParams } from '@dirac/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrainableModel } from './loop';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function tinyModel(seed = 0) {
  const spec = buildModel('diracnet-10-0.25');
  const init = initParams(spec, seed);
  const model = new TrainableModel(spec, init, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  tf.dispose(Object.values(init));
  return model;
}

const batch = {
  x: Float32Array.from({ length: 8 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.37)),
  y: Int32Array.from({ length: 8 }, (_, i) => i % 10),
  n: 8,
};

describe('TrainableModel.step', () => {
  it('updates every trainable parameter, updates BN running statistics, and lowers the loss', () => {
    const model = tinyModel();
    const before = Object.fromEntries(
      Object.entries(model.variables).map(([n, v]) => [n, Array.from(v.dataSync())]),
    );
    const first = model.step(batch, 0.05);
    for (const [name, v] of Object.entries(model.variables)) {
      expect(Array.from(v.dataSync()), name).not.toEqual(before[name]);
    }
    let last = first.loss;
    for (let i = 0; i < 8; i++) last = model.step(batch, 0.05).loss;
    expect(last).toBeLessThan(first.loss - 0.05);
    model.dispose();
  });

  it('two models live side by side, and memory stays flat across steps', () => {
    const a = tinyModel(1);
    const b = tinyModel(2);
    a.step(batch, 0.01);
    b.step(batch, 0.01);
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      a.step(batch, 0.01);
      b.step(batch, 0.01);
    }
    expect(tf.memory().numTensors).toBe(n);
    a.dispose();
    b.dispose();
  });
});
