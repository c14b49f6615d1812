import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  disposeModel,
  fold,
  forward,
  type ModelSpec,
  type TensorMap,
  UsageError,
  verifyFold,
} from '@dirac/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initParams } from './init';
import { buildModel } from './registry';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Trained-looking BN statistics, so that folding is tested on more than the identity. */
function randomizeBatchNorm(spec: ModelSpec, tensors: TensorMap, seed: number): void {
  let s = seed;
  for (const name of Object.keys(tensors)) {
    const role = name.slice(name.lastIndexOf('.') + 1);
    const lohi: Record<string, [number, number]> = {
      mean: [-0.3, 0.3],
      var: [0.5, 2],
      beta: [-0.2, 0.2],
      a: [0.7, 1.3],
      b: [0.05, 0.3],
    };
    const r = lohi[role];
    if (!r) continue;
    const old = tensors[name]!;
    tensors[name] = tf.randomUniform(old.shape, r[0], r[1], 'float32', s++);
    old.dispose();
  }
  expect(spec.layers.length).toBeGreaterThan(0);
}

const cases: [string, { dataset?: 'cifar10' | 'cifar100' | 'imagenet'; width?: number }, number[], number][] =
  [
    ['diracnet-10-0.25', {}, [32, 32, 3], 10],
    ['diracnet-16-0.5', { dataset: 'cifar100' }, [32, 32, 3], 100],
    ['plain-10-0.25', {}, [32, 32, 3], 10],
    ['wrn-10-0.25', {}, [32, 32, 3], 10],
    ['diracnet-18', { width: 0.0625 }, [64, 64, 3], 1000],
    ['diracnet-34', { width: 0.0625 }, [96, 80, 3], 1000],
    ['plain-18', { width: 0.0625 }, [64, 64, 3], 1000],
    ['resnet-18', { width: 0.0625 }, [64, 64, 3], 1000],
    ['resnet-34', { width: 0.0625 }, [64, 64, 3], 1000],
  ];

describe('every builder, both forms', () => {
  for (const [name, opts, input, classes] of cases) {
    it(`${name}: output shape, and fold agrees within 1e-5 relative`, () => {
      const spec = buildModel(name, opts);
      expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
      const training = { spec, tensors: initParams(spec, 1) };
      randomizeBatchNorm(spec, training.tensors, 7);
      const x = tf.randomNormal([2, ...input], 0, 1, 'float32', 3);
      const y = forward(spec, training.tensors, x);
      expect(y.shape).toEqual([2, classes]);
      const folded = fold(training);
      const yf = forward(folded.spec, folded.tensors, x);
      expect(yf.shape).toEqual([2, classes]);
      const report = verifyFold(training, folded, { input: x });
      expect(report.maxRelError).toBeLessThan(1e-5);
      tf.dispose([x, y, yf]);
      disposeModel(training);
      disposeModel(folded);
    });
  }

  it('train-mode forward works and keeps memory flat across repeated calls', () => {
    const spec = buildModel('diracnet-10-0.25');
    const tensors = initParams(spec, 2);
    const x = tf.randomNormal([4, 32, 32, 3]);
    const run = () => {
      const kept: tf.Tensor[] = [];
      const y = forward(spec, tensors, x, {
        mode: 'train',
        onBatchStats: (_n, s) => kept.push(s.mean, s.variance),
      });
      tf.dispose([y, ...kept]);
      forward(spec, tensors, x).dispose();
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...Object.values(tensors)]);
  });
});

describe('initialization', () => {
  it('is reproducible from a seed and matches upstream (a = 1, b = 0.1, γ in [0, 1), Kaiming std)', () => {
    const spec = buildModel('diracnet-10-1');
    const t1 = initParams(spec, 5);
    const t2 = initParams(spec, 5);
    const t3 = initParams(spec, 6);
    const w = 'group1.block1.conv.weight';
    expect(t1[w]!.dataSync()).toEqual(t2[w]!.dataSync());
    expect(t1[w]!.dataSync()).not.toEqual(t3[w]!.dataSync());
    const data = t1[w]!.dataSync();
    const std = Math.sqrt(Array.from(data).reduce((a, v) => a + v * v, 0) / data.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (9 * 32)), 2);
    expect(Array.from(t1['group0.block0.conv.a']!.dataSync())).toEqual(Array(16).fill(1));
    expect(t1['group0.block0.conv.b']!.dataSync()[0]).toBeCloseTo(0.1, 6);
    const g = t1['group0.block0.bn.gamma']!.dataSync();
    expect(Math.min(...g)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...g)).toBeLessThan(1);
    expect(Array.from(t1['fc.bias']!.dataSync())).toEqual(Array(10).fill(0));
    for (const t of [t1, t2, t3]) tf.dispose(Object.values(t));
  });
});

describe('registry', () => {
  it('rejects unknown names, impossible depths and mismatched datasets with clear errors', () => {
    expect(() => buildModel('diracnet-27-10')).toThrow(/6n \+ 4/);
    expect(() => buildModel('diracnet-20')).toThrow(/18 or 34/);
    expect(() => buildModel('vgg-16')).toThrow(UsageError);
    expect(() => buildModel('diracnet-28-10', { dataset: 'imagenet' })).toThrow(/CIFAR/);
    expect(() => buildModel('diracnet-18', { dataset: 'cifar10' })).toThrow(/ImageNet/);
    expect(() => buildModel('diracnet-28-0')).toThrow(/width/);
  });
});
