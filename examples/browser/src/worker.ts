/**
 * The Web Worker variant: the same load() + classify() as the page, off the main thread. Images are
 * fetched and decoded with createImageBitmap (no DOM in a worker); tfjs reads them through OffscreenCanvas.
 */
import '@tensorflow/tfjs-backend-webgl';
import { load } from '@dirac/infer';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { RunReport, WorkerRequest } from './shared';

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage: (message: RunReport) => void;
};

scope.onmessage = async (e) => {
  const { modelUrl, imageUrls, backend, wasmPath } = e.data;
  try {
    // #region worker
    setWasmPaths(wasmPath);
    const t0 = performance.now();
    const model = await load(modelUrl, { backend });
    const loadMs = performance.now() - t0;
    const results: RunReport['results'] = [];
    let total = 0;
    for (const url of imageUrls) {
      const blob = await (await fetch(url)).blob();
      const bitmap = await createImageBitmap(blob, {
        colorSpaceConversion: 'none',
        premultiplyAlpha: 'none',
      });
      const t1 = performance.now();
      const top = await model.classify(bitmap);
      total += performance.now() - t1;
      bitmap.close();
      results.push({ image: url, top });
    }
    // #endregion worker
    model.dispose();
    scope.postMessage({
      status: 'done',
      where: 'worker',
      backend: model.backend,
      results,
      loadMs,
      classifyMs: total / Math.max(1, imageUrls.length),
    });
  } catch (err) {
    scope.postMessage({
      status: 'error',
      where: 'worker',
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
  }
};
