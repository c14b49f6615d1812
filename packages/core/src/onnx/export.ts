import { float32ToFloat16, type Model, SpecError, UsageError } from '@dirac/core';
import { version as packageVersion } from '../../package.json';
import { type CalibrationTable, opKey } from './calibrate';
import { identityKey, identitySplit, identityWeight, splitKey, withoutIdentity } from './identity-split';
import { type ExportOp, type HostTensor, lowerModel, modelMetadata, transposeData } from './lower';
import { ModelProto, OnnxAttributeType, OnnxDataType } from './proto';

/** Version written as `producer_version`: this package's. */
const PRODUCER_VERSION: string = packageVersion;

/** Lowest and highest ONNX opsets the exporter writes (every op it uses is unchanged in meaning across them). */
export const ONNX_OPSET_RANGE = { min: 13, max: 21 } as const;

/** Opset written when none is asked for. */
export const ONNX_DEFAULT_OPSET = 17;

/** Weight precision of an ONNX export. */
export type OnnxQuantization = 'fp16' | 'int8';

/** Options of {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** Default opset of the `ai.onnx` domain; default 17, from 13 to 21. */
  opset?: number;
  /** Name of the graph input; default `'input'`. */
  inputName?: string;
  /** Name of the graph output; default `'logits'`. */
  outputName?: string;
  /**
   * Layout of the graph input: 'NCHW' (default, as ONNX models usually take) or 'NHWC' (what the tfjs
   * runtime and `preprocess()` produce; a Transpose node then starts the graph).
   */
  inputLayout?: 'NCHW' | 'NHWC';
  /**
   * - 'fp16': weights stored as float16 (half the file) and cast to float32 once when the session is built;
   *   computation stays float32, so only the weight rounding changes the outputs.
   * - 'int8': QDQ (QuantizeLinear/DequantizeLinear) model: conv and linear weights symmetric int8 per output
   *   channel, biases int32 (scale = input scale · weight scale), activations uint8 with one scale and zero
   *   point per tensor from `calibration` (required). Runtimes that fuse QDQ (onnxruntime) run the convs in
   *   int8; others dequantize.
   */
  quantize?: OnnxQuantization;
  /** Activation ranges for `quantize: 'int8'`, from {@link calibrateActivations}. */
  calibration?: CalibrationTable;
  /**
   * int8: names of conv and linear layers left in float32 (often the first conv and the classifier, which
   * are small and the most sensitive).
   */
  keepFloat?: string[];
  /**
   * int8 (default true): convs whose folded weight is dominated by the Dirac identity are exported as
   * `conv(x, W − diag(d)) + d ⊙ x`, quantizing only the small filter (see identity-split.ts). Needs a
   * calibration table with their `.split` ranges (from this version's calibrateActivations; older tables
   * export those convs whole).
   */
  splitIdentity?: boolean;
  /** Extra `metadata_props` entries; they override the ones the exporter writes. */
  metadata?: Record<string, string>;
  /** `producer_version`; default the @dirac/core version the exporter belongs to. */
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

function bytesOf(data: Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array): Uint8Array {
  // raw_data is little-endian; every platform Node and browsers run on is.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** uint8 activation quantization of a range: scale and zero point (the range is widened to hold 0). */
function activationParams([lo, hi]: [number, number]): { scale: number; zeroPoint: number } {
  const min = Math.min(lo, 0);
  const max = Math.max(hi, 0);
  const scale = max > min ? (max - min) / 255 : 1;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-min / scale)));
  return { scale, zeroPoint };
}

/** Symmetric int8 per-output-channel quantization of a weight laid out `[out, ...]`. */
function quantizeWeight(data: Float32Array, out: number): { q: Int8Array; scales: Float32Array } {
  const per = data.length / out;
  const q = new Int8Array(data.length);
  const scales = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    let m = 0;
    for (let i = o * per; i < (o + 1) * per; i++) m = Math.max(m, Math.abs(data[i]!));
    const s = m > 0 ? m / 127 : 1;
    scales[o] = s;
    for (let i = o * per; i < (o + 1) * per; i++) {
      q[i] = Math.max(-127, Math.min(127, Math.round(data[i]! / s)));
    }
  }
  return { q, scales };
}

/** Builds the ONNX graph (NCHW) node by node. */
class OnnxGraphBuilder {
  readonly nodes: Attr[] = [];
  readonly initializers: Attr[] = [];
  private readonly used = new Set<string>();
  private counter = 0;
  /** int8: the quantization of each activation value that has one (by value name). */
  private readonly qparams = new Map<string, { scale: number; zeroPoint: number }>();
  /** int8: values already passed through QuantizeLinear → DequantizeLinear. */
  private readonly quantized = new Set<string>();
  /** int8: the convs exported split into filter + identity. */
  readonly split: string[] = [];

  constructor(
    reserved: string[],
    private readonly quantize: OnnxQuantization | undefined,
    private readonly calibration: CalibrationTable | undefined,
    private readonly keepFloat: ReadonlySet<string> = new Set(),
    private readonly splitIdentity = true,
  ) {
    for (const n of reserved) this.used.add(n);
  }

  /** A value name not used before, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  raw(
    name: string,
    dims: number[],
    dataType: number,
    data: Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array,
  ): string {
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims, dataType, rawData: bytesOf(data) });
    return n;
  }

  /** A float weight initializer: float32, or float16 followed by a Cast to float32 under 'fp16'. */
  initializer(name: string, dims: number[], data: Float32Array): string {
    if (this.quantize !== 'fp16') return this.raw(name, dims, OnnxDataType.FLOAT, data);
    const half = this.raw(`${name}.fp16`, dims, OnnxDataType.FLOAT16, float32ToFloat16(data));
    return this.node('Cast', [half], name, [int('to', OnnxDataType.FLOAT)]);
  }

  node(opType: string, inputs: string[], base: string, attribute: Attr[] = []): string {
    const output = this.fresh(base);
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  }

  /** int8: gives a value the quantization of a calibrated range (by op key). */
  calibrated(value: string, key: string): void {
    if (this.quantize !== 'int8') return;
    const range = this.calibration?.ranges[key];
    if (!range) {
      throw new UsageError(
        `the calibration table has no range for '${key}': it was measured on another model; calibrate again`,
      );
    }
    this.qparams.set(value, activationParams(range));
  }

  /** int8: the value through QuantizeLinear → DequantizeLinear (once per value), else the value itself. */
  qdq(x: string): string {
    if (this.quantize !== 'int8' || this.quantized.has(x)) return x;
    const p = this.qparams.get(x);
    if (!p) throw new SpecError(`int8 export: value '${x}' has no calibrated range`);
    const scale = this.raw(`${x}.scale`, [], OnnxDataType.FLOAT, Float32Array.of(p.scale));
    const zeroPoint = this.raw(`${x}.zero_point`, [], OnnxDataType.UINT8, Uint8Array.of(p.zeroPoint));
    const q = this.node('QuantizeLinear', [x, scale, zeroPoint], `${x}.q`);
    const dq = this.node('DequantizeLinear', [q, scale, zeroPoint], `${x}.dq`);
    this.qparams.set(dq, p);
    this.quantized.add(dq);
    return dq;
  }

  /**
   * Weight (laid out `[out, ...]`) and optional bias of a conv or Gemm: float (or float16) initializers,
   * or under 'int8' DequantizeLinear of int8 weights (per output channel) and int32 biases.
   */
  weights(
    base: string,
    dims: number[],
    w: Float32Array,
    bias: HostTensor | undefined,
    input: string,
    float = false,
  ): { w: string; b?: string } {
    const out = dims[0]!;
    if (this.quantize !== 'int8' || float) {
      return {
        w: this.initializer(base, dims, w),
        ...(bias ? { b: this.initializer(bias.name, [out], bias.data) } : {}),
      };
    }
    const { q, scales } = quantizeWeight(w, out);
    const zeros = new Int8Array(out);
    const wq = this.raw(`${base}.int8`, dims, OnnxDataType.INT8, q);
    const ws = this.raw(`${base}.scale`, [out], OnnxDataType.FLOAT, scales);
    const wz = this.raw(`${base}.zero_point`, [out], OnnxDataType.INT8, zeros);
    const wdq = this.node('DequantizeLinear', [wq, ws, wz], base, [int('axis', 0)]);
    if (!bias) return { w: wdq };
    const sx = this.qparams.get(input)!.scale;
    const bs = Float32Array.from(scales, (s) => s * sx);
    const bq = Int32Array.from(bias.data, (v, i) =>
      Math.max(-2147483647, Math.min(2147483647, Math.round(v / bs[i]!))),
    );
    const bqName = this.raw(`${bias.name}.int32`, [out], OnnxDataType.INT32, bq);
    const bsName = this.raw(`${bias.name}.scale`, [out], OnnxDataType.FLOAT, bs);
    const bzName = this.raw(`${bias.name}.zero_point`, [out], OnnxDataType.INT32, new Int32Array(out));
    return {
      w: wdq,
      b: this.node('DequantizeLinear', [bqName, bsName, bzName], bias.name, [int('axis', 0)]),
    };
  }

  /**
   * int8: `d ⊙ x` as a 1x1 conv of the quantized input (depthwise when the conv keeps the channel count) whose
   * int8 per-channel weights hold `d` exactly (one value per output channel), quantized on its own range: an
   * int8 conv and an int8 Add at run time.
   */
  private identityPath(
    x: string,
    op: Extract<ExportOp, { op: 'conv' }>,
    d: Float32Array,
    key: string,
  ): string {
    const [, , cin, cout] = op.weight.shape as [number, number, number, number];
    const depthwise = cin === cout;
    const w = depthwise ? d : transposeData(identityWeight(op, d), [1, 1, cin, cout], [3, 2, 0, 1]);
    const dims = depthwise ? [cout, 1, 1, 1] : [cout, cin, 1, 1];
    const { w: weight } = this.weights(`${op.name}.identity`, dims, w, undefined, x);
    const y = this.node('Conv', [x, weight], `${op.name}.identity_path`, [
      ints('kernel_shape', [1, 1]),
      ints('strides', [1, 1]),
      ints('pads', [0, 0, 0, 0]),
      ints('dilations', [1, 1]),
      int('group', depthwise ? cout : 1),
    ]);
    this.calibrated(y, identityKey(key));
    return this.qdq(y);
  }

  /** int8: the identity `d` to split off this conv, when it has one and the calibration measured the split. */
  private identityOf(op: Extract<ExportOp, { op: 'conv' }>, key: string): Float32Array | undefined {
    const ranges = this.calibration?.ranges;
    if (
      this.quantize !== 'int8' ||
      !this.splitIdentity ||
      !ranges?.[splitKey(key)] ||
      !ranges[identityKey(key)]
    )
      return undefined;
    const d = identitySplit(op);
    if (d) this.split.push(op.name);
    return d;
  }

  ops(list: ExportOp[], x: string, prefix: string): string {
    list.forEach((op, i) => {
      const key = opKey(prefix, i);
      x = this.op(op, x, key);
      if (this.quantize === 'int8' && !this.qparams.has(x)) this.calibrated(x, key);
    });
    return x;
  }

  op(op: ExportOp, x: string, key: string): string {
    switch (op.op) {
      case 'conv': {
        const [kh, kw, cin, cout] = op.weight.shape as [number, number, number, number];
        const inFloat = this.keepFloat.has(op.name);
        if (!inFloat) x = this.qdq(x);
        const d = inFloat ? undefined : this.identityOf(op, key);
        const { w, b } = this.weights(
          op.weight.name,
          [cout, cin, kh, kw],
          transposeData(d ? withoutIdentity(op, d) : op.weight.data, op.weight.shape, [3, 2, 0, 1]),
          op.bias,
          x,
          inFloat,
        );
        const [[t, bottom], [l, r]] = op.padding;
        let y = this.node('Conv', b ? [x, w, b] : [x, w], op.name, [
          ints('kernel_shape', [kh, kw]),
          ints('strides', op.stride),
          ints('pads', [t, l, bottom, r]),
          ints('dilations', [1, 1]),
          int('group', 1),
        ]);
        if (d) {
          // the filter's output gets its own range, so DQ → Conv → Q still fuses into an int8 conv
          this.calibrated(y, splitKey(key));
          y = this.node('Add', [this.qdq(y), this.identityPath(x, op, d, key)], `${op.name}.sum`);
        }
        if (op.relu) y = this.node('Relu', [y], `${op.name}.relu`);
        this.calibrated(y, key);
        // int8: conv outputs are quantized right away, so that DQ → Conv → (Relu) → Q fuses into one int8 conv.
        return inFloat ? y : this.qdq(y);
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
      case 'maxpool': {
        const y = this.node('MaxPool', [x], 'maxpool', [
          ints('kernel_shape', op.kernel),
          ints('strides', op.stride),
          ints('pads', [op.pad, op.pad, op.pad, op.pad]),
        ]);
        // Max-pooling commutes with (monotone) quantization: the output keeps the input's scale, so a
        // runtime can pool the int8 values directly.
        const p = this.qparams.get(x);
        if (p) this.qparams.set(y, p);
        return y;
      }
      case 'globalAvgPool':
        return this.node('Flatten', [this.node('GlobalAveragePool', [x], 'avgpool')], 'flatten', [
          int('axis', 1),
        ]);
      case 'linear': {
        const [fin, fout] = op.weight.shape as [number, number];
        const inFloat = this.keepFloat.has(op.name);
        if (!inFloat) x = this.qdq(x);
        // Stored as [out, in] with transB = 1, as PyTorch writes Linear layers.
        const { w, b } = this.weights(
          op.weight.name,
          [fout, fin],
          transposeData(op.weight.data, [fin, fout], [1, 0]),
          op.bias,
          x,
          inFloat,
        );
        return this.node('Gemm', [x, w, b!], op.name, [
          float('alpha', 1),
          float('beta', 1),
          int('transB', 1),
        ]);
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
        const body = this.ops(op.body, x, `${key}.body.`);
        const shortcut = op.shortcut.length ? this.ops(op.shortcut, x, `${key}.shortcut.`) : x;
        return this.node('Add', [body, shortcut], `${op.name}.add`);
      }
    }
  }
}

/** The `quantization` metadata entry: what was quantized and how (JSON). */
function quantizationNote(
  quantize: OnnxQuantization,
  calibration: CalibrationTable | undefined,
  keepFloat: string[] = [],
  split: string[] = [],
): string {
  if (quantize === 'fp16') return JSON.stringify({ weights: 'float16', compute: 'float32' });
  return JSON.stringify({
    format: 'QDQ',
    weights: 'int8 symmetric per output channel',
    biases: 'int32',
    activations: 'uint8 per tensor',
    ...(keepFloat.length ? { float32Layers: keepFloat } : {}),
    ...(split.length ? { identitySplitLayers: split } : {}),
    calibration: {
      method: calibration!.method,
      ...(calibration!.percentile !== undefined ? { percentile: calibration!.percentile } : {}),
      images: calibration!.images,
    },
  });
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
  const layout = options.inputLayout ?? 'NCHW';
  if (layout !== 'NCHW' && layout !== 'NHWC') {
    throw new UsageError(`ONNX input layout must be NCHW or NHWC; got '${layout}'`);
  }
  const quantize = options.quantize;
  if (quantize !== undefined && quantize !== 'fp16' && quantize !== 'int8') {
    throw new UsageError(`quantize must be 'fp16' or 'int8'; got '${quantize}'`);
  }
  if (quantize === 'int8' && !options.calibration) {
    throw new UsageError(
      'int8 export needs activation ranges: pass `calibration` (from calibrateActivations() on a few hundred training images)',
    );
  }
  const lowered = lowerModel(model);
  const g = new OnnxGraphBuilder(
    [inputName, outputName],
    quantize,
    options.calibration,
    new Set(options.keepFloat ?? []),
    options.splitIdentity ?? true,
  );
  const x0 =
    layout === 'NHWC'
      ? g.node('Transpose', [inputName], 'input.nchw', [ints('perm', [0, 3, 1, 2])])
      : inputName;
  g.calibrated(x0, 'input');
  const last = g.ops(lowered.ops, x0, '');
  const producer = g.nodes.find((n) => (n.output as string[])[0] === last);
  if (producer) {
    producer.output = [outputName];
    producer.name = outputName;
  } else {
    g.nodes.push({ opType: 'Identity', input: [last], output: [outputName], name: outputName });
  }
  const h = lowered.dynamicSpatial ? 'height' : lowered.height;
  const w = lowered.dynamicSpatial ? 'width' : lowered.width;
  const metadata: Record<string, string> = {
    ...modelMetadata(model),
    inputLayout: layout,
    ...(quantize
      ? { quantization: quantizationNote(quantize, options.calibration, options.keepFloat, g.split) }
      : {}),
    ...options.metadata,
  };
  const message = ModelProto.fromObject({
    irVersion: irVersionFor(opset),
    producerName: 'dirac',
    producerVersion: options.producerVersion ?? PRODUCER_VERSION,
    domain: 'dirac',
    modelVersion: 1,
    docString: `${model.spec.name} (${model.spec.form}) exported by @dirac/core`,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: model.spec.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [
        valueInfo(
          inputName,
          layout === 'NCHW' ? ['batch', lowered.channels, h, w] : ['batch', h, w, lowered.channels],
        ),
      ],
      output: [valueInfo(outputName, ['batch', lowered.numClasses])],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return ModelProto.encode(message).finish();
}
