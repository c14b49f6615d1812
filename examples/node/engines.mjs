#!/usr/bin/env node
/**
 * Picks a tfjs backend and an engine in Node, says which ones it got and why, and classifies an image:
 *
 *   node examples/node/engines.mjs <model dir | URL | zoo name> <image> [backend] [engine]
 *
 * backend: 'auto' (default) takes @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node when installed, else
 * WebAssembly with a worker thread per core, else the plain JavaScript cpu backend; 'gpu' fails loudly rather
 * than falling back to the CPU. engine: 'auto' (default: onnxruntime-node when installed, unless tfjs runs on
 * a GPU), 'tfjs' or 'onnxruntime'. Needs the packages built (`npm run build`).
 */
import { useBackend } from '@dirac/core';
import { load } from '@dirac/infer/node';

/**
 * Selects the backend, loads the model with the engine asked for and classifies one image.
 * @param {string[]} argv model, image, optional backend request and engine
 * @param {(line: string) => void} [print] where results go (default: console.log)
 * @returns {Promise<{ backend: string, engine: string, top: import('@dirac/infer').Prediction[] }>}
 */
export async function main(argv, print = console.log) {
  const [modelSource, image, request = 'auto', engine = 'auto'] = argv;
  if (!modelSource || !image) throw new Error('usage: engines.mjs <model> <image> [backend] [engine]');
  // #region backend
  const info = await useBackend(request); // 'auto' | 'gpu' | 'tensorflow' | 'wasm' | 'cpu'
  print(`backend ${info.name} (gpu: ${info.gpu}, threads: ${info.threads ?? '-'}): ${info.reason}`);
  for (const r of info.rejected) print(`  not ${r.name}: ${r.why}`);
  // #endregion backend
  // #region classify
  // engine: 'auto' | 'tfjs' | 'onnxruntime'; tfjs uses the backend selected above
  const model = await load(modelSource, { engine });
  print(`engine ${model.engine.name} (${model.engine.backend}): ${model.engine.reason}`);
  const [top] = await model.classify([image], { topk: 3 });
  print(`${model.spec.name}: ${top[0].label} ${(100 * top[0].probability).toFixed(1)}%`);
  await model.dispose();
  // #endregion classify
  return { backend: model.backend, engine: model.engine.name, top };
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
