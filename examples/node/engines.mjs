#!/usr/bin/env node
/**
 * Picks a tfjs backend in Node, says which one it got and why, and classifies an image with it:
 *
 *   node examples/node/engines.mjs <model dir | URL | zoo name> <image> [auto|wasm|cpu|tensorflow|gpu]
 *
 * 'auto' takes @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node when installed, else WebAssembly with a
 * worker thread per core, else the plain JavaScript cpu backend. 'gpu' fails loudly rather than falling back
 * to the CPU. Needs the packages built (`npm run build`).
 */
import { useBackend } from '@dirac/core';
import { load } from '@dirac/infer/node';

/**
 * Selects the backend, loads the model on it and classifies one image.
 * @param {string[]} argv model, image and optional backend request
 * @param {(line: string) => void} [print] where results go (default: console.log)
 * @returns {Promise<{ backend: string, top: import('@dirac/infer').Prediction[] }>}
 */
export async function main(argv, print = console.log) {
  const [modelSource, image, request = 'auto'] = argv;
  if (!modelSource || !image) throw new Error('usage: engines.mjs <model> <image> [backend]');
  // #region backend
  const info = await useBackend(request); // 'auto' | 'gpu' | 'tensorflow' | 'wasm' | 'cpu'
  print(`backend ${info.name} (gpu: ${info.gpu}, threads: ${info.threads ?? '-'}): ${info.reason}`);
  for (const r of info.rejected) print(`  not ${r.name}: ${r.why}`);
  // #endregion backend
  // #region classify
  const model = await load(modelSource); // runs on the backend selected above
  const [top] = await model.classify([image], { topk: 3 });
  print(`${model.spec.name} on ${model.backend}: ${top[0].label} ${(100 * top[0].probability).toFixed(1)}%`);
  model.dispose();
  // #endregion classify
  return { backend: model.backend, top };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      console.error(`${e.name ?? 'Error'}: ${e.message}`);
      process.exit(1);
    },
  );
}
