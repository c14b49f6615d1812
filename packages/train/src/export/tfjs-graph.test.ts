import '@tensorflow/tfjs-backend-cpu';
import { disposeModel, type Model, SpecError, UsageError, useBackend } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  foldedModel,
  maxRelError,
  nchwToNhwc,
  ncreluModel,
  randomNchw,
  referenceLogits,
} from './test-models';
import { exportTfjsGraphModel, type TfjsGraphModel } from './tfjs-graph';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Loads the export as tfjs-converter's file loader would: model.json round-tripped through JSON text. */
async function load(exported: TfjsGraphModel) {
  const modelJson = JSON.parse(JSON.stringify(exported.modelJson));
  const weightSpecs = tf.io.getWeightSpecs(modelJson.weightsManifest);
  const shards = exported.shards.map((s) => s.data.slice().buffer);
  const artifacts = tf.io.getModelArtifactsForJSONSync(
    modelJson,
    weightSpecs,
    tf.io.concatenateArrayBuffers(shards),
  );
  return loadGraphModel(tf.io.fromMemory(artifacts));
}

async function logitsOf(exported: TfjsGraphModel, nchw: Float32Array, shape: number[]) {
  const model = await load(exported);
  const [n, c, h, w] = shape as [number, number, number, number];
  const x = tf.tensor4d(nchwToNhwc(nchw, shape), [n, h, w, c]);
  const y = model.execute({ input: x }, 'logits') as tf.Tensor;
  const out = { data: (await y.data()) as Float32Array, shape: y.shape, model };
  tf.dispose([x, y]);
  return out;
}

describe('exportTfjsGraphModel', () => {
  const models: Model[] = [];
  const keep = (m: Model) => {
    models.push(m);
    return m;
  };
  afterAll(() => models.forEach(disposeModel));

  it('DiracNet-10-1 (CIFAR): same logits as forward(), batch 1 and 5; metadata and signature', async () => {
    const model = keep(foldedModel('diracnet-10-1'));
    const exported = exportTfjsGraphModel(model);
    for (const n of [1, 5]) {
      const shape = [n, 3, 32, 32];
      const x = randomNchw(shape as [number, number, number, number], n);
      const got = await logitsOf(exported, x, shape);
      expect(got.shape).toEqual([n, 10]);
      expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
      expect(got.model.metadata).toMatchObject({
        name: 'diracnet-10-1',
        form: 'folded',
        inputLayout: 'NHWC',
        numClasses: 10,
        preprocessing: model.spec.preprocessing,
      });
      expect(got.model.inputs[0]!.shape).toEqual([-1, 32, 32, 3]);
      got.model.dispose();
    }
    const j = exported.modelJson;
    expect(j.format).toBe('graph-model');
    expect(j.weightsManifest[0]!.paths).toEqual(['group1-shard1of1.bin']);
    const ops = new Set(j.modelTopology.node.map((n) => n.op));
    expect([...ops].sort()).toEqual(
      ['Const', 'Identity', 'Mean', 'MatMul', 'BiasAdd', 'MaxPool', 'Placeholder', '_FusedConv2D'].sort(),
    );
  });

  it('ImageNet DiracNet-18 (width 1/16): dynamic H and W (64x64, 96x80), padded max-pool', async () => {
    const model = keep(foldedModel('diracnet-18', { width: 0.0625 }));
    const exported = exportTfjsGraphModel(model);
    expect(exported.modelJson.signature.inputs.input!.tensorShape.dim.map((d) => d.size)).toEqual([
      '-1',
      '-1',
      '-1',
      '3',
    ]);
    expect(exported.modelJson.modelTopology.node.map((n) => n.op)).toContain('PadV2');
    for (const shape of [
      [2, 3, 64, 64],
      [1, 3, 96, 80],
    ]) {
      const x = randomNchw(shape as [number, number, number, number], shape[2]);
      const got = await logitsOf(exported, x, shape);
      expect(got.shape).toEqual([shape[0], 1000]);
      expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
      got.model.dispose();
    }
  });

  it.each([
    ['wrn-10-1', {}, [3, 3, 32, 32], 'FusedBatchNormV3'],
    ['resnet-18', { width: 0.0625 }, [2, 3, 64, 48], 'AddV2'],
  ] as const)('%s baseline (residual + batch norm): same logits', async (name, opts, shape, op) => {
    const model = keep(foldedModel(name, opts));
    const exported = exportTfjsGraphModel(model);
    expect(exported.modelJson.modelTopology.node.map((n) => n.op)).toContain(op);
    const x = randomNchw([...shape], 7);
    const got = await logitsOf(exported, x, [...shape]);
    expect(maxRelError(got.data, referenceLogits(model, x, [...shape]))).toBeLessThan(1e-4);
    got.model.dispose();
  });

  it('splits the weights into shards of the requested size', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 2));
    const exported = exportTfjsGraphModel(model, { shardBytes: 100_000, metadata: { author: 'me' } });
    expect(exported.shards.length).toBe(Math.ceil(exported.weights.byteLength / 100_000));
    expect(exported.shards.every((s) => s.data.byteLength <= 100_000)).toBe(true);
    expect(exported.shards.at(-1)!.path).toBe(
      `group1-shard${exported.shards.length}of${exported.shards.length}.bin`,
    );
    const shape = [2, 3, 32, 32];
    const x = randomNchw([2, 3, 32, 32], 4);
    const got = await logitsOf(exported, x, shape);
    expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
    expect(got.model.metadata).toMatchObject({ author: 'me' });
    got.model.dispose();
  });

  it('NCReLU (v1 DiracNets) and asymmetric conv padding', async () => {
    const model = keep(ncreluModel(true));
    const exported = exportTfjsGraphModel(model);
    const ops = exported.modelJson.modelTopology.node.map((n) => n.op);
    expect(ops).toEqual(expect.arrayContaining(['ConcatV2', 'Neg', 'Conv2D', 'Relu']));
    const shape = [2, 3, 32, 32];
    const x = randomNchw([2, 3, 32, 32], 9);
    const got = await logitsOf(exported, x, shape);
    expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
    got.model.dispose();
  });

  it('refuses a training-form model and bad options', () => {
    const spec = buildModel('diracnet-10-1');
    const tensors = initParams(spec, 0);
    expect(() => exportTfjsGraphModel({ spec, tensors })).toThrow(SpecError);
    tf.dispose(Object.values(tensors));
    const model = keep(foldedModel('diracnet-10-1'));
    expect(() => exportTfjsGraphModel(model, { shardBytes: 0 })).toThrow(UsageError);
    expect(() => exportTfjsGraphModel(model, { metadata: { signature: {} } })).toThrow(/reserved/);
  });
});

describe('exportTfjsGraphModel on the wasm backend', () => {
  it('ImageNet DiracNet-18 and WRN give the cpu reference logits', async () => {
    const cases = [
      { model: foldedModel('diracnet-18', { width: 0.0625 }), shape: [2, 3, 72, 64] },
      { model: foldedModel('wrn-10-1', {}, 5), shape: [2, 3, 32, 32] },
    ];
    await tf.setBackend('cpu');
    const prepared = cases.map(({ model, shape }) => {
      const x = randomNchw(shape as [number, number, number, number], 3);
      return { exported: exportTfjsGraphModel(model), x, shape, want: referenceLogits(model, x, shape) };
    });
    for (const c of cases) disposeModel(c.model);
    const info = await useBackend('wasm', { threads: 1 });
    expect(info.name).toBe('wasm');
    for (const { exported, x, shape, want } of prepared) {
      const got = await logitsOf(exported, x, shape);
      expect(maxRelError(got.data, want)).toBeLessThan(1e-4);
      got.model.dispose();
    }
    await tf.setBackend('cpu');
  });
});
