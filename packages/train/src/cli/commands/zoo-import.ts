import { countParams } from '@dirac/core';
import { importUpstream } from '../../zoo/upstream-import';
import { selectBackend } from '../backend';
import { emit } from '../output';
import { startProgress } from '../progress';

interface ZooImportCliOptions {
  file?: string;
  url?: string;
  zoo?: string;
  json?: boolean;
}

export async function run(name: string, opts: ZooImportCliOptions): Promise<number> {
  await selectBackend('cpu', true);
  let bar: ReturnType<typeof startProgress> | undefined;
  const spec = await importUpstream(name, {
    file: opts.file,
    url: opts.url,
    zooDir: opts.zoo,
    onDownload: (p) => {
      if (p.total === undefined) return;
      bar ??= startProgress('download', p.total, { enabled: !opts.json });
      bar.update(p.loaded);
    },
  });
  bar?.stop();
  const params = countParams(spec);
  emit(Boolean(opts.json), { name: `imagenet/${spec.name}`, params }, () =>
    [
      `installed imagenet/${spec.name} (${params.toLocaleString('en-US')} parameters, converted from upstream's folded weights)`,
      `  try: npx dirac classify <photo.jpg> --model imagenet/${spec.name}`,
    ].join('\n'),
  );
  return 0;
}
