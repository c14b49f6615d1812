import {
  checkTensors,
  DataError,
  foldSpec,
  type Model,
  type ModelSpec,
  ShapeError,
  type TensorMap,
} from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { cifarDiracNet } from '../cifar';
import { IMAGENET_BLOCKS, imagenetDiracNet } from '../imagenet';
import { type TorchCheckpoint, type TorchTensor, torchTensorToFloat32 } from './torch-checkpoint';

/** Row-major permutation of a dense array (e.g. torch OIHW → tfjs HWIO). */
function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
  const strides = perm.map((p) => inStrides[p]!);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k]! * strides[k]!;
    out[o] = data[src]!;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < outShape[k]!) break;
      idx[k] = 0;
    }
  }
  return out;
}

function tensorOf(t: TorchTensor, name: string): { shape: number[]; data: Float32Array } {
  if (t.dtype !== 'float32' && t.dtype !== 'float16' && t.dtype !== 'float64' && t.dtype !== 'bfloat16') {
    throw new DataError(`checkpoint tensor '${name}' has dtype ${t.dtype}; a float tensor was expected`);
  }
  const data = torchTensorToFloat32(t);
  if (t.shape.length === 4)
    return { shape: [2, 3, 1, 0].map((p) => t.shape[p]!), data: permute(data, t.shape, [2, 3, 1, 0]) };
  if (t.shape.length === 2)
    return { shape: [t.shape[1]!, t.shape[0]!], data: permute(data, t.shape, [1, 0]) };
  return { shape: [...t.shape], data };
}

const BN_ROLES: Record<string, string> = {
  weight: 'gamma',
  bias: 'beta',
  running_mean: 'mean',
  running_var: 'var',
};

/** Upstream training-checkpoint name → ours ('group0.block0.alpha' → 'group0.block0.conv.a'). */
function trainingName(key: string): string | null {
  if (key.startsWith('eye')) return null; // upstream's cached Dirac deltas
  const bn = /^(.*\bbn)\.(weight|bias|running_mean|running_var)$/.exec(key);
  if (bn) return `${bn[1]}.${BN_ROLES[bn[2]!]}`;
  if (key.endsWith('.num_batches_tracked')) return null;
  const block = /^(group\d+\.block\d+)\.(conv|alpha|beta)$/.exec(key);
  if (block) return `${block[1]}.conv.${{ conv: 'weight', alpha: 'a', beta: 'b' }[block[2]!]}`;
  if (key === 'conv') return 'conv.weight';
  if (key === 'fc.weight' || key === 'fc.bias') return key;
  return key;
}

function blocksPerGroup(keys: string[], prefix = ''): number[] {
  const counts: number[] = [];
  for (const k of keys) {
    const m = new RegExp(`^${prefix.replace('.', '\\.')}group(\\d+)\\.block(\\d+)\\.conv`).exec(k);
    if (m) counts[Number(m[1])] = Math.max(counts[Number(m[1])] ?? 0, Number(m[2]) + 1);
  }
  return counts;
}

function need(tensors: Record<string, TorchTensor>, key: string, what: string): TorchTensor {
  const t = tensors[key];
  if (!t) throw new DataError(`not an upstream DiracNet ${what}: tensor '${key}' is missing`);
  return t;
}

function specFromTraining(tensors: Record<string, TorchTensor>): ModelSpec {
  const keys = Object.keys(tensors);
  const stem = need(tensors, 'conv', 'training checkpoint');
  const fc = need(tensors, 'fc.weight', 'training checkpoint');
  const classes = fc.shape[0]!;
  const counts = blocksPerGroup(keys);
  if (stem.shape.length !== 4) throw new ShapeError(`'conv' must be a 4-D conv weight; got [${stem.shape}]`);
  if (stem.shape[2] === 3) {
    if (counts.length !== 3 || counts.some((c) => c !== counts[0] || c % 2 !== 0)) {
      throw new DataError(
        `CIFAR checkpoint must have 3 groups of equal, even block counts; found [${counts.join(', ')}]`,
      );
    }
    return cifarDiracNet({ depth: 3 * counts[0]! + 4, width: stem.shape[0]! / 16, numClasses: classes });
  }
  return imagenetSpec(counts, stem.shape[0]!, classes);
}

function imagenetSpec(counts: number[], w0: number, classes: number): ModelSpec {
  const depth = Object.entries(IMAGENET_BLOCKS).find(([, b]) => b.every((n, i) => 2 * n === counts[i]))?.[0];
  if (!depth || counts.length !== 4) {
    throw new DataError(
      `ImageNet checkpoint block counts [${counts.join(', ')}] match neither DiracNet-18 nor DiracNet-34`,
    );
  }
  return imagenetDiracNet({ depth: Number(depth), width: w0 / 64, numClasses: classes });
}

function toTensorMap(entries: [string, { shape: number[]; data: Float32Array }][]): TensorMap {
  return Object.fromEntries(entries.map(([n, t]) => [n, tf.tensor(t.data, t.shape, 'float32')]));
}

/** Whether a checkpoint holds upstream's folded ImageNet state_dict (`features.*`, `fc.*`). */
function isFolded(tensors: Record<string, TorchTensor>): boolean {
  return 'features.conv.weight' in tensors;
}

/**
 * Converts an upstream (szagoruyko/diracnets v2) checkpoint into our model: a train.py checkpoint
 * (`params` with `conv`, `group0.block0.alpha`, …) becomes the training form; a published folded ImageNet
 * state_dict (`features.group0.block0.conv.weight`, …) the folded form. Depth, width, family and classes are
 * inferred from the tensors; every tensor is checked against the inferred spec before any is created.
 */
export function modelFromUpstream(ckpt: TorchCheckpoint): Model {
  const src = ckpt.tensors;
  if (Object.keys(src).length === 0) throw new DataError('the checkpoint holds no tensors');
  let spec: ModelSpec;
  const converted: [string, { shape: number[]; data: Float32Array }][] = [];
  if (isFolded(src)) {
    const stem = need(src, 'features.conv.weight', 'folded state_dict');
    const fc = need(src, 'fc.weight', 'folded state_dict');
    spec = foldSpec(
      imagenetSpec(blocksPerGroup(Object.keys(src), 'features.'), stem.shape[0]!, fc.shape[0]!),
    );
    for (const [k, t] of Object.entries(src)) converted.push([k.replace(/^features\./, ''), tensorOf(t, k)]);
  } else {
    spec = specFromTraining(src);
    for (const [k, t] of Object.entries(src)) {
      const name = trainingName(k);
      if (name) converted.push([name, tensorOf(t, k)]);
    }
  }
  checkTensors(spec, Object.fromEntries(converted.map(([n, t]) => [n, t.shape])));
  const epoch = ckpt.extras.epoch;
  spec.metadata = {
    importedFrom: 'szagoruyko/diracnets',
    checkpointFormat: ckpt.format,
    ...(typeof epoch === 'number' ? { epoch } : {}),
  };
  return { spec, tensors: toTensorMap(converted) };
}
