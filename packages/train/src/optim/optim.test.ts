import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { learningRate, paperMilestones } from './schedules';
import { decays, Sgd } from './sgd';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('learning-rate schedules', () => {
  it("step: the paper's x0.2 at 60, 120, 160 of 200 epochs", () => {
    const s = { name: 'step' as const, lr: 0.1, epochs: 200 };
    expect(paperMilestones(200)).toEqual([60, 120, 160]);
    expect(learningRate(s, 0)).toBeCloseTo(0.1);
    expect(learningRate(s, 59.9)).toBeCloseTo(0.1);
    expect(learningRate(s, 60)).toBeCloseTo(0.02);
    expect(learningRate(s, 130)).toBeCloseTo(0.004);
    expect(learningRate(s, 199)).toBeCloseTo(0.0008);
    expect(learningRate({ ...s, gamma: 0.1, milestones: [30, 60, 90], epochs: 100 }, 95)).toBeCloseTo(1e-4);
  });

  it('cosine decays from lr to 0; onecycle warms up from lr/25 then anneals', () => {
    const c = { name: 'cosine' as const, lr: 0.2, epochs: 10 };
    expect(learningRate(c, 0)).toBeCloseTo(0.2);
    expect(learningRate(c, 5)).toBeCloseTo(0.1);
    expect(learningRate(c, 10)).toBeCloseTo(0);
    const o = { name: 'onecycle' as const, lr: 0.1, epochs: 20 };
    expect(learningRate(o, 0)).toBeCloseTo(0.004);
    expect(learningRate(o, 3)).toBeCloseTo(0.1);
    expect(learningRate(o, 20)).toBeCloseTo(1e-5);
    expect(learningRate(o, 10)).toBeLessThan(0.1);
  });
});

describe('SGD', () => {
  it('follows torch.optim.SGD (momentum, Nesterov, decay on 2-D+ weights only)', () => {
    const w = tf.variable(tf.tensor2d([[1, -2]]));
    const bias = tf.variable(tf.tensor1d([0.5]));
    expect(decays(w)).toBe(true);
    expect(decays(bias)).toBe(false);
    const sgd = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    const g = { w: tf.tensor2d([[0.5, 0.5]]), bias: tf.tensor1d([1]) };
    // Hand-computed torch semantics: d = g + wd*w; buf = d (first step); update = d + m*buf.
    sgd.step({ w, bias }, g, 0.1);
    const d1 = [0.5 + 0.1 * 1, 0.5 + 0.1 * -2];
    const w1 = [1 - 0.1 * (d1[0]! + 0.9 * d1[0]!), -2 - 0.1 * (d1[1]! + 0.9 * d1[1]!)];
    expect(Array.from(w.dataSync())[0]).toBeCloseTo(w1[0]!, 6);
    expect(Array.from(w.dataSync())[1]).toBeCloseTo(w1[1]!, 6);
    expect(bias.dataSync()[0]).toBeCloseTo(0.5 - 0.1 * (1 + 0.9 * 1), 6);
    // Second step: buf = m*buf + d.
    sgd.step({ w, bias }, g, 0.1);
    const buf = 0.9 * 1 + 1;
    expect(bias.dataSync()[0]).toBeCloseTo(0.5 - 0.19 - 0.1 * (1 + 0.9 * buf), 5);
    const state = sgd.state();
    expect(Object.keys(state).sort()).toEqual(['bias', 'w']);
    const restored = new Sgd(sgd.options);
    restored.load(Object.fromEntries(Object.entries(state).map(([k, t]) => [k, tf.clone(t)])));
    expect(restored.state().bias!.dataSync()[0]).toBeCloseTo(buf, 6);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) sgd.step({ w, bias }, g, 0.01);
    expect(tf.memory().numTensors).toBe(before);
    sgd.dispose();
    restored.dispose();
    tf.dispose([w, bias, g.w, g.bias]);
  });
});

describe('SGD on wasm (in-place heap path)', () => {
  it('gives the same parameters and momentum as the tf-ops path, and leaks nothing', async () => {
    const { useBackend, wasmHeapViews } = await import('@dirac/core');
    const variable = (t: tf.Tensor) => {
      const v = tf.variable(t);
      t.dispose();
      return v;
    };
    const run = (steps: number) => {
      const w = variable(
        tf.tensor2d([
          [1, -2, 3],
          [0.5, 0, -1],
        ]),
      );
      const b = variable(tf.tensor1d([0.5, -0.5, 2]));
      if (tf.getBackend() === 'wasm') expect(wasmHeapViews([w, b])).not.toBeNull();
      const sgd = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.05 });
      for (let i = 0; i < steps; i++) {
        const g = { w: tf.fill([2, 3], 0.1 * (i + 1)), b: tf.tensor1d([1, -1, 0.5 * i]) };
        sgd.step({ w, b }, g, 0.1 / (i + 1));
        tf.dispose(Object.values(g));
      }
      const out = [Array.from(w.dataSync()), Array.from(b.dataSync()), Array.from(sgd.state().w!.dataSync())];
      sgd.dispose();
      tf.dispose([w, b]);
      return out;
    };
    const reference = run(4);
    await useBackend('wasm', { threads: 1 });
    const before = tf.memory().numTensors;
    const fast = run(4);
    expect(tf.memory().numTensors).toBe(before);
    for (let k = 0; k < 3; k++) {
      for (const [i, v] of fast[k]!.entries()) expect(v).toBeCloseTo(reference[k]![i]!, 5);
    }
    await tf.setBackend('cpu');
  });
});
