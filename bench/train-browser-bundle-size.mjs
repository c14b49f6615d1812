#!/usr/bin/env node
/**
 * Browser bundle size of an app that trains with @dirac/train/browser, bundled from the built packages as an
 * app that installed them from npm would be (esbuild, minified, gzip level 9):
 *   1. with the build that the `browser` export condition picks (dist/browser.web.js: tfjs-core's gradient
 *      registrations imported from the app's tfjs-core);
 *   2. the baseline: the same app with the Node build (dist/browser.js, which inlines the gradients and the
 *      tfjs-core ops they use, since Node cannot load that ES-module file of tfjs-core).
 *
 *   npm run build && node bench/train-browser-bundle-size.mjs
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { nodePaths } from '../examples/browser/build.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const APP = `
import { useBackend } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';
import { TrainableModel, evaluate, learningRate } from '@dirac/train/browser';
export async function train(batch) {
  await useBackend('wasm');
  const spec = buildModel('diracnet-10-1');
  const model = new TrainableModel(spec, initParams(spec, 1), { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  return [model.step(batch, learningRate({ name: 'onecycle', lr: 0.1, epochs: 1 }, 0.5)), evaluate];
}
`;

async function bundle(trainFile) {
  const r = await esbuild.build({
    stdin: { contents: APP, resolveDir: root, loader: 'js', sourcefile: 'app.js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    nodePaths: nodePaths(),
    logLevel: 'error',
    legalComments: 'none',
    alias: trainFile ? { '@dirac/train/browser': join(root, 'packages/train/dist', trainFile) } : {},
  });
  const out = r.outputFiles[0].contents;
  const inputs = Object.entries(Object.values(r.metafile.outputs)[0].inputs);
  const from = (part) =>
    inputs.filter(([k]) => k.includes(part)).reduce((n, [, v]) => n + v.bytesInOutput, 0);
  return {
    bytes: out.byteLength,
    gzip: gzipSync(out, { level: 9 }).byteLength,
    train: from('packages/train/dist/'),
    tfjsCore: from('@tensorflow/tfjs-core/'),
    usedWeb: inputs.some(([k]) => k.endsWith('packages/train/dist/browser.web.js')),
  };
}

if (!existsSync(join(root, 'packages/train/dist/browser.web.js'))) {
  console.error('packages/train/dist is not built: run npm run build first');
  process.exit(1);
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const web = await bundle(undefined);
const node = await bundle('browser.js');
if (!web.usedWeb) throw new Error('the browser condition did not pick dist/browser.web.js');
for (const [name, b] of [
  ['browser build (the `browser` condition)', web],
  ['Node build (baseline)', node],
]) {
  console.log(
    `${name}: app ${kib(b.bytes)} minified, ${kib(b.gzip)} gzipped; of which @dirac/train ${kib(b.train)}, tfjs-core ${kib(b.tfjsCore)}`,
  );
}
console.log(
  `ratio browser/baseline: ${(web.bytes / node.bytes).toFixed(3)} minified, ${(web.gzip / node.gzip).toFixed(3)} gzipped`,
);
