#!/usr/bin/env node
/**
 * Why int8 needs the identity split (packages/core/src/onnx/identity-split.ts): for each 3x3 conv of a folded
 * model that has an identity (the centre-tap diagonal of its first min(in, out) channels), the median over those
 * channels of |identity tap| / largest other tap, and of the mean |other tap| in int8 steps when one symmetric
 * int8 scale covers the whole output channel (the scale the identity tap sets).
 *
 *   node bench/identity-dominance.mjs zoo/cifar10/diracnet-34-1
 */
import '@tensorflow/tfjs-backend-cpu';
import { disposeModel } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/identity-dominance.mjs <folded model directory>');
  process.exit(2);
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const model = await loadModelDir(dir);
const rows = [];
for (const [name, t] of Object.entries(model.tensors)) {
  if (t.rank !== 4 || t.shape[0] !== 3 || t.shape[1] !== 3 || t.shape[2] < 8) continue;
  const [kh, kw, ci, co] = t.shape;
  const w = t.dataSync();
  const centre = (1 * kw + 1) * ci;
  const ratios = [];
  const steps = [];
  for (let o = 0; o < Math.min(ci, co); o++) {
    const diag = Math.abs(w[(centre + o) * co + o]);
    let other = 0;
    let sum = 0;
    for (let k = 0; k < kh * kw * ci; k++) {
      if (k === centre + o) continue;
      const v = Math.abs(w[k * co + o]);
      other = Math.max(other, v);
      sum += v;
    }
    ratios.push(diag / other);
    steps.push(sum / (kh * kw * ci - 1) / (Math.max(diag, other) / 127));
  }
  rows.push([name, median(ratios), median(steps)]);
}
disposeModel(model);
console.log('conv weight | median identity tap / largest other tap | median mean other tap, in int8 steps');
for (const [name, r, s] of rows) console.log(`${name} | ${r.toFixed(1)}x | ${s.toFixed(2)}`);
const all = rows.map((r) => r[1]);
const steps = rows.map((r) => r[2]);
console.log(
  `${rows.length} convs: ratio ${Math.min(...all).toFixed(1)}x to ${Math.max(...all).toFixed(1)}x; ` +
    `mean other tap ${Math.min(...steps).toFixed(2)} to ${Math.max(...steps).toFixed(2)} int8 steps`,
);
