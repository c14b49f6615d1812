import type { LayerSpec, ModelSpec } from '@dirac/core';
import { UsageError } from '@dirac/core';
import { bn, conv, head, maxPool2, plainChainGroup, relu } from './layers';
import { trainingSpec } from './spec';

/** The ten CIFAR-10 class names, in label order (the dataset's `batches.meta.txt`). */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
]);

/** Options of the CIFAR builders. */
export interface CifarOptions {
  depth: number;
  width: number;
  numClasses?: 10 | 100 | number;
}

/** n = (depth − 4) / 6 for depth-width networks; throws a clear error for impossible depths. */
export function cifarBlocksPerGroup(depth: number, family = 'DiracNet'): number {
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
    throw new UsageError(`${family} depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, …); got ${depth}`);
  }
  return (depth - 4) / 6;
}

export function checkWidth(width: number): void {
  if (!(width > 0) || !Number.isFinite(width))
    throw new UsageError(`width must be a positive number; got ${width}`);
}

export function cifarWidths(width: number): [number, number, number] {
  checkWidth(width);
  const ws = [16, 32, 64].map((v) => Math.floor(v * width));
  if (ws[0]! < 1) throw new UsageError(`width ${width} makes a group with no channels`);
  return ws as [number, number, number];
}

/**
 * CIFAR DiracNet-depth-width (training form), as upstream: conv3x3 → BN → ReLU; three groups of 2n blocks
 * `ReLU → Dirac conv 3x3 → BN` at widths 16k, 32k, 64k with 2x2 max-pools between; ReLU → global average
 * pool → FC. With `dirac: false` it is the paper's plain baseline (the same network without the Dirac term).
 */
export function cifarDiracNet(opts: CifarOptions & { dirac?: boolean }): ModelSpec {
  const n = cifarBlocksPerGroup(opts.depth, opts.dirac === false ? 'plain network' : 'DiracNet');
  const [w0, w1, w2] = cifarWidths(opts.width);
  const classes = opts.numClasses ?? 10;
  const dirac = opts.dirac !== false;
  const layers: LayerSpec[] = [
    conv('conv', 3, w0, 3),
    bn('bn', w0),
    relu,
    ...plainChainGroup('group0', w0, w0, 2 * n, dirac),
    maxPool2,
    ...plainChainGroup('group1', w0, w1, 2 * n, dirac),
    maxPool2,
    ...plainChainGroup('group2', w1, w2, 2 * n, dirac),
    ...head(w2, classes),
  ];
  return trainingSpec({
    name: `${dirac ? 'diracnet' : 'plain'}-${opts.depth}-${opts.width}`,
    family: 'cifar',
    arch: dirac ? 'diracnet' : 'plain',
    depth: opts.depth,
    width: opts.width,
    numClasses: classes,
    layers,
  });
}
