import type { ModelSpec } from '@dirac/core';
import { UsageError } from '@dirac/core';
import { cifarWRN, imagenetResNet } from './baselines';
import { cifarDiracNet } from './cifar';
import { imagenetDiracNet } from './imagenet';

/** Datasets the builders know; CIFAR names take cifar10 or cifar100, ImageNet names imagenet. */
export type DatasetName = 'cifar10' | 'cifar100' | 'imagenet';

/** Options of {@link buildModel}. */
export interface BuildOptions {
  /** CIFAR family: cifar10 (default) or cifar100. ImageNet family: imagenet (default). */
  dataset?: DatasetName;
  /** Width multiplier for the ImageNet family (the CIFAR family takes it from the name). */
  width?: number;
  /** Overrides the dataset's class count. */
  numClasses?: number;
}

const CIFAR_NAME = /^(diracnet|plain|wrn)-(\d+)-(\d+(?:\.\d+)?)$/;
const IMAGENET_NAME = /^(diracnet|plain|resnet)-(\d+)$/;

/** Names of the paper's networks, for help texts. */
export const MODEL_NAME_PATTERNS = [
  'diracnet-<depth>-<width>  CIFAR DiracNet, depth 6n+4 (e.g. diracnet-28-10, diracnet-34-1)',
  'plain-<depth>-<width>     CIFAR plain baseline (no Dirac term)',
  'wrn-<depth>-<width>       CIFAR pre-activation wide ResNet baseline',
  'diracnet-18, diracnet-34  ImageNet DiracNets (--width for a multiplier)',
  'plain-18, plain-34        ImageNet plain baselines',
  'resnet-18, resnet-34      ImageNet ResNet baselines',
];

function classesFor(dataset: DatasetName, override?: number): number {
  if (override !== undefined) {
    if (!Number.isInteger(override) || override < 1)
      throw new UsageError(`numClasses must be a positive integer; got ${override}`);
    return override;
  }
  return dataset === 'cifar100' ? 100 : dataset === 'imagenet' ? 1000 : 10;
}

/**
 * Builds a training-form spec from a registry name such as `diracnet-28-10` (CIFAR, dataset chosen by
 * option), `diracnet-18` (ImageNet), `wrn-28-10`, `plain-34-1`, `resnet-34`.
 */
export function buildModel(name: string, options: BuildOptions = {}): ModelSpec {
  const cifar = CIFAR_NAME.exec(name);
  if (cifar) {
    const dataset = options.dataset ?? 'cifar10';
    if (dataset === 'imagenet')
      throw new UsageError(`'${name}' is a CIFAR network; use --dataset cifar10 or cifar100`);
    const [, arch, d, w] = cifar;
    const o = { depth: Number(d), width: Number(w), numClasses: classesFor(dataset, options.numClasses) };
    if (arch === 'wrn') return cifarWRN(o);
    return cifarDiracNet({ ...o, dirac: arch === 'diracnet' });
  }
  const imagenet = IMAGENET_NAME.exec(name);
  if (imagenet) {
    const dataset = options.dataset ?? 'imagenet';
    if (dataset !== 'imagenet')
      throw new UsageError(`'${name}' is an ImageNet network; CIFAR names look like diracnet-34-1`);
    const [, arch, d] = imagenet;
    const o = {
      depth: Number(d),
      width: options.width ?? 1,
      numClasses: classesFor(dataset, options.numClasses),
    };
    if (arch === 'resnet') return imagenetResNet(o);
    return imagenetDiracNet({ ...o, dirac: arch === 'diracnet' });
  }
  throw new UsageError(`unknown model '${name}'. Known names:\n  ${MODEL_NAME_PATTERNS.join('\n  ')}`);
}
