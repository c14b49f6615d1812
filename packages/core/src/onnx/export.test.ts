/**
 * @dirac/core/onnx on a small hand-made folded network (conv + ReLU, max-pool, a residual block, global
 * average pool, linear): float32 (NCHW and NHWC input), fp16 and calibrated int8 exports run in
 * onnxruntime-node and match forward(). The registry networks are tested in @dirac/train
 * (src/export/onnx.test.ts), which depends on @dirac/models.
 */
import '@tensorflow/tfjs-backend-cpu';
import {
  calibrateActivations,
  exportOnnx,
  lowerModel,
  readOnnxMetadata,
  withOnnxMetadata,
} from '@dirac/core/onnx';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeModel, forward, type Model, type ModelSpec, SpecError } from '../index';

const conv = (name: string, inChannels: number, outChannels: number) => ({
  type: 'conv' as const,
  name,
  inChannels,
  outChannels,
  kernel: [3, 3],
  stride: [1, 1],
  padding: [
    [1, 1],
    [1, 1],
  ] as [number, number][],
  bias: true,
});

function tinyModel(): Model {
  const spec: ModelSpec = {
    format: 'dirac-model',
    formatVersion: 1,
    name: 'tiny',
    family: 'cifar',
    arch: 'diracnet',
    form: 'folded',
    depth: 3,
    width: 1,
    numClasses: 3,
    inputShape: [8, 8, 3],
    layers: [
      conv('c0', 3, 4),
      { type: 'relu' },
      {
        type: 'maxpool',
        kernel: [2, 2],
        stride: [2, 2],
        padding: [
          [0, 0],
          [0, 0],
        ],
      },
      { type: 'residual', name: 'res', body: [conv('res.c1', 4, 4), { type: 'relu' }], shortcut: [] },
      { type: 'globalAvgPool' },
      { type: 'linear', name: 'fc', inFeatures: 4, outFeatures: 3 },
    ],
  };
  const r = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 0.5, 'float32', seed);
  return {
    spec,
    tensors: {
      'c0.weight': r([3, 3, 3, 4], 1),
      'c0.bias': r([4], 2),
      'res.c1.weight': r([3, 3, 4, 4], 3),
      'res.c1.bias': r([4], 4),
      'fc.weight': r([4, 3], 5),
      'fc.bias': r([3], 6),
    },
  };
}

let model: Model;
const x = () => tf.randomNormal([5, 8, 8, 3], 0, 1, 'float32', 9) as tf.Tensor4D;

beforeAll(async () => {
  await tf.setBackend('cpu');
  model = tinyModel();
});
afterAll(() => disposeModel(model));

async function run(bytes: Uint8Array, input: tf.Tensor4D, layout: 'NCHW' | 'NHWC' = 'NCHW') {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const t = layout === 'NCHW' ? tf.transpose(input, [0, 3, 1, 2]) : input;
    const data = t.dataSync() as Float32Array;
    if (t !== input) t.dispose();
    const out = await session.run({ input: new ort.Tensor('float32', data, t.shape) });
    return out.logits!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - want[i]!));
    m = Math.max(m, Math.abs(want[i]!));
  }
  return d / m;
}

describe('@dirac/core/onnx', () => {
  it('float32 (NCHW and NHWC input), fp16 and int8 exports match forward()', async () => {
    const input = x();
    const want = tf.tidy(() => forward(model.spec, model.tensors, input, { mode: 'eval' }).dataSync());
    expect(relErr(await run(exportOnnx(model), input), want)).toBeLessThan(1e-5);
    expect(relErr(await run(exportOnnx(model, { inputLayout: 'NHWC' }), input, 'NHWC'), want)).toBeLessThan(
      1e-5,
    );
    const fp16 = await run(exportOnnx(model, { quantize: 'fp16' }), input);
    expect(relErr(fp16, want)).toBeLessThan(5e-3);
    const table = await calibrateActivations(model, [input]);
    expect(Object.keys(table.ranges).sort()).toEqual(['0', '1', '2', '2.body.0', '3', '4', 'input']);
    expect(table.ranges['0']![0]).toBe(0); // after the fused ReLU
    const int8 = await run(exportOnnx(model, { quantize: 'int8', calibration: table }), input);
    expect(relErr(int8, want)).toBeLessThan(0.05);
    input.dispose();
  });

  it('lowers the layers as both exporters see them; refuses the training form', () => {
    const ops = lowerModel(model).ops.map((o) => o.op);
    expect(ops).toEqual(['conv', 'maxpool', 'residual', 'globalAvgPool', 'linear']);
    const training = { ...model, spec: { ...model.spec, form: 'training' as const } };
    expect(() => exportOnnx(training)).toThrow(SpecError);
  });

  it('metadata: written by the exporter, replaced by withOnnxMetadata', () => {
    const bytes = exportOnnx(model, { metadata: { note: 'a' } });
    expect(readOnnxMetadata(bytes)).toMatchObject({
      name: 'tiny',
      form: 'folded',
      inputLayout: 'NCHW',
      note: 'a',
    });
    const again = withOnnxMetadata(bytes, { note: 'b', metrics: '{}' });
    expect(readOnnxMetadata(again)).toMatchObject({ name: 'tiny', note: 'b', metrics: '{}' });
  });
});
