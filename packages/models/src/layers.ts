import type { BatchNormLayerSpec, ConvLayerSpec, DiracConvLayerSpec, LayerSpec, Padding } from '@dirac/core';

/** Symmetric padding of `p` on both spatial axes. */
export const pad2 = (p: number): Padding => [
  [p, p],
  [p, p],
];

export function conv(
  name: string,
  cin: number,
  cout: number,
  k: number,
  stride = 1,
  pad = Math.floor(k / 2),
  bias = false,
): ConvLayerSpec {
  return {
    type: 'conv',
    name,
    inChannels: cin,
    outChannels: cout,
    kernel: [k, k],
    stride: [stride, stride],
    padding: pad2(pad),
    bias,
  };
}

export function diracConv(name: string, cin: number, cout: number): DiracConvLayerSpec {
  return { ...conv(name, cin, cout, 3), type: 'diracConv', parameterization: 'v2' };
}

export function bn(name: string, channels: number): BatchNormLayerSpec {
  return { type: 'batchnorm', name, channels, eps: 1e-5, momentum: 0.1 };
}

export const relu: LayerSpec = { type: 'relu' };
export const maxPool2: LayerSpec = { type: 'maxpool', kernel: [2, 2], stride: [2, 2], padding: pad2(0) };

/** A group of `count` blocks `ReLU → (Dirac or plain) conv 3x3 → BN`, the first going cin → cout. */
export function plainChainGroup(
  group: string,
  cin: number,
  cout: number,
  count: number,
  dirac: boolean,
): LayerSpec[] {
  const layers: LayerSpec[] = [];
  for (let i = 0; i < count; i++) {
    const base = `${group}.block${i}`;
    const c = i === 0 ? cin : cout;
    layers.push(
      relu,
      dirac ? diracConv(`${base}.conv`, c, cout) : conv(`${base}.conv`, c, cout, 3),
      bn(`${base}.bn`, cout),
    );
  }
  return layers;
}

/** ReLU → global average pool → FC. */
export function head(channels: number, classes: number): LayerSpec[] {
  return [
    relu,
    { type: 'globalAvgPool' },
    { type: 'linear', name: 'fc', inFeatures: channels, outFeatures: classes },
  ];
}
