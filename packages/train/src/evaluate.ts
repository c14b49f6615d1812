import { forward, type ModelSpec, type TensorMap } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy } from './loss';

/** A batch of normalized NHWC images and their labels. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/** What `dirac eval` reports. */
export interface EvalResult {
  /** Fractions in [0, 1]. */
  top1: number;
  top5: number;
  /** Mean cross-entropy. */
  loss: number;
  n: number;
  /** Top-1 per class (index = label), fractions in [0, 1]. */
  perClass: number[];
}

/** Evaluates a model (either form) in inference mode over batches; `onBatch` reports progress. */
export async function evaluate(
  spec: ModelSpec,
  tensors: TensorMap,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  onBatch?: (seen: number) => void,
): Promise<EvalResult> {
  const [h, w, c] = spec.inputShape;
  const k = spec.numClasses;
  const hits = new Float64Array(k);
  const totals = new Float64Array(k);
  let lossSum = 0;
  let top1 = 0;
  let top5 = 0;
  let n = 0;
  for await (const b of batches) {
    const [loss, top, labels] = tf.tidy(() => {
      const x = tf.tensor4d(b.x, [b.n, h, w, c]);
      const y = tf.tensor1d(b.y, 'int32');
      const logits = forward(spec, tensors, x, { mode: 'eval' });
      return [
        crossEntropy(logits, y).dataSync()[0]!,
        tf.topk(logits, Math.min(5, k)).indices.arraySync() as number[][],
        b.y,
      ];
    });
    lossSum += loss * b.n;
    top.forEach((row, i) => {
      const label = labels[i]!;
      totals[label]! += 1;
      if (row[0] === label) {
        top1++;
        hits[label]! += 1;
      }
      if (row.includes(label)) top5++;
    });
    n += b.n;
    onBatch?.(n);
  }
  return {
    top1: n ? top1 / n : 0,
    top5: n ? top5 / n : 0,
    loss: n ? lossSum / n : 0,
    n,
    perClass: Array.from(hits, (hit, i) => (totals[i] ? hit / totals[i]! : 0)),
  };
}

/** Un-augmented, normalized batches over a whole uint8 HWC split, in order. */
export function* splitBatches(
  split: { images: Uint8Array; labels: Uint8Array; n: number },
  batchSize: number,
  normalize: (src: Uint8Array, out: Float32Array) => Float32Array,
  pixelsPerImage: number,
): Generator<Batch> {
  const buf = new Float32Array(batchSize * pixelsPerImage);
  for (let start = 0; start < split.n; start += batchSize) {
    const n = Math.min(batchSize, split.n - start);
    const x = normalize(
      split.images.subarray(start * pixelsPerImage, (start + n) * pixelsPerImage),
      buf,
    ).subarray(0, n * pixelsPerImage);
    yield { x, y: Int32Array.from(split.labels.subarray(start, start + n)), n };
  }
}
