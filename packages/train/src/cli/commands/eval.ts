import { disposeModel, UsageError } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';
import { loadCifar } from '../../data/cifar';
import { normalizeBatch } from '../../data/normalize';
import { evaluate, splitBatches } from '../../evaluate';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';
import { startProgress } from '../progress';

interface EvalOptions {
  model: string;
  data: string;
  dataset: 'cifar10' | 'cifar100';
  split: string;
  limit?: string;
  batchSize: string;
  backend?: string;
  json?: boolean;
}

export async function run(opts: EvalOptions): Promise<number> {
  if (opts.split !== 'train' && opts.split !== 'test')
    throw new UsageError(`--split must be train or test; got '${opts.split}'`);
  if (opts.dataset !== 'cifar10' && opts.dataset !== 'cifar100')
    throw new UsageError(`--dataset must be cifar10 or cifar100; got '${opts.dataset}'`);
  const limit = numberOption('limit', opts.limit, { integer: true, min: 1 });
  const batchSize = numberOption('batch-size', opts.batchSize, { integer: true, min: 1 })!;
  await selectBackend(opts.backend, opts.json);
  const model = await loadModelDir(opts.model);
  const split = await loadCifar(opts.data, {
    dataset: opts.dataset,
    split: opts.split,
    limit,
    shared: false,
  });
  if (model.spec.numClasses !== split.classNames.length) {
    throw new UsageError(
      `the model has ${model.spec.numClasses} classes but ${opts.dataset} has ${split.classNames.length}`,
    );
  }
  const progress = startProgress('eval', split.n, { enabled: !opts.json });
  const result = await evaluate(
    model.spec,
    model.tensors,
    splitBatches(split, batchSize, (src, out) => normalizeBatch(src, 'cifar', out), 32 * 32 * 3),
    (seen) => progress.update(seen),
  );
  progress.stop();
  disposeModel(model);
  emit(Boolean(opts.json), result, () =>
    [
      `${opts.model} on ${opts.dataset} ${opts.split} (${result.n} images):`,
      `  top-1 ${(100 * result.top1).toFixed(2)}%   top-5 ${(100 * result.top5).toFixed(2)}%   loss ${result.loss.toFixed(4)}`,
      `  per class: ${result.perClass.map((a, i) => `${split.classNames[i]} ${(100 * a).toFixed(1)}`).join(', ')}`,
    ].join('\n'),
  );
  return 0;
}
