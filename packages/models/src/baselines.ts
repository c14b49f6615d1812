import type { LayerSpec, ModelSpec } from '@dirac/core';
import { cifarBlocksPerGroup, cifarWidths } from './cifar';
import { imagenetBlocks, imagenetWidths } from './imagenet';
import { bn, conv, head, pad2, relu } from './layers';
import { trainingSpec } from './spec';

/** Pre-activation WRN block (upstream's functional WRN): BN → ReLU → conv → BN → ReLU → conv, plus shortcut. */
function wrnBlock(base: string, cin: number, cout: number, stride: number): LayerSpec[] {
  const tail: LayerSpec[] = [
    conv(`${base}.conv0`, cin, cout, 3, stride),
    bn(`${base}.bn1`, cout),
    relu,
    conv(`${base}.conv1`, cout, cout, 3),
  ];
  if (cin === cout && stride === 1) {
    return [{ type: 'residual', name: base, body: [bn(`${base}.bn0`, cin), relu, ...tail], shortcut: [] }];
  }
  // With a projection, both paths start from the pre-activated input.
  return [
    bn(`${base}.bn0`, cin),
    relu,
    {
      type: 'residual',
      name: base,
      body: tail,
      shortcut: [conv(`${base}.convdim`, cin, cout, 1, stride, 0)],
    },
  ];
}

/** Pre-activation wide ResNet WRN-depth-width for CIFAR, the paper's residual baseline. */
export function cifarWRN(opts: { depth: number; width: number; numClasses?: number }): ModelSpec {
  const n = cifarBlocksPerGroup(opts.depth, 'WRN');
  const widths = cifarWidths(opts.width);
  const layers: LayerSpec[] = [conv('conv0', 3, 16, 3)];
  let c = 16;
  widths.forEach((w, g) => {
    for (let i = 0; i < n; i++) {
      layers.push(...wrnBlock(`group${g}.block${i}`, i === 0 ? c : w, w, i === 0 && g > 0 ? 2 : 1));
    }
    c = w;
  });
  layers.push(bn('bn', c), ...head(c, opts.numClasses ?? 10));
  return trainingSpec({
    name: `wrn-${opts.depth}-${opts.width}`,
    family: 'cifar',
    arch: 'wrn',
    depth: opts.depth,
    width: opts.width,
    numClasses: opts.numClasses ?? 10,
    layers,
  });
}

/** torchvision-style BasicBlock: conv → BN → ReLU → conv → BN, plus shortcut, then ReLU. */
function basicBlock(base: string, cin: number, cout: number, stride: number): LayerSpec[] {
  const body: LayerSpec[] = [
    conv(`${base}.conv1`, cin, cout, 3, stride),
    bn(`${base}.bn1`, cout),
    relu,
    conv(`${base}.conv2`, cout, cout, 3),
    bn(`${base}.bn2`, cout),
  ];
  const shortcut: LayerSpec[] =
    cin === cout && stride === 1
      ? []
      : [conv(`${base}.downsample.0`, cin, cout, 1, stride, 0), bn(`${base}.downsample.1`, cout)];
  return [{ type: 'residual', name: base, body, shortcut }, relu];
}

/** ResNet-18/34 for ImageNet (with a width multiplier), the paper's residual baseline. */
export function imagenetResNet(opts: { depth: number; width?: number; numClasses?: number }): ModelSpec {
  const blocks = imagenetBlocks(opts.depth, 'ResNet');
  const width = opts.width ?? 1;
  const ws = imagenetWidths(width);
  const layers: LayerSpec[] = [
    conv('conv1', 3, ws[0], 7, 2, 3),
    bn('bn1', ws[0]),
    relu,
    { type: 'maxpool', kernel: [3, 3], stride: [2, 2], padding: pad2(1) },
  ];
  let c = ws[0];
  ws.forEach((w, g) => {
    for (let i = 0; i < blocks[g]!; i++)
      layers.push(...basicBlock(`layer${g + 1}.${i}`, i === 0 ? c : w, w, i === 0 && g > 0 ? 2 : 1));
    c = w;
  });
  layers.push(
    { type: 'globalAvgPool' },
    { type: 'linear', name: 'fc', inFeatures: c, outFeatures: opts.numClasses ?? 1000 },
  );
  return trainingSpec({
    name: `resnet-${opts.depth}${width === 1 ? '' : `-w${width}`}`,
    family: 'imagenet',
    arch: 'resnet',
    depth: opts.depth,
    width,
    numClasses: opts.numClasses ?? 1000,
    layers,
  });
}
