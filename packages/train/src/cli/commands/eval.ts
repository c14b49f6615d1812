import { join } from 'node:path';
import { disposeModel, UsageError } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';
import { loadCifar } from '../../data/cifar';
import { ImageFolder } from '../../data/image-folder';
import { normalizeBatch } from '../../data/normalize';
import { BatchLoader } from '../../data/prefetch';
import { evaluate, splitBatches } from '../../evaluate';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';
import { startProgress } from '../progress';

interface EvalOptions {
  model: string;
  data: string;
  dataset: string;
  split: string;
  limit?: string;
  batchSize: string;
  backend?: string;
  json?: boolean;
}

export async function run(opts: EvalOptions): Promise<number> {
  if (!['train', 'test', 'val'].includes(opts.split))
    throw new UsageError(`--split must be train, test or val; got '${opts.split}'`);
  if (!['cifar10', 'cifar100', 'imagefolder'].includes(opts.dataset)) {
    throw new UsageError(`--dataset must be cifar10, cifar100 or imagefolder; got '${opts.dataset}'`);
  }
  const limit = numberOption('limit', opts.limit, { integer: true, min: 1 });
  const batchSize = numberOption('batch-size', opts.batchSize, { integer: true, min: 1 })!;
  await selectBackend(opts.backend, opts.json);
  const model = await loadModelDir(opts.model);
  const data = await openSplit(opts, limit, batchSize);
  if (model.spec.numClasses !== data.classNames.length) {
    throw new UsageError(
      `the model has ${model.spec.numClasses} classes but the data has ${data.classNames.length}`,
    );
  }
  const progress = startProgress('eval', data.n, { enabled: !opts.json });
  const result = await evaluate(model.spec, model.tensors, data.batches, (seen) => progress.update(seen));
  progress.stop();
  disposeModel(model);
  emit(Boolean(opts.json), result, () =>
    [
      `${opts.model} on ${opts.dataset} ${opts.split} (${result.n} images):`,
      `  top-1 ${(100 * result.top1).toFixed(2)}%   top-5 ${(100 * result.top5).toFixed(2)}%   loss ${result.loss.toFixed(4)}`,
      `  per class: ${result.perClass.map((a, i) => `${data.classNames[i]} ${(100 * a).toFixed(1)}`).join(', ')}`,
    ].join('\n'),
  );
  return 0;
}

async function openSplit(opts: EvalOptions, limit: number | undefined, batchSize: number) {
  if (opts.dataset === 'imagefolder') {
    const folder = await ImageFolder.open(join(opts.data, opts.split === 'test' ? 'val' : opts.split));
    const loader = new BatchLoader(folder, {
      batchSize,
      augment: false,
      shuffle: false,
      seed: 0,
      normalize: 'imagenet',
      limit,
    });
    return { n: loader.size, classNames: folder.classNames, batches: loader.epochBatches(0) };
  }
  const split = await loadCifar(opts.data, {
    dataset: opts.dataset as 'cifar10' | 'cifar100',
    split: opts.split === 'train' ? 'train' : 'test',
    limit,
    shared: false,
  });
  const batches = splitBatches(
    split,
    batchSize,
    (src, out) => normalizeBatch(src, 'cifar', out),
    32 * 32 * 3,
  );
  return { n: split.n, classNames: split.classNames, batches };
}
