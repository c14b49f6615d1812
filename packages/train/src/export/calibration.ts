import { type Model, UsageError } from '@dirac/core';
import { type CalibrationTable, calibrateActivations } from '@dirac/core/onnx';
import * as tf from '@tensorflow/tfjs-core';
import { type EvalDataset, openEvalSplit } from '../data/eval-split';

/**
 * int8 activation ranges of a folded model, measured on the first `size` images of a dataset's training
 * split (CIFAR folder or .tar.gz, or an image folder), preprocessed as for evaluation.
 */
export async function calibrate(
  model: Model,
  data: string,
  dataset: string,
  size: number,
  options: { method: 'minmax' | 'percentile'; percentile?: number } = { method: 'minmax' },
): Promise<CalibrationTable> {
  if (!['cifar10', 'cifar100', 'imagefolder'].includes(dataset)) {
    throw new UsageError(`--dataset must be cifar10, cifar100 or imagefolder; got '${dataset}'`);
  }
  const split = await openEvalSplit({
    dataset: dataset as EvalDataset,
    data,
    split: 'train',
    limit: size,
    batchSize: 64,
  });
  const c = model.spec.inputShape[2];
  async function* tensors() {
    for await (const b of split.batches) {
      const side = Math.round(Math.sqrt(b.x.length / (b.n * c)));
      const t = tf.tensor4d(b.x, [b.n, side, side, c]);
      try {
        yield t;
      } finally {
        t.dispose();
      }
    }
  }
  return calibrateActivations(model, tensors(), options);
}
