import { type Model, UsageError } from '@dirac/core';
import { type ExportOp, lowerModel } from '@dirac/core/onnx';
import type { io } from '@tensorflow/tfjs-core';
import { version as packageVersion } from '../../package.json';

const VERSION: string = packageVersion;

/** Options of {@link exportTfjsGraphModel}. */
export interface ExportTfjsOptions {
  /**
   * Largest weight shard in bytes; default: one shard (`group1-shard1of1.bin`). tfjs-converter uses
   * 4 MiB shards (4_194_304) so that browsers cache them individually.
   */
  shardBytes?: number;
  /** Extra entries for `userDefinedMetadata`; they override the ones the exporter writes. */
  metadata?: Record<string, unknown>;
}

/** One weight shard file of a graph model. */
export interface TfjsShard {
  /** File name, relative to model.json (`group1-shard1of2.bin`, …). */
  path: string;
  data: Uint8Array;
}

/** A TF.js graph model's `model.json`, as tfjs-converter writes it. */
export interface TfjsGraphModelJson {
  format: 'graph-model';
  generatedBy: string;
  convertedBy: string;
  /** A TensorFlow GraphDef in protobuf's JSON mapping. */
  modelTopology: { node: TfNode[]; library: Record<string, never>; versions: { producer: number } };
  weightsManifest: { paths: string[]; weights: io.WeightsManifestEntry[] }[];
  signature: {
    inputs: Record<string, TfTensorInfo>;
    outputs: Record<string, TfTensorInfo>;
  };
  userDefinedMetadata: Record<string, unknown>;
}

/** A GraphDef node (NodeDef) in protobuf's JSON mapping. */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

/** A signature entry: the tensor's name (`node:0`), dtype and shape (-1 = any size). */
export interface TfTensorInfo {
  name: string;
  dtype: 'DT_FLOAT';
  tensorShape: { dim: { size: string }[] };
}

/** What {@link exportTfjsGraphModel} returns. */
export interface TfjsGraphModel {
  /** The content of `model.json`. */
  modelJson: TfjsGraphModelJson;
  /** Every weight's bytes, in manifest order (the shards concatenated). */
  weights: Uint8Array;
  /** The weight entries of the manifest (what `tf.io.fromMemory` calls `weightSpecs`). */
  weightSpecs: io.WeightsManifestEntry[];
  /** The shard files to write next to model.json (views into `weights`). */
  shards: TfjsShard[];
}

const T = { type: 'DT_FLOAT' };
const str = (s: string) => ({ s: btoa(s) });
const intList = (xs: number[]) => ({ list: { i: xs.map(String) } });
const shapeOf = (dims: number[]) => ({ dim: dims.map((d) => ({ size: String(d) })) });

interface PendingWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/** Builds the GraphDef (NHWC) node by node, collecting Const weights. */
class TfGraphBuilder {
  readonly nodes: TfNode[] = [];
  readonly weights: PendingWeight[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(reserved: string[]) {
    for (const n of reserved) this.used.add(n);
  }

  private fresh(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  constant(base: string, shape: number[], data: Float32Array | Int32Array): string {
    const name = this.fresh(base);
    const dtype = data instanceof Int32Array ? 'int32' : 'float32';
    const tfType = dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    this.weights.push({ name, shape, dtype, data });
    this.nodes.push({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype: tfType, tensorShape: shapeOf(shape) } }, dtype: { type: tfType } },
    });
    return name;
  }

  node(op: string, input: string[], base: string, attr: Record<string, unknown> = {}): string {
    const name = this.fresh(base);
    this.nodes.push({ name, op, input, attr });
    return name;
  }

  ops(list: ExportOp[], x: string): string {
    for (const op of list) x = this.op(op, x);
    return x;
  }

  op(op: ExportOp, x: string): string {
    switch (op.op) {
      case 'conv': {
        const w = this.constant(op.weight.name, op.weight.shape, op.weight.data);
        const [[t, b], [l, r]] = op.padding;
        const explicit = t + b + l + r > 0;
        const attr: Record<string, unknown> = {
          T,
          strides: intList([1, op.stride[0], op.stride[1], 1]),
          padding: str(explicit ? 'EXPLICIT' : 'VALID'),
          data_format: str('NHWC'),
          dilations: intList([1, 1, 1, 1]),
          use_cudnn_on_gpu: { b: true },
        };
        if (explicit) attr.explicit_paddings = intList([0, 0, t, b, l, r, 0, 0]);
        if (op.bias) {
          const bias = this.constant(op.bias.name, op.bias.shape, op.bias.data);
          attr.fused_ops = { list: { s: (op.relu ? ['BiasAdd', 'Relu'] : ['BiasAdd']).map(btoa) } };
          attr.num_args = { i: '1' };
          attr.epsilon = { f: 0 };
          return this.node('_FusedConv2D', [x, w, bias], op.name, attr);
        }
        const y = this.node('Conv2D', [x, w], op.name, attr);
        return op.relu ? this.node('Relu', [y], `${op.name}/relu`, { T }) : y;
      }
      case 'relu':
        return this.node('Relu', [x], 'relu', { T });
      case 'ncrelu': {
        const pos = this.node('Relu', [x], 'ncrelu/pos', { T });
        const negIn = this.node('Neg', [x], 'ncrelu/neg_in', { T });
        const neg = this.node('Neg', [this.node('Relu', [negIn], 'ncrelu/relu', { T })], 'ncrelu/neg', { T });
        const axis = this.constant('ncrelu/axis', [], new Int32Array([3]));
        return this.node('ConcatV2', [pos, neg, axis], 'ncrelu', {
          T,
          N: { i: '2' },
          Tidx: { type: 'DT_INT32' },
        });
      }
      case 'maxpool': {
        let input = x;
        if (op.pad > 0) {
          // MaxPool has no explicit padding in tfjs-converter: pad with the lowest float32, which never wins
          // (-∞ itself is avoided for GPU backends).
          const p = op.pad;
          const paddings = this.constant(
            'maxpool/paddings',
            [4, 2],
            new Int32Array([0, 0, p, p, p, p, 0, 0]),
          );
          const value = this.constant('maxpool/pad_value', [], new Float32Array([-3.4028234663852886e38]));
          input = this.node('PadV2', [x, paddings, value], 'maxpool/pad', {
            T,
            Tpaddings: { type: 'DT_INT32' },
          });
        }
        return this.node('MaxPool', [input], 'maxpool', {
          T,
          ksize: intList([1, op.kernel[0], op.kernel[1], 1]),
          strides: intList([1, op.stride[0], op.stride[1], 1]),
          padding: str('VALID'),
          data_format: str('NHWC'),
        });
      }
      case 'globalAvgPool': {
        const axes = this.constant('avgpool/reduction_indices', [2], new Int32Array([1, 2]));
        return this.node('Mean', [x, axes], 'avgpool', {
          T,
          Tidx: { type: 'DT_INT32' },
          keep_dims: { b: false },
        });
      }
      case 'linear': {
        const w = this.constant(op.weight.name, op.weight.shape, op.weight.data);
        const bias = this.constant(op.bias.name, op.bias.shape, op.bias.data);
        const y = this.node('MatMul', [x, w], `${op.name}/matmul`, {
          T,
          transpose_a: { b: false },
          transpose_b: { b: false },
        });
        return this.node('BiasAdd', [y, bias], op.name, { T, data_format: str('NHWC') });
      }
      case 'batchnorm': {
        const c = (h: { name: string; data: Float32Array }) => this.constant(h.name, [h.data.length], h.data);
        return this.node(
          'FusedBatchNormV3',
          [x, c(op.gamma), c(op.beta), c(op.mean), c(op.variance)],
          op.name,
          { T, U: T, epsilon: { f: op.eps }, data_format: str('NHWC'), is_training: { b: false } },
        );
      }
      case 'residual': {
        const body = this.ops(op.body, x);
        const shortcut = op.shortcut.length ? this.ops(op.shortcut, x) : x;
        return this.node('AddV2', [body, shortcut], `${op.name}/add`, { T });
      }
    }
  }
}

function concatWeights(weights: PendingWeight[]): Uint8Array {
  const total = weights.reduce((n, w) => n + w.data.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const w of weights) {
    // Little-endian, as the tfjs loaders read it (every platform they run on is).
    out.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), offset);
    offset += w.data.byteLength;
  }
  return out;
}

/**
 * Exports a folded model as a TF.js graph model (`model.json` + weight shards) that
 * `tf.loadGraphModel` (@tensorflow/tfjs-converter) loads and runs on any backend.
 *
 * - Input `input`: float32 **NHWC** `[batch, H, W, C]` (TensorFlow's layout; the ONNX export is NCHW),
 *   already normalized as `spec.preprocessing` says. Batch is dynamic (-1); for ImageNet models H and W
 *   are too, for CIFAR models they are fixed from `spec.inputShape`.
 * - Output `logits`: float32 `[batch, numClasses]` (an Identity node; the signature names both).
 * - Ops: Placeholder, Const, _FusedConv2D (BiasAdd, optionally Relu) or Conv2D (+ Relu) with `VALID` or
 *   `EXPLICIT` padding (`explicit_paddings`), PadV2 (-∞) + MaxPool for padded max-pools, Mean over
 *   axes [1, 2], MatMul + BiasAdd, FusedBatchNormV3 (inference), AddV2, Identity; Neg and ConcatV2 for
 *   NCReLU.
 * - `userDefinedMetadata` (read back with `model.metadata`): `name`, `form`, `family`, `arch`,
 *   `numClasses`, `inputLayout` (`NHWC`), `labels` (array) and `preprocessing` (object) when present,
 *   then `options.metadata`.
 *
 * Takes the folded form only: throws `SpecError` for a training-form model (fold it first).
 * Reads the tensors synchronously (`dataSync`).
 */
export function exportTfjsGraphModel(model: Model, options: ExportTfjsOptions = {}): TfjsGraphModel {
  const shardBytes = options.shardBytes ?? Number.POSITIVE_INFINITY;
  if (!(shardBytes >= 1)) throw new UsageError(`shard size must be at least 1 byte; got ${shardBytes}`);
  for (const key of ['signature', 'structuredOutputKeys']) {
    if (options.metadata && key in options.metadata) {
      throw new UsageError(`metadata key '${key}' is reserved by tfjs-converter`);
    }
  }
  const lowered = lowerModel(model);
  const g = new TfGraphBuilder(['input', 'logits']);
  const h = lowered.dynamicSpatial ? -1 : lowered.height;
  const w = lowered.dynamicSpatial ? -1 : lowered.width;
  const inputShape = [-1, h, w, lowered.channels];
  g.nodes.push({
    name: 'input',
    op: 'Placeholder',
    attr: { dtype: T, shape: { shape: shapeOf(inputShape) } },
  });
  const last = g.ops(lowered.ops, 'input');
  g.nodes.push({ name: 'logits', op: 'Identity', input: [last], attr: { T } });

  const weights = concatWeights(g.weights);
  const count = Number.isFinite(shardBytes) ? Math.max(1, Math.ceil(weights.byteLength / shardBytes)) : 1;
  const size = count === 1 ? weights.byteLength : shardBytes;
  const shards: TfjsShard[] = Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    data: weights.subarray(i * size, Math.min((i + 1) * size, weights.byteLength)),
  }));
  const weightSpecs: io.WeightsManifestEntry[] = g.weights.map(({ name, shape, dtype }) => ({
    name,
    shape,
    dtype,
  }));
  const { name, form, family, arch, numClasses, labels, preprocessing } = model.spec;
  const modelJson: TfjsGraphModelJson = {
    format: 'graph-model',
    generatedBy: `@dirac/train ${VERSION}`,
    convertedBy: `dirac export ${VERSION}`,
    modelTopology: { node: g.nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: shards.map((s) => s.path), weights: weightSpecs }],
    signature: {
      inputs: { input: { name: 'input:0', dtype: 'DT_FLOAT', tensorShape: shapeOf(inputShape) } },
      outputs: {
        logits: { name: 'logits:0', dtype: 'DT_FLOAT', tensorShape: shapeOf([-1, lowered.numClasses]) },
      },
    },
    userDefinedMetadata: {
      name,
      form,
      family,
      arch,
      numClasses,
      inputLayout: 'NHWC',
      ...(labels ? { labels } : {}),
      ...(preprocessing ? { preprocessing } : {}),
      ...options.metadata,
    },
  };
  return { modelJson, weights, weightSpecs, shards };
}
