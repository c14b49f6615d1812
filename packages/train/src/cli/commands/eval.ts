import { disposeModel, UsageError } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';
import { type EvalDataset, openEvalSplit } from '../../data/eval-split';
import { evaluate } from '../../evaluate';
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
  const data = await openEvalSplit({ ...opts, dataset: opts.dataset as EvalDataset, limit, batchSize });
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
