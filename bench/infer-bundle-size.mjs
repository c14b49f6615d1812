#!/usr/bin/env node
/**
 * Browser bundle sizes of @dirac/infer, minified (esbuild) and gzipped (level 9), with code splitting as
 * Vite, webpack and Rollup do it: what a dynamic import() reaches goes into lazy chunks that are fetched
 * only when that code runs (the onnxruntime engine's ONNX builder, @dirac/core/onnx with protobufjs):
 *   1. a minimal app: load() + classify() with tfjs-core and the webgl backend (its entry chunk, and the
 *      lazy chunks apart);
 *   2. the same app without @dirac/infer (tfjs-core + webgl, one op), the baseline it adds to;
 *   3. @dirac/infer's own code alone (tfjs and @dirac/core external);
 *   4. per package, what the app of (1) holds, and a check that no training code (fold, Dirac weights,
 *      batch norm, gradient kernels, wasm thread set-up) and no `node:` import is in it.
 *
 *   node bench/infer-bundle-size.mjs
 *
 * Packages are bundled from source (the '@dirac/source' condition); no build needed. NODE_PATH adds module
 * folders (e.g. where @tensorflow/tfjs-backend-webgl is installed when the repository lacks it).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { browserBuildOptions, canResolve } from '../examples/browser/build.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webgl = canResolve('@tensorflow/tfjs-backend-webgl');

async function bundle(name, contents, extra = {}) {
  const r = await esbuild.build(
    browserBuildOptions({
      stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: `${name}.ts` },
      write: false,
      splitting: true,
      outdir: join(root, 'bench/out', name),
      entryNames: '[name]',
      chunkNames: 'lazy-[hash]',
      ...extra,
    }),
  );
  const js = r.outputFiles.filter((f) => f.path.endsWith('.js'));
  const outputs = Object.entries(r.metafile.outputs);
  const keyOf = (f) => outputs.find(([k]) => f.path.endsWith(k))?.[0];
  const metaOf = (f) => r.metafile.outputs[keyOf(f)];
  const entryFile = js.find((f) => !f.path.split('/').pop().startsWith('lazy-'));
  // What loads at start: the entry and every chunk it reaches by static imports; the rest is lazy.
  const eager = new Set([keyOf(entryFile)]);
  for (const k of eager) {
    for (const i of r.metafile.outputs[k]?.imports ?? []) {
      if (i.kind === 'import-statement' && !i.external) eager.add(i.path);
    }
  }
  const start = js.filter((f) => eager.has(keyOf(f)));
  const lazy = js.filter((f) => !eager.has(keyOf(f)));
  const entryInputs = {};
  for (const f of start) {
    for (const [k, v] of Object.entries(metaOf(f)?.inputs ?? {})) {
      entryInputs[k] = { bytesInOutput: (entryInputs[k]?.bytesInOutput ?? 0) + v.bytesInOutput };
    }
  }
  const inputs = {};
  for (const f of js) {
    for (const [k, v] of Object.entries(metaOf(f)?.inputs ?? {})) {
      inputs[k] = { bytesInOutput: (inputs[k]?.bytesInOutput ?? 0) + v.bytesInOutput };
    }
  }
  const size = (files) => ({
    bytes: files.reduce((n, f) => n + f.contents.byteLength, 0),
    gzip: files.reduce((n, f) => n + gzipSync(f.contents, { level: 9 }).byteLength, 0),
  });
  return {
    name,
    ...size(start),
    lazy: size(lazy),
    js: js.map((f) => f.text).join('\n'),
    meta: { inputs: entryInputs },
    /** bytes per input over every chunk */
    inputs,
  };
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const webglImport = webgl ? "import '@tensorflow/tfjs-backend-webgl';\n" : '';

const app = await bundle(
  'app',
  `${webglImport}import { load } from '@dirac/infer';
const model = await load(new URL('./model/', location.href).href, { backend: 'webgl' });
document.body.textContent = JSON.stringify(await model.classify(document.images[0]!));`,
);
const baseline = await bundle(
  'baseline',
  `${webglImport}import { ready, setBackend, tensor, conv2d } from '@tensorflow/tfjs-core';
await setBackend('webgl'); await ready();
document.body.textContent = String(conv2d(tensor([1, 2, 3, 4], [1, 2, 2, 1]), tensor([1], [1, 1, 1, 1]), 1, 0).dataSync());`,
);
const own = await bundle('infer-only', `export * from '@dirac/infer';`, {
  external: ['@tensorflow/*', '@dirac/core'],
});

console.log(`@dirac/infer browser bundle sizes (esbuild ${esbuild.version}, minified; gzip -9)`);
if (!webgl) {
  console.log('NOTE: @tensorflow/tfjs-backend-webgl is not installed: the apps below are built WITHOUT it.');
}
console.log('');
const rows = [
  [`app: load + classify + tfjs-core${webgl ? ' + webgl' : ''}`, app],
  [`baseline: tfjs-core${webgl ? ' + webgl' : ''} alone`, baseline],
  ['@dirac/infer own code (everything exported)', own],
];
for (const [label, r] of rows)
  console.log(`${label.padEnd(48)} ${kib(r.bytes).padStart(10)} ${kib(r.gzip).padStart(10)}`);
console.log(
  `${'app: lazy chunks (only with engine onnxruntime)'.padEnd(48)} ${kib(app.lazy.bytes).padStart(10)} ${kib(app.lazy.gzip).padStart(10)}`,
);
console.log(
  `${'app - baseline'.padEnd(48)} ${kib(app.bytes - baseline.bytes).padStart(10)} ${kib(app.gzip - baseline.gzip).padStart(10)}`,
);

const perPackage = {};
for (const [file, { bytesInOutput }] of Object.entries(app.meta.inputs)) {
  const key = file.includes('node_modules/')
    ? file
        .split('node_modules/')
        .pop()
        .split('/')
        .slice(0, file.includes('node_modules/@') ? 2 : 1)
        .join('/')
    : file.startsWith('packages/')
      ? `@dirac/${file.split('/')[1]}`
      : file;
  perPackage[key] = (perPackage[key] ?? 0) + bytesInOutput;
}
console.log('\napp at start (entry + its static chunks), minified bytes by package (before gzip):');
for (const [k, v] of Object.entries(perPackage).sort((a, b) => b[1] - a[1])) {
  if (v > 0) console.log(`  ${k.padEnd(40)} ${kib(v).padStart(10)}`);
}
const training = [
  'fold.ts',
  'dirac.ts',
  'batchnorm.ts',
  'kernels/wasm-conv-grad.ts',
  'backend/wasm-threads.ts',
  'backend/use-backend.ts',
];
const leaked = training.filter((f) => (app.inputs[`packages/core/src/${f}`]?.bytesInOutput ?? 0) > 0);
const onnxInEntry = Object.entries(app.meta.inputs)
  .filter(([k, v]) => v.bytesInOutput > 0 && (k.includes('protobufjs') || k.includes('core/src/onnx/')))
  .map(([k]) => k);
const nodeImports = app.js.match(/["']node:[a-z_]+["']/g) ?? [];
console.log(
  `\ntraining code in the app: ${leaked.length ? leaked.join(', ') : 'none'} (checked ${training.join(', ')})`,
);
console.log(`node: imports in the app: ${nodeImports.length ? nodeImports.join(', ') : 'none'}`);
console.log(
  `ONNX builder (@dirac/core/onnx, protobufjs) in the entry chunk: ${onnxInEntry.length ? onnxInEntry.join(', ') : 'none (lazy)'}`,
);
if (leaked.length || nodeImports.length || onnxInEntry.length) process.exitCode = 1;
