/**
 * The engine measurement page for browser-engines.test.ts: loads a model on one engine (tfjs on webgl or
 * wasm, or onnxruntime-web on wasm, or 'auto'), classifies synthetic images and times `predict()` on
 * batches. Reports through `window.__engines`.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { type EngineRequest, load, type Prediction } from '@dirac/infer';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { reportTo } from '../../../../test-support/page-report';
import { patternRgb } from './pattern';

export interface EnginesReport {
  engine: { name: string; backend: string; reason: string };
  tfjsBackend: string;
  top: Prediction[][];
  /** images/s of predict() by batch size (best of the timed rounds) */
  speed: Record<string, number>;
}

const q = new URLSearchParams(location.search);

function image(seed: number, size: number): ImageData {
  const rgb = patternRgb(seed, size);
  const d = new Uint8ClampedArray(size * size * 4).fill(255);
  for (let i = 0; i < size * size; i++) d.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
  return new ImageData(d, size, size);
}

async function main(): Promise<EnginesReport> {
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  const engine = (q.get('engine') ?? 'auto') as EngineRequest;
  const backend = q.get('backend') ?? 'webgl';
  const withOrt = q.get('ort') !== '0';
  const model = await load(q.get('model')!, {
    backend,
    engine,
    ...(withOrt
      ? {
          onnxruntime: async () => {
            const ort = await import('onnxruntime-web');
            ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
            ort.env.wasm.numThreads = 1;
            return ort;
          },
        }
      : {}),
  });
  const size = model.spec.inputShape[0];
  const top = await model.classify([0, 1, 2].map((s) => image(s, size)));
  const speed: Record<string, number> = {};
  for (const b of (q.get('batches') ?? '').split(',').filter(Boolean).map(Number)) {
    const x = tf.randomNormal([b, size, size, 3], 0, 1, 'float32', 1);
    let best = Number.POSITIVE_INFINITY;
    const t0 = performance.now();
    for (let r = 0; r < 2 || (r < 30 && performance.now() - t0 < Number(q.get('budget') ?? 3000)); r++) {
      const t = performance.now();
      const y = await model.predict(x);
      await y.data();
      y.dispose();
      if (r > 0) best = Math.min(best, performance.now() - t);
    }
    x.dispose();
    speed[b] = (1000 * b) / best;
  }
  const report: EnginesReport = {
    engine: model.engine,
    tfjsBackend: tf.getBackend(),
    top,
    speed,
  };
  await model.dispose();
  return report;
}

reportTo('__engines', main);
