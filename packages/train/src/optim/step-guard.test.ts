import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { useBackend } from '@dirac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { globalNorm, gradientNorms, StepGuard } from './step-guard';

describe('StepGuard', () => {
  it('accepts every finite norm while warming up, then refuses one over factor × median', () => {
    const g = new StepGuard({ factor: 10, warmup: 5, window: 50 });
    for (const n of [1, 2, 3, 100, 2]) expect(g.check(n).accept).toBe(true);
    expect(g.median()).toBe(2);
    expect(g.check(20)).toEqual({ accept: true, norm: 20, median: 2 });
    const refused = g.check(1000);
    expect(refused.accept).toBe(false);
    expect(refused.median).toBe(2.5); // the refused norm did not join the window
    expect(g.check(24.9).accept).toBe(true);
  });

  it('refuses non-finite norms even while warming up, and factor 0 refuses only those', () => {
    const g = new StepGuard({ factor: 0, warmup: 1 });
    expect(g.check(Number.NaN).accept).toBe(false);
    expect(g.check(Number.POSITIVE_INFINITY).accept).toBe(false);
    expect(g.check(1).accept).toBe(true);
    expect(g.check(1e30).accept).toBe(true);
  });

  it('keeps only the last `window` norms, and restores from its state', () => {
    const g = new StepGuard({ factor: 3, warmup: 2, window: 3 });
    for (const n of [100, 100, 1, 1, 1]) g.check(n);
    expect(g.state()).toEqual({ norms: [1, 1, 1] });
    const restored = new StepGuard({ factor: 3, warmup: 2, window: 3 }, g.state());
    expect(restored.check(4).accept).toBe(false);
    expect(restored.check(2.9).accept).toBe(true);
  });

  it('rejects a negative or NaN factor', () => {
    expect(() => new StepGuard({ factor: -1 })).toThrow(/factor/);
    expect(() => new StepGuard({ factor: Number.NaN })).toThrow(/factor/);
  });
});

describe('gradientNorms', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`gives each tensor's L2 norm (${backend}) without leaking tensors`, async () => {
      await useBackend(backend);
      const grads = {
        a: tf.tensor2d([
          [3, 0],
          [0, 4],
        ]),
        b: tf.tensor1d(Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i))),
      };
      const expectB = Math.sqrt(
        Array.from({ length: 1000 }, (_, i) => Math.sin(i) ** 2).reduce((s, v) => s + v),
      );
      const n0 = tf.memory().numTensors;
      const norms = gradientNorms(grads);
      expect(tf.memory().numTensors).toBe(n0);
      expect(norms.a).toBeCloseTo(5, 5);
      expect(norms.b).toBeCloseTo(expectB, 3);
      expect(globalNorm(norms)).toBeCloseTo(Math.sqrt(25 + expectB ** 2), 3);
      tf.dispose(Object.values(grads));
    });
  }
});
