import type { LayerSpec, ModelSpec } from '@dirac/core';
import { UsageError } from '@dirac/core';
import { checkWidth } from './cifar';
import { bn, conv, head, maxPool2, pad2, plainChainGroup } from './layers';
import { trainingSpec } from './spec';

/** Blocks per group of ResNet-18/34; DiracNets use twice as many single-conv blocks. */
export const IMAGENET_BLOCKS: Record<number, [number, number, number, number]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
};

export interface ImagenetOptions {
  depth: 18 | 34 | number;
  width?: number;
  numClasses?: number;
}

export function imagenetBlocks(depth: number, family: string): [number, number, number, number] {
  const b = IMAGENET_BLOCKS[depth];
  if (!b) throw new UsageError(`${family} for ImageNet has depth 18 or 34; got ${depth}`);
  return b;
}

export function imagenetWidths(width: number): [number, number, number, number] {
  checkWidth(width);
  return [64, 128, 256, 512].map((v) => Math.max(1, Math.floor(v * width))) as [
    number,
    number,
    number,
    number,
  ];
}

/** conv7x7/2 → BN → max-pool 3/2 pad 1 (upstream's ImageNet stem; the first block's ReLU follows). */
export function imagenetStem(w0: number): LayerSpec[] {
  return [
    conv('conv', 3, w0, 7, 2, 3),
    bn('bn', w0),
    { type: 'maxpool', kernel: [3, 3], stride: [2, 2], padding: pad2(1) },
  ];
}

/**
 * ImageNet DiracNet-18/34 (training form) with a width multiplier, as upstream: stem; four groups of
 * 2×[2,2,2,2] or 2×[3,4,6,3] blocks `ReLU → Dirac conv 3x3 → BN` at widths 64k…512k with 2x2 max-pools
 * between; ReLU → global average pool (any input size) → FC. `dirac: false` gives the plain baseline.
 */
export function imagenetDiracNet(opts: ImagenetOptions & { dirac?: boolean }): ModelSpec {
  const dirac = opts.dirac !== false;
  const blocks = imagenetBlocks(opts.depth, dirac ? 'DiracNet' : 'the plain network');
  const width = opts.width ?? 1;
  const ws = imagenetWidths(width);
  const layers: LayerSpec[] = [...imagenetStem(ws[0])];
  let c = ws[0];
  ws.forEach((w, g) => {
    if (g > 0) layers.push(maxPool2);
    layers.push(...plainChainGroup(`group${g}`, c, w, 2 * blocks[g]!, dirac));
    c = w;
  });
  layers.push(...head(c, opts.numClasses ?? 1000));
  return trainingSpec({
    name: `${dirac ? 'diracnet' : 'plain'}-${opts.depth}${width === 1 ? '' : `-w${width}`}`,
    family: 'imagenet',
    arch: dirac ? 'diracnet' : 'plain',
    depth: opts.depth,
    width,
    numClasses: opts.numClasses ?? 1000,
    layers,
  });
}
