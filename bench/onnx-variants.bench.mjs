#!/usr/bin/env node
/**
 * Speed of ONNX files (e.g. the fp32, fp16 and int8 exports of one CIFAR model) in onnxruntime-node,
 * measured in alternating rounds in one run (best time of 40 rounds, batch 1 and 64), with each file's
 * ratio to the first:
 *
 *   node bench/onnx-variants.bench.mjs model.onnx model.fp16.onnx model.int8.onnx
 *
 * Input: float32 NCHW [N, 3, 32, 32] named as the file's first input. On a shared machine only the ratios of
 * one run mean anything.
 */
import * as ort from 'onnxruntime-node';

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node bench/onnx-variants.bench.mjs <file.onnx>...');
  process.exit(2);
}
const sessions = await Promise.all(files.map((f) => ort.InferenceSession.create(f)));
for (const batch of [1, 64]) {
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: batch * 3072 }, (_, i) => Math.sin(i)),
    [batch, 3, 32, 32],
  );
  const best = files.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < 40; r++) {
    for (let k = 0; k < sessions.length; k++) {
      const i = (k + r) % sessions.length;
      const s = sessions[i];
      const t = performance.now();
      await s.run({ [s.inputNames[0]]: x });
      best[i] = Math.min(best[i], performance.now() - t);
    }
  }
  const ips = best.map((ms) => (1000 * batch) / ms);
  console.log(
    `batch ${batch}: ${files.map((f, i) => `${f.split('/').pop()} ${ips[i].toFixed(0)} img/s (x${(ips[i] / ips[0]).toFixed(2)})`).join(', ')}`,
  );
}
for (const s of sessions) await s.release();
