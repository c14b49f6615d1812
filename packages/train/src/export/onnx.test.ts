import '@tensorflow/tfjs-backend-cpu';
import { disposeModel, type Model, SpecError, UsageError } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOnnx, ONNX_OPSET_RANGE } from './onnx';
import { ModelProto } from './onnx-proto';
import { foldedModel, maxRelError, ncreluModel, randomNchw, referenceLogits } from './test-models';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: number[], inputName = 'input') {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', x, shape) });
    const y = out[session.outputNames[0]!]!;
    return { data: y.data as Float32Array, dims: [...y.dims], session };
  } finally {
    await session.release();
  }
}

interface Decoded {
  irVersion: number;
  producerName: string;
  opsetImport: { domain?: string; version: number }[];
  metadataProps: { key: string; value: string }[];
  graph: {
    node: { opType: string; attribute?: { name: string }[] }[];
    input: {
      name: string;
      type: { tensorType: { shape: { dim: { dimValue?: number; dimParam?: string }[] } } };
    }[];
    output: {
      name: string;
      type: { tensorType: { shape: { dim: { dimValue?: number; dimParam?: string }[] } } };
    }[];
  };
}

function decode(bytes: Uint8Array): Decoded {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as Decoded;
}

const dims = (d: { dimValue?: number; dimParam?: string }[]) => d.map((x) => x.dimParam ?? x.dimValue);

describe('exportOnnx', () => {
  const models: Model[] = [];
  const keep = (m: Model) => {
    models.push(m);
    return m;
  };
  afterAll(() => models.forEach(disposeModel));

  it('DiracNet-10-1 (CIFAR): same logits as forward() for a batch of 1 and of 5; fixed H, W', async () => {
    const model = keep(foldedModel('diracnet-10-1'));
    const bytes = exportOnnx(model);
    for (const n of [1, 5]) {
      const shape = [n, 3, 32, 32];
      const x = randomNchw(shape as [number, number, number, number], n);
      const got = await runOnnx(bytes, x, shape);
      expect(got.dims).toEqual([n, 10]);
      expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
    }
    const g = decode(bytes).graph;
    expect(dims(g.input[0]!.type.tensorType.shape.dim)).toEqual(['batch', 3, 32, 32]);
    expect(dims(g.output[0]!.type.tensorType.shape.dim)).toEqual(['batch', 10]);
    expect(g.output[0]!.name).toBe('logits');
    const ops = new Set(g.node.map((n) => n.opType));
    expect([...ops].sort()).toEqual(['Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu']);
  });

  it('ImageNet DiracNet-18 (width 1/16): dynamic H and W (64x64, 96x80) and batch', async () => {
    const model = keep(foldedModel('diracnet-18', { width: 0.0625 }));
    const bytes = exportOnnx(model);
    const g = decode(bytes).graph;
    expect(dims(g.input[0]!.type.tensorType.shape.dim)).toEqual(['batch', 3, 'height', 'width']);
    for (const shape of [
      [2, 3, 64, 64],
      [1, 3, 96, 80],
    ]) {
      const x = randomNchw(shape as [number, number, number, number], shape[2]);
      const got = await runOnnx(bytes, x, shape);
      expect(got.dims).toEqual([shape[0], 1000]);
      expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
    }
  });

  it.each([
    ['wrn-10-1', {}, [3, 3, 32, 32], 'BatchNormalization'],
    ['resnet-18', { width: 0.0625 }, [2, 3, 64, 48], 'Add'],
  ] as const)('%s baseline (residual + batch norm): same logits', async (name, opts, shape, op) => {
    const model = keep(foldedModel(name, opts));
    const bytes = exportOnnx(model);
    const ops = decode(bytes).graph.node.map((n) => n.opType);
    expect(ops).toContain(op);
    expect(ops).toContain('Add');
    const x = randomNchw([...shape], 7);
    const got = await runOnnx(bytes, x, [...shape]);
    expect(maxRelError(got.data, referenceLogits(model, x, [...shape]))).toBeLessThan(1e-4);
  });

  it('writes metadata, producer, opset and IR version; custom names', async () => {
    const base = keep(foldedModel('diracnet-10-1'));
    const model: Model = {
      spec: { ...base.spec, labels: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] },
      tensors: base.tensors,
    };
    const bytes = exportOnnx(model, {
      opset: 13,
      inputName: 'pixels',
      outputName: 'scores',
      metadata: { author: 'me' },
    });
    const m = decode(bytes);
    expect(m.producerName).toBe('dirac');
    expect(m.irVersion).toBe(7);
    expect(m.opsetImport).toEqual([{ domain: '', version: 13 }]);
    const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
    expect(meta).toMatchObject({ name: 'diracnet-10-1', form: 'folded', inputLayout: 'NCHW', author: 'me' });
    expect(JSON.parse(meta.labels!)).toEqual(model.spec.labels);
    expect(JSON.parse(meta.preprocessing!)).toEqual(model.spec.preprocessing);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['pixels']);
    expect(session.outputNames).toEqual(['scores']);
    await session.release();
  });

  it('every opset in range loads in onnxruntime and agrees', async () => {
    const model = keep(foldedModel('wrn-10-1', {}, 3));
    const shape = [1, 3, 32, 32];
    const x = randomNchw([1, 3, 32, 32], 3);
    const want = referenceLogits(model, x, shape);
    for (let opset = ONNX_OPSET_RANGE.min; opset <= ONNX_OPSET_RANGE.max; opset++) {
      const got = await runOnnx(exportOnnx(model, { opset }), x, shape);
      expect(maxRelError(got.data, want), `opset ${opset}`).toBeLessThan(1e-4);
    }
  });

  it('NCReLU (v1 DiracNets) exports as Relu/Neg/Concat', async () => {
    const model = keep(ncreluModel());
    const shape = [2, 3, 32, 32];
    const x = randomNchw([2, 3, 32, 32], 9);
    const got = await runOnnx(exportOnnx(model), x, shape);
    expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
  });

  it('refuses a training-form model, bad opsets and names', () => {
    const spec = buildModel('diracnet-10-1');
    const tensors = initParams(spec, 0);
    const training = { spec, tensors };
    expect(() => exportOnnx(training)).toThrow(SpecError);
    expect(() => exportOnnx(training)).toThrow(/fold/);
    tf.dispose(Object.values(tensors));
    const model = keep(foldedModel('diracnet-10-1'));
    expect(() => exportOnnx(model, { opset: 12 })).toThrow(UsageError);
    expect(() => exportOnnx(model, { opset: ONNX_OPSET_RANGE.max + 1 })).toThrow(/opset/);
    expect(() => exportOnnx(model, { opset: 17.5 })).toThrow(UsageError);
    expect(() => exportOnnx(model, { inputName: 'x', outputName: 'x' })).toThrow(UsageError);
  });
});
