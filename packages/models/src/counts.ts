import type { LayerSpec, ModelSpec } from '@dirac/core';
import { countParams, foldSpec, ShapeError } from '@dirac/core';

/** One row of a layer table. */
export interface LayerRow {
  name: string;
  type: string;
  output: number[];
  params: number;
  flops: number;
}

/** Counts that `dirac info --json` prints. */
export interface ModelCounts {
  trainableParams: number;
  foldedParams: number;
  /** 2 × multiply-adds of convs and FC layers for one image at the spec's input size. */
  forwardFlops: number;
  inputShape: number[];
}

function outSize(size: number, k: number, s: number, [a, b]: [number, number]): number {
  const o = Math.floor((size + a + b - k) / s) + 1;
  if (o < 1) throw new ShapeError(`input of size ${size} is too small for a window of ${k} (stride ${s})`);
  return o;
}

function walk(layers: LayerSpec[], shape: number[], rows: LayerRow[]): number[] {
  for (const l of layers) {
    let out = shape;
    let flops = 0;
    if (l.type === 'conv' || l.type === 'diracConv' || l.type === 'maxpool') {
      const spatial = shape.slice(0, -1).map((d, i) => outSize(d, l.kernel[i]!, l.stride[i]!, l.padding[i]!));
      const c = l.type === 'maxpool' ? shape[shape.length - 1]! : l.outChannels;
      out = [...spatial, c];
      if (l.type !== 'maxpool')
        flops =
          2 *
          spatial.reduce((a, d) => a * d, 1) *
          l.kernel.reduce((a, d) => a * d, 1) *
          l.inChannels *
          l.outChannels;
    } else if (l.type === 'ncrelu') {
      out = [...shape.slice(0, -1), 2 * shape[shape.length - 1]!];
    } else if (l.type === 'globalAvgPool') {
      out = [shape[shape.length - 1]!];
    } else if (l.type === 'linear') {
      out = [l.outFeatures];
      flops = 2 * l.inFeatures * l.outFeatures;
    } else if (l.type === 'residual') {
      const inner: LayerRow[] = [];
      out = walk(l.body, shape, inner);
      walk(l.shortcut, shape, inner);
      flops = inner.reduce((a, r) => a + r.flops, 0);
    }
    const name = 'name' in l ? l.name : '';
    rows.push({ name, type: l.type, output: out, params: countParams({ layers: [l] }), flops });
    shape = out;
  }
  return shape;
}

/** Per-layer output shapes, parameters and FLOPs for one image of `inputShape` (default: the spec's). */
export function layerTable(spec: ModelSpec, inputShape: number[] = spec.inputShape): LayerRow[] {
  const rows: LayerRow[] = [];
  walk(spec.layers, inputShape, rows);
  return rows;
}

/**
 * Parameter counts as upstream defines them (trainable: W, a, b, BN γ and β, FC; folded: conv weights and
 * biases, FC) and forward FLOPs per image.
 */
export function modelCounts(spec: ModelSpec, inputShape: number[] = spec.inputShape): ModelCounts {
  const training = spec.form === 'training';
  return {
    trainableParams: countParams(spec),
    foldedParams: countParams(training ? foldSpec(spec) : spec),
    forwardFlops: layerTable(spec, inputShape).reduce((a, r) => a + r.flops, 0),
    inputShape,
  };
}
