import { type LayerSpec, type Model, requireTensor, SpecError, type TensorMap } from '@dirac/core';

/** A float32 tensor's values with its shape, read once from the tf tensor (tfjs layout). */
export interface HostTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * One operation of the graph both exporters write: the folded spec with its tensors read back, the
 * ReLUs that follow a conv (directly or across a max-pool, as `forward` does) fused into the conv.
 */
export type ExportOp =
  | {
      op: 'conv';
      name: string;
      /** `[kh, kw, in, out]`. */
      weight: HostTensor;
      bias?: HostTensor;
      stride: [number, number];
      /** `[[top, bottom], [left, right]]`. */
      padding: [[number, number], [number, number]];
      relu: boolean;
    }
  | { op: 'relu' }
  | { op: 'ncrelu' }
  | { op: 'maxpool'; kernel: [number, number]; stride: [number, number]; pad: number }
  | { op: 'globalAvgPool' }
  | { op: 'linear'; name: string /** `[in, out]`. */; weight: HostTensor; bias: HostTensor }
  | {
      op: 'batchnorm';
      name: string;
      gamma: HostTensor;
      beta: HostTensor;
      mean: HostTensor;
      variance: HostTensor;
      eps: number;
    }
  | { op: 'residual'; name: string; body: ExportOp[]; shortcut: ExportOp[] };

/** What both exporters need to know about a model besides its ops. */
export interface LoweredModel {
  ops: ExportOp[];
  /** Input channels, height and width (from `spec.inputShape`). */
  channels: number;
  height: number;
  width: number;
  /** Whether H and W may vary (ImageNet family: global average pooling accepts any size). */
  dynamicSpatial: boolean;
  numClasses: number;
}

function host(tensors: TensorMap, name: string): HostTensor {
  const t = requireTensor(tensors, name);
  if (t.dtype !== 'float32') throw new SpecError(`tensor '${name}' is ${t.dtype}; export needs float32`);
  return { name, shape: [...t.shape], data: t.dataSync() as Float32Array };
}

function pair(xs: number[], what: string, layer: string): [number, number] {
  if (xs.length !== 2 || !xs.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new SpecError(
      `${what} of '${layer}' must be two non-negative integers (2-D); got [${xs.join(', ')}]`,
    );
  }
  return [xs[0]!, xs[1]!];
}

/** Whether the ops so far end in a ReLU (possibly followed by max-pools), so the value is ≥ 0. */
function nonNegative(ops: ExportOp[]): boolean {
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i]!;
    if (op.op === 'maxpool') continue;
    return op.op === 'relu' || (op.op === 'conv' && op.relu);
  }
  return false;
}

function lowerLayers(layers: LayerSpec[], tensors: TensorMap): ExportOp[] {
  const ops: ExportOp[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    switch (layer.type) {
      case 'conv': {
        const weight = host(tensors, `${layer.name}.weight`);
        if (weight.shape.length !== 4) {
          throw new SpecError(`conv '${layer.name}' is not 2-D (weight [${weight.shape.join(', ')}])`);
        }
        const stride = pair(layer.stride, 'stride', layer.name);
        if (stride[0] < 1 || stride[1] < 1) throw new SpecError(`stride of '${layer.name}' must be >= 1`);
        const [ph, pw] = layer.padding;
        const padding = [pair(ph ?? [], 'padding', layer.name), pair(pw ?? [], 'padding', layer.name)] as [
          [number, number],
          [number, number],
        ];
        // relu(maxpool(y)) = maxpool(relu(y)): the ReLU moves before the pool and fuses into the conv.
        const next = layers[i + 1];
        let relu = false;
        const tail: LayerSpec[] = [];
        if (next?.type === 'relu') {
          relu = true;
          i += 1;
        } else if (next?.type === 'maxpool' && layers[i + 2]?.type === 'relu') {
          relu = true;
          tail.push(next);
          i += 2;
        }
        ops.push({
          op: 'conv',
          name: layer.name,
          weight,
          ...(layer.bias ? { bias: host(tensors, `${layer.name}.bias`) } : {}),
          stride,
          padding,
          relu,
        });
        ops.push(...lowerLayers(tail, tensors));
        break;
      }
      case 'relu':
        // ReLU is idempotent: one right after a ReLU (or a pool of ReLU output) changes nothing.
        if (!nonNegative(ops)) ops.push({ op: 'relu' });
        break;
      case 'ncrelu':
        ops.push({ op: 'ncrelu' });
        break;
      case 'maxpool': {
        const p = layer.padding[0]?.[0] ?? 0;
        if (!layer.padding.every(([a, b]) => a === p && b === p)) {
          throw new SpecError('max-pool padding must be the same on every side');
        }
        ops.push({
          op: 'maxpool',
          kernel: pair(layer.kernel, 'max-pool kernel', 'maxpool'),
          stride: pair(layer.stride, 'max-pool stride', 'maxpool'),
          pad: p,
        });
        break;
      }
      case 'globalAvgPool':
        ops.push({ op: 'globalAvgPool' });
        break;
      case 'linear':
        ops.push({
          op: 'linear',
          name: layer.name,
          weight: host(tensors, `${layer.name}.weight`),
          bias: host(tensors, `${layer.name}.bias`),
        });
        break;
      case 'batchnorm':
        ops.push({
          op: 'batchnorm',
          name: layer.name,
          gamma: host(tensors, `${layer.name}.gamma`),
          beta: host(tensors, `${layer.name}.beta`),
          mean: host(tensors, `${layer.name}.mean`),
          variance: host(tensors, `${layer.name}.var`),
          eps: layer.eps,
        });
        break;
      case 'residual':
        ops.push({
          op: 'residual',
          name: layer.name,
          body: lowerLayers(layer.body, tensors),
          shortcut: lowerLayers(layer.shortcut, tensors),
        });
        break;
      case 'diracConv':
        throw new SpecError(
          `layer '${layer.name}' is a Dirac conv: export takes the folded form (run fold() or 'dirac fold' first)`,
        );
      default:
        throw new SpecError(`cannot export layer type '${(layer as { type: string }).type}'`);
    }
  }
  return ops;
}

/**
 * Checks that a model is a folded 2-D image classifier and reads its tensors into the op list both
 * exporters translate. Throws {@link SpecError} for a training-form model or an unsupported layer.
 */
export function lowerModel(model: Model): LoweredModel {
  const { spec } = model;
  if (spec.form !== 'folded') {
    throw new SpecError(
      `'${spec.name}' is a ${spec.form}-form model; export takes the folded form: run fold() (CLI: 'dirac fold') first`,
    );
  }
  const [height, width, channels] = spec.inputShape;
  if (![height, width, channels].every((v) => Number.isInteger(v) && v > 0)) {
    throw new SpecError(`inputShape must be [height, width, channels]; got [${spec.inputShape.join(', ')}]`);
  }
  return {
    ops: lowerLayers(spec.layers, model.tensors),
    channels,
    height,
    width,
    dynamicSpatial: spec.family === 'imagenet',
    numClasses: spec.numClasses,
  };
}

/** The model facts both formats record as metadata: name, form, labels and preprocessing. */
export function modelMetadata(model: Model): Record<string, string> {
  const { spec } = model;
  const meta: Record<string, string> = {
    name: spec.name,
    form: spec.form,
    family: spec.family,
    arch: spec.arch,
    numClasses: String(spec.numClasses),
  };
  if (spec.labels) meta.labels = JSON.stringify(spec.labels);
  if (spec.preprocessing) meta.preprocessing = JSON.stringify(spec.preprocessing);
  return meta;
}

/** Permutes a dense row-major array from `shape` by `perm` (output axis i is input axis perm[i]). */
export function transposeData(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const strideOfOut = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    // Odometer over the output index, keeping the source offset in step.
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]! += 1;
      src += strideOfOut[a]!;
      if (idx[a]! < outShape[a]!) break;
      src -= strideOfOut[a]! * outShape[a]!;
      idx[a] = 0;
    }
  }
  return out;
}
