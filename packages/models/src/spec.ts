import type { LayerSpec, ModelArch, ModelFamily, ModelSpec } from '@dirac/core';
import { CIFAR_PREPROCESSING, IMAGENET_PREPROCESSING } from './preprocessing';

/** The training-form spec of a built network; the family fixes the input size and preprocessing. */
export function trainingSpec(s: {
  name: string;
  family: ModelFamily;
  arch: ModelArch;
  depth: number;
  width: number;
  numClasses: number;
  layers: LayerSpec[];
}): ModelSpec {
  const cifar = s.family === 'cifar';
  return {
    format: 'dirac-model',
    formatVersion: 1,
    ...s,
    form: 'training',
    inputShape: cifar ? [32, 32, 3] : [224, 224, 3],
    preprocessing: cifar ? CIFAR_PREPROCESSING : IMAGENET_PREPROCESSING,
  };
}
