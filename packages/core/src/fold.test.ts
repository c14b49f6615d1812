import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpecError } from './errors';
import { countParams, disposeModel, fold, verifyFold } from './fold';
import { forward } from './forward';
import type { LayerSpec, Model, ModelSpec, TensorMap } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let seed = 100;
const rand = (shape: number[], lo = -1, hi = 1) => tf.randomUniform(shape, lo, hi, 'float32', seed++);
const pad1: [number, number][] = [
  [1, 1],
  [1, 1],
];

function bn(name: string, c: number, t: TensorMap): LayerSpec {
  t[`${name}.gamma`] = rand([c], 0.2, 1.5);
  t[`${name}.beta`] = rand([c], -0.5, 0.5);
  t[`${name}.mean`] = rand([c], -0.5, 0.5);
  t[`${name}.var`] = rand([c], 0.3, 2);
  return { type: 'batchnorm', name, channels: c, eps: 1e-5, momentum: 0.1 };
}

function diracConv(name: string, cin: number, cout: number, t: TensorMap, p: 'v1' | 'v2' = 'v2'): LayerSpec {
  t[`${name}.weight`] = rand([3, 3, cin, cout]);
  const n = p === 'v2' ? cout : 1;
  t[`${name}.a`] = rand([n], 0.5, 1.5);
  t[`${name}.b`] = rand([n], 0.05, 0.5);
  return {
    type: 'diracConv',
    name,
    inChannels: cin,
    outChannels: cout,
    kernel: [3, 3],
    stride: [1, 1],
    padding: pad1,
    bias: false,
    parameterization: p,
  };
}

function randomNetwork(widths: number[], opts: { v1?: boolean; residual?: boolean } = {}): Model {
  const t: TensorMap = {};
  const layers: LayerSpec[] = [];
  t['stem.weight'] = rand([5, 5, 3, widths[0]!]);
  layers.push({
    type: 'conv',
    name: 'stem',
    inChannels: 3,
    outChannels: widths[0]!,
    kernel: [5, 5],
    stride: [2, 2],
    padding: [
      [2, 2],
      [2, 2],
    ],
    bias: false,
  });
  layers.push(bn('stem_bn', widths[0]!, t));
  layers.push({ type: 'maxpool', kernel: [3, 3], stride: [2, 2], padding: pad1 });
  let c = widths[0]!;
  widths.forEach((w, i) => {
    if (opts.v1) {
      layers.push({ type: 'ncrelu' });
      layers.push(diracConv(`b${i}.conv`, 2 * c, w, t, 'v1'));
    } else {
      layers.push({ type: 'relu' });
      layers.push(diracConv(`b${i}.conv`, c, w, t));
    }
    layers.push(bn(`b${i}.bn`, w, t));
    c = w;
  });
  if (opts.residual) {
    t['res.conv.weight'] = rand([3, 3, c, c]);
    layers.push({
      type: 'residual',
      name: 'res',
      body: [
        bn('res.bn', c, t),
        { type: 'relu' },
        {
          type: 'conv',
          name: 'res.conv',
          inChannels: c,
          outChannels: c,
          kernel: [3, 3],
          stride: [1, 1],
          padding: pad1,
          bias: false,
        },
      ],
      shortcut: [],
    });
  }
  layers.push({ type: 'relu' }, { type: 'globalAvgPool' });
  t['fc.weight'] = rand([c, 7]);
  t['fc.bias'] = rand([7]);
  layers.push({ type: 'linear', name: 'fc', inFeatures: c, outFeatures: 7 });
  const spec: ModelSpec = {
    format: 'dirac-model',
    formatVersion: 1,
    name: 'random',
    family: 'cifar',
    arch: 'diracnet',
    form: 'training',
    depth: widths.length,
    width: 1,
    numClasses: 7,
    inputShape: [16, 16, 3],
    layers,
  };
  return { spec, tensors: t };
}

describe('fold()', () => {
  const cases: [string, number[], { v1?: boolean; residual?: boolean }][] = [
    ['equal widths', [4, 4, 4], {}],
    ['in != out (growing and shrinking)', [4, 6, 3, 8], {}],
    ['v1 NCReLU blocks', [4, 4, 4], { v1: true }],
    ['a residual block with a pre-activation batch norm that stays', [4, 5], { residual: true }],
  ];
  for (const [label, widths, opts] of cases) {
    it(`agrees with the training form within 1e-5 relative: ${label}`, () => {
      const training = randomNetwork(widths, opts);
      const folded = fold(training);
      expect(folded.spec.form).toBe('folded');
      expect(JSON.stringify(folded.spec.layers)).not.toContain('diracConv');
      const report = verifyFold(training, folded, { batch: 3, seed: 1 });
      expect(report.maxRelError).toBeLessThan(1e-5);
      expect(report.ok).toBe(true);
      disposeModel(training);
      disposeModel(folded);
    });
  }

  it('folds every conv followed by batch norm into weight and bias, dropping a, b and BN', () => {
    const training = randomNetwork([4, 4]);
    const folded = fold(training);
    const names = Object.keys(folded.tensors).sort();
    expect(names).toEqual([
      'b0.conv.bias',
      'b0.conv.weight',
      'b1.conv.bias',
      'b1.conv.weight',
      'fc.bias',
      'fc.weight',
      'stem.bias',
      'stem.weight',
    ]);
    expect(countParams(folded.spec)).toBe(countParams(training.spec) - 2 * 4 * 2 - 2 * 4 * 3 + 4 * 3);
    disposeModel(training);
    disposeModel(folded);
  });

  it('leaves the training model usable after the folded one is disposed', () => {
    const training = randomNetwork([4]);
    const x = rand([1, 16, 16, 3]);
    const before = forward(training.spec, training.tensors, x);
    disposeModel(fold(training));
    const after = forward(training.spec, training.tensors, x);
    expect(after.arraySync()).toEqual(before.arraySync());
    tf.dispose([x, before, after]);
    disposeModel(training);
  });

  it('refuses an already folded model and reports missing tensors by name', () => {
    const training = randomNetwork([4]);
    const folded = fold(training);
    expect(() => fold(folded)).toThrow(SpecError);
    const broken = { spec: training.spec, tensors: { ...training.tensors } };
    delete broken.tensors['b0.bn.var'];
    expect(() => fold(broken)).toThrow(/b0\.bn\.var/);
    disposeModel(training);
    disposeModel(folded);
  });

  it('verifyFold reports a mismatch', () => {
    const training = randomNetwork([4]);
    const folded = fold(training);
    const w = folded.tensors['b0.conv.bias']!;
    folded.tensors['b0.conv.bias'] = tf.add(w, 0.5);
    w.dispose();
    const report = verifyFold(training, folded);
    expect(report.ok).toBe(false);
    expect(report.maxRelError).toBeGreaterThan(1e-3);
    disposeModel(training);
    disposeModel(folded);
  });

  it('does not grow tf.memory().numTensors across 100 folds', () => {
    const training = randomNetwork([4, 6]);
    disposeModel(fold(training));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) disposeModel(fold(training));
    expect(tf.memory().numTensors).toBe(before);
    disposeModel(training);
  });
});

describe('forward() in train mode', () => {
  it('normalizes with batch statistics and hands them to the caller', () => {
    const training = randomNetwork([4]);
    const x = rand([4, 16, 16, 3]);
    const stats: string[] = [];
    const kept: tf.Tensor[] = [];
    const before = tf.memory().numTensors;
    const y = forward(training.spec, training.tensors, x, {
      mode: 'train',
      onBatchStats: (name, s) => {
        stats.push(name);
        kept.push(s.mean, s.variance);
      },
    });
    expect(stats).toEqual(['stem_bn', 'b0.bn']);
    expect(tf.memory().numTensors).toBe(before + 1 + kept.length);
    tf.dispose([y, x, ...kept]);
    disposeModel(training);
  });
});
