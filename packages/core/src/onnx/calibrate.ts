import { type Model, requireTensor, ShapeError, UsageError } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { identityKey, identitySplit, identityWeight, splitKey, withoutIdentity } from './identity-split';
import { type ExportOp, lowerModel } from './lower';

/**
 * Activation ranges for int8 export: for every op of the lowered graph (keyed by its position, see
 * {@link opKey}) and for the graph input (`'input'`), the `[low, high]` range its output is quantized to.
 * Plain JSON, so it can be saved next to an export and reused.
 */
export interface CalibrationTable {
  /** How the ranges were measured. */
  method: 'minmax' | 'percentile';
  /** The percentile used by 'percentile' (e.g. 99.99). */
  percentile?: number;
  /** Images seen. */
  images: number;
  ranges: Record<string, [number, number]>;
}

/** Options of {@link calibrateActivations}. */
export interface CalibrateOptions {
  /**
   * 'minmax' (default): the smallest and largest value seen. 'percentile': per batch, the `percentile`-th
   * and (100 − `percentile`)-th values, averaged over batches (clips rare outliers).
   */
  method?: 'minmax' | 'percentile';
  /** For 'percentile'; default 99.99. */
  percentile?: number;
}

/** The key of an op: its index in the top-level list, nested as `3.body.1`, `3.shortcut.0`. */
export function opKey(prefix: string, index: number): string {
  return `${prefix}${index}`;
}

interface Acc {
  lo: number;
  hi: number;
  batches: number;
}

function quantile(sorted: Float32Array, q: number): number {
  const pos = Math.min(sorted.length - 1, Math.max(0, q * (sorted.length - 1)));
  const i = Math.floor(pos);
  const f = pos - i;
  return sorted[i]! * (1 - f) + (sorted[Math.min(i + 1, sorted.length - 1)] ?? sorted[i]!) * f;
}

/**
 * Measures the activation ranges int8 export needs by running the folded model (tfjs, NHWC) on
 * calibration batches: a few hundred training images, preprocessed exactly as for inference.
 *
 * @param batches NHWC float32 batches `[N, H, W, C]` (the caller keeps and disposes them)
 * @throws SpecError for a training-form model; ShapeError for batches that do not fit the model
 */
export async function calibrateActivations(
  model: Model,
  batches: Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>,
  options: CalibrateOptions = {},
): Promise<CalibrationTable> {
  const method = options.method ?? 'minmax';
  const p = options.percentile ?? 99.99;
  if (method === 'percentile' && !(p > 50 && p <= 100)) {
    throw new UsageError(`calibration percentile must be in (50, 100]; got ${p}`);
  }
  const lowered = lowerModel(model);
  const acc = new Map<string, Acc>();
  const record = (key: string, t: tf.Tensor) => {
    let lo: number;
    let hi: number;
    if (method === 'minmax') {
      lo = tf.min(t).dataSync()[0]!;
      hi = tf.max(t).dataSync()[0]!;
    } else {
      const sorted = (t.dataSync() as Float32Array).slice().sort();
      lo = quantile(sorted, 1 - p / 100);
      hi = quantile(sorted, p / 100);
    }
    const a = acc.get(key);
    if (!a) acc.set(key, { lo, hi, batches: 1 });
    else if (method === 'minmax') {
      a.lo = Math.min(a.lo, lo);
      a.hi = Math.max(a.hi, hi);
    } else {
      a.lo += lo;
      a.hi += hi;
      a.batches++;
    }
  };
  const t = (name: string) => requireTensor(model.tensors, name);
  // The parts of the convs int8 export splits (see identity-split.ts), made once.
  const splits = new Map<string, { filter: tf.Tensor; identity: tf.Tensor } | undefined>();
  const splitOf = (op: Extract<ExportOp, { op: 'conv' }>) => {
    if (!splits.has(op.name)) {
      const d = identitySplit(op);
      splits.set(
        op.name,
        d && {
          filter: tf.keep(tf.tensor(withoutIdentity(op, d), op.weight.shape)),
          identity: tf.keep(tf.tensor(identityWeight(op, d), [1, 1, ...op.weight.shape.slice(2)])),
        },
      );
    }
    return splits.get(op.name);
  };
  const run = (ops: ExportOp[], x: tf.Tensor, prefix: string): tf.Tensor => {
    ops.forEach((op, i) => {
      x = step(op, x, opKey(prefix, i));
      record(opKey(prefix, i), x);
    });
    return x;
  };
  const step = (op: ExportOp, x: tf.Tensor, key: string): tf.Tensor => {
    switch (op.op) {
      case 'conv': {
        const [[pt, pb], [pl, pr]] = op.padding;
        const conv = (w: tf.Tensor) => {
          const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, op.stride, [
            [0, 0],
            [pt, pb],
            [pl, pr],
            [0, 0],
          ]);
          return op.bias ? tf.add(y, t(op.bias.name)) : y;
        };
        const split = splitOf(op);
        if (split) {
          record(splitKey(key), conv(split.filter));
          record(identityKey(key), tf.conv2d(x as tf.Tensor4D, split.identity as tf.Tensor4D, 1, 'valid'));
        }
        const b = conv(t(op.weight.name));
        return op.relu ? tf.relu(b) : b;
      }
      case 'relu':
        return tf.relu(x);
      case 'ncrelu':
        return tf.concat([tf.relu(x), tf.neg(tf.relu(tf.neg(x)))], -1);
      case 'maxpool':
        return tf.maxPool(x as tf.Tensor4D, op.kernel, op.stride, op.pad === 0 ? 'valid' : op.pad);
      case 'globalAvgPool':
        return tf.mean(x, [1, 2]);
      case 'linear':
        return tf.add(tf.matMul(x as tf.Tensor2D, t(op.weight.name) as tf.Tensor2D), t(op.bias.name));
      case 'batchnorm':
        return tf.batchNorm(
          x,
          t(op.mean.name),
          t(op.variance.name),
          t(op.beta.name),
          t(op.gamma.name),
          op.eps,
        );
      case 'residual': {
        const body = run(op.body, x, `${key}.body.`);
        const shortcut = op.shortcut.length ? run(op.shortcut, x, `${key}.shortcut.`) : x;
        return tf.add(body, shortcut);
      }
    }
  };
  let images = 0;
  try {
    images = await calibrateOn(batches, lowered.channels, (x) => {
      record('input', x);
      run(lowered.ops, x, '');
    });
  } finally {
    for (const split of splits.values()) tf.dispose(split ? [split.filter, split.identity] : []);
  }
  if (images === 0) throw new UsageError('calibration needs at least one image');
  const ranges: Record<string, [number, number]> = {};
  for (const [key, a] of acc)
    ranges[key] = [
      a.lo / (method === 'minmax' ? 1 : a.batches),
      a.hi / (method === 'minmax' ? 1 : a.batches),
    ];
  return { method, ...(method === 'percentile' ? { percentile: p } : {}), images, ranges };
}

/** Runs `each` on every batch (cast to float32, inside tidy) and counts the images. */
async function calibrateOn(
  batches: Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>,
  channels: number,
  each: (x: tf.Tensor) => void,
): Promise<number> {
  let images = 0;
  for await (const batch of batches) {
    if (batch.rank !== 4 || batch.shape[3] !== channels) {
      throw new ShapeError(
        `calibration batches must be NHWC [N, H, W, ${channels}]; got [${batch.shape.join(', ')}]`,
      );
    }
    tf.tidy(() => each(batch.dtype === 'float32' ? batch : tf.cast(batch, 'float32')));
    images += batch.shape[0];
  }
  return images;
}
