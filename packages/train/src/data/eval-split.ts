import { join } from 'node:path';
import type { Batch } from '../evaluate';
import { splitBatches } from '../evaluate';
import { loadCifar } from './cifar';
import { ImageFolder } from './image-folder';
import { normalizeBatch } from './normalize';
import { BatchLoader } from './prefetch';

export type EvalDataset = 'cifar10' | 'cifar100' | 'imagefolder';

export interface EvalSplitOptions {
  dataset: EvalDataset;
  /** Dataset folder or .tar.gz (imagefolder: the folder holding train/ and val/). */
  data: string;
  split: string;
  limit?: number;
  batchSize: number;
}

export interface EvalSplit {
  n: number;
  classNames: string[];
  batches: Iterable<Batch> | AsyncIterable<Batch>;
}

/** Un-augmented, normalized batches of a dataset split, in order, as `dirac eval` reads them. */
export async function openEvalSplit(opts: EvalSplitOptions): Promise<EvalSplit> {
  const { limit, batchSize } = opts;
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
