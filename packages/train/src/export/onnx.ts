import { type Model, UsageError } from '@dirac/core';
import { version as packageVersion } from '../../package.json';
import { type ExportOp, type HostTensor, lowerModel, modelMetadata, transposeData } from './lower';
import { ModelProto, OnnxAttributeType, OnnxDataType } from './onnx-proto';

/** Version written as `producer_version`: this package's. */
const PRODUCER_VERSION: string = packageVersion;

/** Lowest and highest ONNX opsets the exporter writes (every op it uses is unchanged in meaning across them). */
export const ONNX_OPSET_RANGE = { min: 13, max: 21 } as const;

/** Opset written when none is asked for. */
export const ONNX_DEFAULT_OPSET = 17;

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** Default opset of the `ai.onnx` domain; default 17, from 13 to 21. */
  opset?: number;
  /** Name of the graph input; default `'input'`. */
  inputName?: string;
  /** Name of the graph output; default `'logits'`. */
  outputName?: string;
  /** Extra `metadata_props` entries; they override the ones the exporter writes. */
  metadata?: Record<string, string>;
  /** `producer_version`; default the @dirac/train version the exporter belongs to. */
  producerVersion?: string;
}

/** Smallest ONNX IR version that can carry each opset (onnx/docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

type Attr = Record<string, unknown>;

const ints = (name: string, values: number[]): Attr => ({ name, type: OnnxAttributeType.INTS, ints: values });
const int = (name: string, value: number): Attr => ({ name, type: OnnxAttributeType.INT, i: value });
const float = (name: string, value: number): Attr => ({ name, type: OnnxAttributeType.FLOAT, f: value });

function floatBytes(data: Float32Array): Uint8Array {
  // raw_data is little-endian; every platform Node and browsers run on is.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds the ONNX graph (NCHW) node by node. */
class OnnxGraphBuilder {
  readonly nodes: Attr[] = [];
  readonly initializers: Attr[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(reserved: string[]) {
    for (const n of reserved) this.used.add(n);
  }

  /** A value name not used before, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  initializer(name: string, dims: number[], data: Float32Array): string {
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims, dataType: OnnxDataType.FLOAT, rawData: floatBytes(data) });
    return n;
  }

  node(opType: string, inputs: string[], base: string, attribute: Attr[] = []): string {
    const output = this.fresh(base);
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  }

  ops(list: ExportOp[], x: string): string {
    for (const op of list) x = this.op(op, x);
    return x;
  }

  op(op: ExportOp, x: string): string {
    switch (op.op) {
      case 'conv': {
        const [kh, kw, cin, cout] = op.weight.shape as [number, number, number, number];
        const w = this.initializer(
          op.weight.name,
          [cout, cin, kh, kw],
          transposeData(op.weight.data, op.weight.shape, [3, 2, 0, 1]),
        );
        const inputs = [x, w];
        if (op.bias) inputs.push(this.initializer(op.bias.name, [cout], op.bias.data));
        const [[t, b], [l, r]] = op.padding;
        const y = this.node('Conv', inputs, op.name, [
          ints('kernel_shape', [kh, kw]),
          ints('strides', op.stride),
          ints('pads', [t, l, b, r]),
          ints('dilations', [1, 1]),
          int('group', 1),
        ]);
        return op.relu ? this.node('Relu', [y], `${op.name}.relu`) : y;
      }
      case 'relu':
        return this.node('Relu', [x], 'relu');
      case 'ncrelu': {
        const pos = this.node('Relu', [x], 'ncrelu.pos');
        const neg = this.node(
          'Neg',
          [this.node('Relu', [this.node('Neg', [x], 'ncrelu.neg_in')], 'ncrelu.relu')],
          'ncrelu.neg',
        );
        return this.node('Concat', [pos, neg], 'ncrelu', [int('axis', 1)]);
      }
      case 'maxpool':
        return this.node('MaxPool', [x], 'maxpool', [
          ints('kernel_shape', op.kernel),
          ints('strides', op.stride),
          ints('pads', [op.pad, op.pad, op.pad, op.pad]),
        ]);
      case 'globalAvgPool':
        return this.node('Flatten', [this.node('GlobalAveragePool', [x], 'avgpool')], 'flatten', [
          int('axis', 1),
        ]);
      case 'linear': {
        const [fin, fout] = op.weight.shape as [number, number];
        // Stored as [out, in] with transB = 1, as PyTorch writes Linear layers.
        const w = this.initializer(
          op.weight.name,
          [fout, fin],
          transposeData(op.weight.data, [fin, fout], [1, 0]),
        );
        const b = this.initializer(op.bias.name, [fout], op.bias.data);
        return this.node('Gemm', [x, w, b], op.name, [float('alpha', 1), float('beta', 1), int('transB', 1)]);
      }
      case 'batchnorm': {
        const t = (h: HostTensor) => this.initializer(h.name, [h.data.length], h.data);
        return this.node(
          'BatchNormalization',
          [x, t(op.gamma), t(op.beta), t(op.mean), t(op.variance)],
          op.name,
          [float('epsilon', op.eps)],
        );
      }
      case 'residual': {
        const body = this.ops(op.body, x);
        const shortcut = op.shortcut.length ? this.ops(op.shortcut, x) : x;
        return this.node('Add', [body, shortcut], `${op.name}.add`);
      }
    }
  }
}

function dim(d: number | string): Attr {
  return typeof d === 'number' ? { dimValue: d } : { dimParam: d };
}

function valueInfo(name: string, shape: (number | string)[]): Attr {
  return { name, type: { tensorType: { elemType: OnnxDataType.FLOAT, shape: { dim: shape.map(dim) } } } };
}

/**
 * Exports a folded model as an ONNX model (a serialized `ModelProto`), runnable by onnxruntime and any
 * other ONNX runtime.
 *
 * - Input `inputName`: float32 **NCHW** `[batch, C, H, W]`, already normalized as `spec.preprocessing`
 *   says. The batch dimension is dynamic (`batch`); for ImageNet models H and W are dynamic too
 *   (`height`, `width`), for CIFAR models they are fixed from `spec.inputShape`.
 * - Output `outputName`: float32 logits `[batch, numClasses]`.
 * - Ops (default domain): Conv (explicit `pads` [t, l, b, r]), Relu, MaxPool, GlobalAveragePool,
 *   Flatten, Gemm (`transB` = 1), BatchNormalization (inference), Add; Neg and Concat for NCReLU.
 * - Weights are initializers in ONNX layout (conv OIHW, Gemm B as [out, in]) stored as `raw_data`.
 * - `metadata_props`: `name`, `form`, `family`, `arch`, `numClasses`, `inputLayout` (`NCHW`),
 *   `labels` (JSON array) and `preprocessing` (JSON) when the spec has them, then `options.metadata`.
 *
 * Takes the folded form only: throws `SpecError` for a training-form model (fold it first), and
 * `UsageError` for an opset outside {@link ONNX_OPSET_RANGE} or an empty input/output name.
 * Reads the tensors synchronously (`dataSync`).
 */
export function exportOnnx(model: Model, options: ExportOnnxOptions = {}): Uint8Array {
  const opset = options.opset ?? ONNX_DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < ONNX_OPSET_RANGE.min || opset > ONNX_OPSET_RANGE.max) {
    throw new UsageError(
      `ONNX opset must be an integer from ${ONNX_OPSET_RANGE.min} to ${ONNX_OPSET_RANGE.max}; got ${opset}`,
    );
  }
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'logits';
  if (!inputName || !outputName || inputName === outputName) {
    throw new UsageError('ONNX input and output names must be non-empty and different');
  }
  const lowered = lowerModel(model);
  const g = new OnnxGraphBuilder([inputName, outputName]);
  const last = g.ops(lowered.ops, inputName);
  const producer = g.nodes.find((n) => (n.output as string[])[0] === last);
  if (producer) {
    producer.output = [outputName];
    producer.name = outputName;
  } else {
    g.nodes.push({ opType: 'Identity', input: [last], output: [outputName], name: outputName });
  }
  const h = lowered.dynamicSpatial ? 'height' : lowered.height;
  const w = lowered.dynamicSpatial ? 'width' : lowered.width;
  const metadata = {
    ...modelMetadata(model),
    inputLayout: 'NCHW',
    ...options.metadata,
  };
  const message = ModelProto.fromObject({
    irVersion: irVersionFor(opset),
    producerName: 'dirac',
    producerVersion: options.producerVersion ?? PRODUCER_VERSION,
    domain: 'dirac',
    modelVersion: 1,
    docString: `${model.spec.name} (${model.spec.form}) exported by @dirac/train`,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: model.spec.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, ['batch', lowered.channels, h, w])],
      output: [valueInfo(outputName, ['batch', lowered.numClasses])],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return ModelProto.encode(message).finish();
}
