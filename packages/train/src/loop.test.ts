import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel, initParams } from '@dirac/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrainableModel } from './loop';
import { StepGuard } from './optim/step-guard';

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

  it('a step the guard refuses updates nothing (weights, running statistics, momentum) and names its largest gradient', () => {
    const model = tinyModel(3);
    // A window of tiny norms: any real gradient is far over 10x its median.
    model.guard = new StepGuard({ factor: 10 }, { norms: Array(20).fill(1e-9) });
    const before = Object.fromEntries(
      Object.entries(model.variables).map(([n, v]) => [n, Array.from(v.dataSync())]),
    );
    const n = tf.memory().numTensors;
    const r = model.step(batch, 0.05);
    expect(r.skipped?.accept).toBe(false);
    expect(r.skipped?.median).toBe(1e-9);
    expect(r.gradNorm).toBeGreaterThan(1e-3);
    expect(r.skipped?.largest).toHaveLength(3);
    expect(Object.keys(r.skipped!.norms).sort()).toEqual(Object.keys(model.trainable).sort());
    for (const l of r.skipped!.largest) expect(Object.keys(model.trainable)).toContain(l.name);
    expect(r.skipped!.largest[0]!.norm).toBeLessThanOrEqual(r.gradNorm!);
    expect(r.skipped!.largest[0]!.norm).toBeGreaterThanOrEqual(r.skipped!.largest[1]!.norm);
    // Refused once, computed again (deterministically the same gradient), refused again.
    expect(r.recomputed).toMatchObject({ norm: r.gradNorm, accepted: false });
    expect(r.recomputed?.first.norm).toBe(r.gradNorm);
    for (const [name, v] of Object.entries(model.variables))
      expect(Array.from(v.dataSync()), name).toEqual(before[name]);
    expect(model.optimizer.buffers.size).toBe(0);
    expect(tf.memory().numTensors).toBe(n);
    model.dispose();
  });

  it('a gradient refused once but accepted when computed again (a transient fault) is applied', () => {
    const model = tinyModel(5);
    class RefuseFirst extends StepGuard {
      private calls = 0;
      override check(norm: number) {
        return this.calls++ === 0 ? { accept: false, norm, median: norm / 100 } : super.check(norm);
      }
    }
    model.guard = new RefuseFirst({ factor: 10 });
    const before = Array.from(model.variables['fc.weight']!.dataSync());
    const n = tf.memory().numTensors;
    const r = model.step(batch, 0.05);
    expect(tf.memory().numTensors).toBe(n + model.optimizer.buffers.size);
    expect(r.skipped).toBeUndefined();
    expect(r.recomputed).toMatchObject({ accepted: true, norm: r.gradNorm });
    expect(r.recomputed?.first.norm).toBe(r.gradNorm); // the same batch and weights: the same gradient
    expect(Array.from(model.variables['fc.weight']!.dataSync())).not.toEqual(before);
    model.dispose();
  });

  it('with a guard, ordinary steps are accepted and report their gradient norm and ratio to the median', () => {
    const model = tinyModel(4);
    model.guard = new StepGuard({ factor: 10, warmup: 2 });
    const results = Array.from({ length: 4 }, () => model.step(batch, 0.01));
    expect(results.every((r) => !r.skipped && r.gradNorm! > 0)).toBe(true);
    expect(results[0]!.gradRatio).toBeUndefined();
    expect(results[3]!.gradRatio).toBeGreaterThan(0.1);
    expect(results[3]!.gradRatio).toBeLessThan(10);
    model.dispose();
  });
});
