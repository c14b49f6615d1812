#!/usr/bin/env node
/**
 * Classifies image files with a folded DiracNet in Node:
 *
 *   node examples/node/classify.mjs <model dir | URL | zoo name> <image.jpg|png>... [--topk 5] [--fp16]
 *
 * The model loads from a local directory (offline), a URL (cached under ~/.cache/dirac, sha256-checked)
 * or a zoo name; images are decoded with sharp. Needs the packages built (`npm run build`). Try it with
 * `node examples/node/make-demo-model.mjs /tmp/demo-model` first.
 */
import { load } from '@dirac/infer/node';

/**
 * Runs the example: parses `argv`, loads the model (progress on stderr), prints the top-k of each image.
 * @param {string[]} argv command-line arguments after the script
 * @param {(line: string) => void} [print] where results go (default: console.log)
 * @returns {Promise<{ image: string, top: import('@dirac/infer').Prediction[] }[]>}
 */
export async function main(argv, print = console.log) {
  const args = [...argv];
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, name === '--fp16' ? 1 : 2);
    return value ?? true;
  };
  const topk = Number(flag('--topk') ?? 5);
  const fp16 = flag('--fp16') !== undefined;
  const [source, ...images] = args;
  if (!source || images.length === 0) {
    throw new Error('usage: classify.mjs <model dir | URL | zoo name> <image>... [--topk N] [--fp16]');
  }
  // #region load
  const model = await load(source, {
    dtype: fp16 ? 'float16' : 'float32',
    onProgress: (p) => {
      if (p.status === 'done' || p.status === 'ready') process.stderr.write(`${p.status}: ${p.file}\n`);
    },
  });
  print(`${model.spec.name} on ${model.backend}, network on ${model.engine.name}: ${model.engine.reason}`);
  const results = await model.classify(images, { topk }); // top-k of each image, best first
  // #endregion load
  results.forEach((top, i) => {
    print(images[i]);
    for (const p of top) print(`  ${p.label.padEnd(14)} ${(100 * p.probability).toFixed(2).padStart(6)}%`);
  });
  model.dispose();
  return results.map((top, i) => ({ image: images[i], top }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`${e.name ?? 'Error'}: ${e.message}`);
    process.exit(1);
  });
}
