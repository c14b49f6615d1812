import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { UsageError } from '@dirac/core';
import { exists, zooIndexPaths } from '@dirac/core/node';
import { load } from '@dirac/infer/node';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';

interface ClassifyOptions {
  model?: string;
  top: string;
  fp16?: boolean;
  backend?: string;
  json?: boolean;
}

/** The photo `dirac classify` uses when given none (CC0, see assets/README.md), from dist/ or src/. */
async function bundledImage(): Promise<string> {
  for (const rel of ['../assets/chelsea.png', '../../../assets/chelsea.png']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (await exists(path)) return path;
  }
  throw new UsageError('the bundled image assets/chelsea.png is missing from @dirac/train: name an image');
}

async function defaultModel(): Promise<string> {
  for (const path of await zooIndexPaths()) {
    const index = JSON.parse(await readFile(path, 'utf8')) as { default?: string };
    if (index.default) return index.default;
  }
  throw new UsageError('no zoo with a default model was found: name one with --model <zoo name or folder>');
}

export async function run(images: string[], opts: ClassifyOptions): Promise<number> {
  const topk = numberOption('top', opts.top, { integer: true, min: 1 })!;
  const source = opts.model ?? (await defaultModel());
  const inputs = images.length ? images : [await bundledImage()];
  await selectBackend(opts.backend, opts.json);
  const model = await load(source, { dtype: opts.fp16 ? 'float16' : 'float32' });
  try {
    const results = await model.classify(inputs, { topk });
    const out = inputs.map((image, i) => ({ image, top: results[i]! }));
    emit(Boolean(opts.json), { model: source, backend: model.backend, results: out }, () =>
      out
        .map(({ image, top }) =>
          [
            `${images.length ? image : 'chelsea.png (bundled CC0 photo of a cat)'} with ${source}:`,
            ...top.map((p) => `  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}`),
          ].join('\n'),
        )
        .join('\n'),
    );
  } finally {
    model.dispose();
  }
  return 0;
}
