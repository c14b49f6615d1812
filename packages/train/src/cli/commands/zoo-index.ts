import { resolve } from 'node:path';
import { userZooDir } from '@dirac/core/node';
import { writeZooIndex } from '../../zoo/index-file';
import { emit } from '../output';

export async function run(opts: { zoo?: string; json?: boolean }): Promise<number> {
  const dir = opts.zoo ? resolve(opts.zoo) : userZooDir();
  const index = await writeZooIndex(dir, { listUpstream: Boolean(opts.zoo) });
  emit(Boolean(opts.json), index, () =>
    [
      `${dir}/index.json: ${index.entries.length} entries${index.default ? ` (default ${index.default})` : ''}`,
      ...index.entries.map(
        (e) =>
          `  ${e.name.padEnd(28)} ${e.source.padEnd(24)} ${e.metrics ? `top-1 ${(100 * e.metrics.top1!).toFixed(2)}%` : e.files.length ? '' : '(run dirac zoo import)'}`,
      ),
    ].join('\n'),
  );
  return 0;
}
