import '@tensorflow/tfjs-backend-cpu';
import { disposeModel, type Model, SpecError, UsageError } from '@dirac/core';
import {
  calibrateActivations,
  exportOnnx,
  ModelProto,
  ONNX_OPSET_RANGE,
  readOnnxMetadata,
  withOnnxMetadata,
} from '@dirac/core/onnx';
import { buildModel, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  foldedModel,
  maxRelError,
  nchwToNhwc,
  ncreluModel,
  randomNchw,
  referenceLogits,
} from './test-models';

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
    node: { opType: string; name?: string; attribute?: { name: string }[] }[];
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

  it('NHWC input layout: a Transpose starts the graph, same logits', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 4));
    const shape = [3, 3, 32, 32];
    const x = randomNchw([3, 3, 32, 32], 4);
    const bytes = exportOnnx(model, { inputLayout: 'NHWC' });
    const m = decode(bytes);
    expect(m.graph.node[0]!.opType).toBe('Transpose');
    expect(dims(m.graph.input[0]!.type.tensorType.shape.dim)).toEqual(['batch', 32, 32, 3]);
    expect(readOnnxMetadata(bytes).inputLayout).toBe('NHWC');
    const got = await runOnnx(bytes, nchwToNhwc(x, shape), [3, 32, 32, 3]);
    expect(maxRelError(got.data, referenceLogits(model, x, shape))).toBeLessThan(1e-4);
  });

  it('fp16: float16 weights cast to float32 once; half the bytes, logits within float16 rounding', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 5));
    const shape = [4, 3, 32, 32];
    const x = randomNchw([4, 3, 32, 32], 5);
    const fp32 = exportOnnx(model);
    const fp16 = exportOnnx(model, { quantize: 'fp16' });
    expect(fp16.byteLength).toBeLessThan(0.56 * fp32.byteLength);
    const m = ModelProto.toObject(ModelProto.decode(fp16), { longs: Number, defaults: false }) as {
      graph: { initializer: { dataType: number }[]; node: { opType: string }[] };
    };
    expect(new Set(m.graph.initializer.map((i) => i.dataType))).toEqual(new Set([10]));
    expect(m.graph.node.filter((n) => n.opType === 'Cast').length).toBeGreaterThan(0);
    expect(JSON.parse(readOnnxMetadata(fp16).quantization!)).toEqual({
      weights: 'float16',
      compute: 'float32',
    });
    const got = await runOnnx(fp16, x, shape);
    const err = maxRelError(got.data, referenceLogits(model, x, shape));
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(1e-2);
  });

  it.each([
    ['diracnet-10-1', {}, [8, 3, 32, 32]],
    ['diracnet-18', { width: 0.0625 }, [2, 3, 64, 64]],
    ['wrn-10-1', {}, [4, 3, 32, 32]],
  ] as const)(
    'int8 (QDQ, calibrated) %s: runs in onnxruntime, close to float32',
    async (name, opts, shape) => {
      const model = keep(foldedModel(name, opts, 6));
      const [n, c, h, w] = shape;
      const calib = [randomNchw([16, c, h, w], 11), randomNchw([16, c, h, w], 12)].map((b) =>
        tf.tensor4d(nchwToNhwc(b, [16, c, h, w]), [16, h, w, c]),
      );
      const table = await calibrateActivations(model, calib);
      tf.dispose(calib);
      expect(table.images).toBe(32);
      expect(table.ranges.input![0]).toBeLessThan(0);
      const bytes = exportOnnx(model, { quantize: 'int8', calibration: table });
      const ops = decode(bytes).graph.node.map((x) => x.opType);
      expect(ops).toContain('QuantizeLinear');
      expect(ops).toContain('DequantizeLinear');
      const meta = JSON.parse(readOnnxMetadata(bytes).quantization!);
      expect(meta).toMatchObject({ format: 'QDQ', calibration: { method: 'minmax', images: 32 } });
      const x = randomNchw([n, c, h, w], 13);
      const got = await runOnnx(bytes, x, [...shape]);
      const want = referenceLogits(model, x, [...shape]);
      const err = maxRelError(got.data, want);
      expect(err).toBeGreaterThan(0);
      expect(err).toBeLessThan(0.15);
      // Percentile calibration works too and gives (slightly) different ranges.
      const again = [tf.tensor4d(nchwToNhwc(x, [...shape]), [n, h, w, c])];
      const pct = await calibrateActivations(model, again, { method: 'percentile', percentile: 99.9 });
      tf.dispose(again);
      expect(pct.method).toBe('percentile');
      const q = await runOnnx(exportOnnx(model, { quantize: 'int8', calibration: pct }), x, [...shape]);
      expect(maxRelError(q.data, want)).toBeLessThan(0.3);
    },
  );

  it('int8 splits Dirac convs into an int8 filter and an exact int8 identity path, closer to float32', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 6));
    const shape = [8, 3, 32, 32];
    const calib = [
      tf.tensor4d(nchwToNhwc(randomNchw([16, 3, 32, 32], 21), [16, 3, 32, 32]), [16, 32, 32, 3]),
    ];
    const table = await calibrateActivations(model, calib);
    tf.dispose(calib);
    const split = exportOnnx(model, { quantize: 'int8', calibration: table });
    const whole = exportOnnx(model, { quantize: 'int8', calibration: table, splitIdentity: false });
    // a table from before the split (no .split/.identity ranges) exports every conv whole
    const older = Object.fromEntries(
      Object.entries(table.ranges).filter(([k]) => !/\.(split|identity)$/.test(k)),
    );
    expect(exportOnnx(model, { quantize: 'int8', calibration: { ...table, ranges: older } })).toEqual(whole);
    const layers = JSON.parse(readOnnxMetadata(split).quantization!).identitySplitLayers as string[];
    // every Dirac conv, the widening first ones of groups 1 and 2 too; not the stem conv (3 inputs, no identity)
    expect(layers).toEqual([
      'group0.block0.conv',
      'group0.block1.conv',
      'group1.block0.conv',
      'group1.block1.conv',
      'group2.block0.conv',
      'group2.block1.conv',
    ]);
    expect(JSON.parse(readOnnxMetadata(whole).quantization!).identitySplitLayers).toBeUndefined();
    const depthwise = (bytes: Uint8Array) =>
      decode(bytes).graph.node.filter((n) => n.opType === 'Conv' && n.name?.endsWith('.identity_path'))
        .length;
    expect(depthwise(split)).toBe(layers.length);
    expect(depthwise(whole)).toBe(0);
    const x = randomNchw(shape as [number, number, number, number], 22);
    const want = referenceLogits(model, x, shape);
    const errSplit = maxRelError((await runOnnx(split, x, shape)).data, want);
    const errWhole = maxRelError((await runOnnx(whole, x, shape)).data, want);
    expect(errSplit).toBeLessThan(errWhole);
  });

  it('int8 with keepFloat leaves the named layers in float32', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 9));
    const calib = [tf.tensor4d(nchwToNhwc(randomNchw([8, 3, 32, 32], 3), [8, 3, 32, 32]), [8, 32, 32, 3])];
    const table = await calibrateActivations(model, calib);
    tf.dispose(calib);
    const bytes = exportOnnx(model, { quantize: 'int8', calibration: table, keepFloat: ['conv', 'fc'] });
    const m = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as {
      graph: {
        initializer: { name: string; dataType: number }[];
        node: { opType: string; input: string[] }[];
      };
    };
    const type = (name: string) => m.graph.initializer.find((i) => i.name === name)?.dataType;
    expect(type('conv.weight')).toBe(1);
    expect(type('fc.weight')).toBe(1);
    expect(type('group0.block0.conv.weight.int8')).toBe(3);
    const first = m.graph.node.find((n) => n.opType === 'Conv')!;
    expect(first.input[0]).toBe('input');
    expect(JSON.parse(readOnnxMetadata(bytes).quantization!).float32Layers).toEqual(['conv', 'fc']);
    const x = randomNchw([2, 3, 32, 32], 4);
    const got = await runOnnx(bytes, x, [2, 3, 32, 32]);
    expect(maxRelError(got.data, referenceLogits(model, x, [2, 3, 32, 32]))).toBeLessThan(0.15);
  });

  it('int8 refuses to export without calibration or with a table of another model', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 7));
    expect(() => exportOnnx(model, { quantize: 'int8' })).toThrow(/calibrat/);
    expect(() =>
      exportOnnx(model, { quantize: 'int8', calibration: { method: 'minmax', images: 1, ranges: {} } }),
    ).toThrow(UsageError);
    expect(() => exportOnnx(model, { quantize: 'int4' as 'int8' })).toThrow(UsageError);
  });

  it('withOnnxMetadata adds and replaces entries and keeps the model runnable', async () => {
    const model = keep(foldedModel('diracnet-10-1', {}, 8));
    const bytes = exportOnnx(model);
    const more = withOnnxMetadata(bytes, { name: 'renamed', metrics: '{"top1":0.5}' });
    const meta = readOnnxMetadata(more);
    expect(meta).toMatchObject({ name: 'renamed', metrics: '{"top1":0.5}', form: 'folded' });
    const x = randomNchw([1, 3, 32, 32], 8);
    const a = await runOnnx(bytes, x, [1, 3, 32, 32]);
    const b = await runOnnx(more, x, [1, 3, 32, 32]);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });
});
