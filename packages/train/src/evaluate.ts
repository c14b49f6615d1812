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
  const tally = new EvalTally(k);
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
    tally.addLoss(loss * b.n);
    top.forEach((row, i) => {
      const rank = row.indexOf(labels[i]!);
      tally.add(labels[i]!, rank < 0 ? row.length : rank);
    });
    onBatch?.(tally.n);
  }
  return tally.result();
}

/** Running tallies of an evaluation: top-1, top-5, per-class top-1 and summed loss. */
export class EvalTally {
  readonly #hits: Float64Array;
  readonly #totals: Float64Array;
  #lossSum = 0;
  #top1 = 0;
  #top5 = 0;
  n = 0;

  constructor(classes: number) {
    this.#hits = new Float64Array(classes);
    this.#totals = new Float64Array(classes);
  }

  /** One image: its label and the label's rank among the predictions (0: top-1). */
  add(label: number, rank: number): void {
    this.#totals[label]! += 1;
    if (rank === 0) {
      this.#top1++;
      this.#hits[label]! += 1;
    }
    if (rank < 5) this.#top5++;
    this.n++;
  }

  /** Cross-entropy summed over images. */
  addLoss(sum: number): void {
    this.#lossSum += sum;
  }

  result(): EvalResult {
    const n = this.n;
    return {
      top1: n ? this.#top1 / n : 0,
      top5: n ? this.#top5 / n : 0,
      loss: n ? this.#lossSum / n : 0,
      n,
      perClass: Array.from(this.#hits, (hit, i) => (this.#totals[i] ? hit / this.#totals[i]! : 0)),
    };
  }
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
