import { join } from 'node:path';
import { UsageError } from '@dirac/core';
import { CIFAR10_BINARY, CIFAR100_BINARY, downloadFile } from '../../data/download';
import { startProgress } from '../progress';

const ARCHIVES = { cifar10: CIFAR10_BINARY, cifar100: CIFAR100_BINARY };

export async function run(dataset: string, opts: { out: string; url?: string }): Promise<number> {
  const archive = ARCHIVES[dataset as keyof typeof ARCHIVES];
  if (!archive) throw new UsageError(`unknown dataset '${dataset}'; use cifar10 or cifar100`);
  const dest = join(opts.out, archive.fileName);
  let progress: ReturnType<typeof startProgress> | null = null;
  const result = await downloadFile(opts.url ?? archive.url, dest, {
    md5: archive.md5,
    onProgress: (e) => {
      progress ??= startProgress(archive.fileName, e.total ?? 0, { everyMs: 5000 });
      progress.update(e.loaded, { MB: (e.loaded / 1e6).toFixed(1) });
    },
  });
  (progress as ReturnType<typeof startProgress> | null)?.stop();
  process.stderr.write(
    `dirac: ${result.cached ? 'already present' : result.resumed ? 'resumed and verified' : 'downloaded and verified'}: ${result.path} (${result.bytes} bytes, md5 ${archive.md5})\n`,
  );
  return 0;
}
