import type { Preprocessing } from '@dirac/core';

/** CIFAR: 32x32 RGB, per-channel normalization with upstream's statistics. */
export const CIFAR_PREPROCESSING: Preprocessing = {
  kind: 'cifar',
  crop: 32,
  mean: [125.3 / 255, 123.0 / 255, 113.9 / 255],
  std: [63.0 / 255, 62.1 / 255, 66.7 / 255],
};

/** ImageNet: shorter side to 256 with OpenCV-style bilinear (as upstream trained), centre crop 224. */
export const IMAGENET_PREPROCESSING: Preprocessing = {
  kind: 'imagenet',
  resize: 256,
  crop: 224,
  interpolation: 'bilinear-opencv',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
