import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors';
import type { Padding } from './types';

/** Geometry of one convolution; spatial arrays have one entry per spatial axis. */
export interface ConvGeometry {
  stride: number[];
  padding: Padding;
}

/** Optional fused epilogue of {@link convNd}. */
export interface ConvEpilogue {
  bias?: tf.Tensor;
  relu?: boolean;
}

function uniform(padding: Padding): number | null {
  const p = padding[0]?.[0];
  if (p === undefined) return 0;
  return padding.every(([a, b]) => a === p && b === p) ? p : null;
}

function padInput(x: tf.Tensor, padding: Padding): tf.Tensor {
  const p = uniform(padding);
  if (p === 0) return x;
  return tf.pad(x, [[0, 0], ...padding.map(([a, b]) => [a, b] as [number, number]), [0, 0]]);
}

function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, g: ConvGeometry, epi: ConvEpilogue): tf.Tensor4D {
  const p = uniform(g.padding);
  const pad: number | [[number, number], [number, number], [number, number], [number, number]] = p ?? [
    [0, 0],
    g.padding[0] as [number, number],
    g.padding[1] as [number, number],
    [0, 0],
  ];
  const strides = [g.stride[0] ?? 1, g.stride[1] ?? 1] as [number, number];
  if (epi.bias || epi.relu) {
    return tf.fused.conv2d({
      x,
      filter: w,
      strides,
      pad: pad as number,
      bias: epi.bias,
      activation: epi.relu ? 'relu' : 'linear',
    });
  }
  return tf.conv2d(x, w, strides, pad as number);
}

function epilogue(y: tf.Tensor, epi: ConvEpilogue): tf.Tensor {
  let out = epi.bias ? tf.add(y, epi.bias) : y;
  if (epi.relu) out = tf.relu(out);
  return out;
}

/**
 * N-D convolution (1-D, 2-D or 3-D by the weight's rank) in channels-last layout with explicit
 * padding, optionally fused with a bias and a ReLU.
 */
export function convNd(x: tf.Tensor, weight: tf.Tensor, g: ConvGeometry, epi: ConvEpilogue = {}): tf.Tensor {
  const spatial = weight.rank - 2;
  if (x.rank !== spatial + 2) {
    throw new ShapeError(
      `conv input must have rank ${spatial + 2} for a rank-${weight.rank} weight; got shape [${x.shape.join(', ')}]`,
    );
  }
  const cin = x.shape[x.rank - 1];
  if (cin !== weight.shape[weight.rank - 2]) {
    throw new ShapeError(
      `conv input has ${cin} channels but the weight [${weight.shape.join(', ')}] expects ${weight.shape[weight.rank - 2]}`,
    );
  }
  return tf.tidy(() => {
    if (spatial === 2) return conv2d(x as tf.Tensor4D, weight as tf.Tensor4D, g, epi);
    const padded = padInput(x, g.padding);
    if (spatial === 1) {
      return epilogue(
        tf.conv1d(padded as tf.Tensor3D, weight as tf.Tensor3D, g.stride[0] ?? 1, 'valid'),
        epi,
      );
    }
    const s = g.stride as [number, number, number];
    return epilogue(tf.conv3d(padded as tf.Tensor5D, weight as tf.Tensor5D, s, 'valid'), epi);
  });
}
