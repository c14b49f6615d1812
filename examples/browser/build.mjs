#!/usr/bin/env node
/**
 * Bundles the browser example with esbuild: src/main.ts → dist/main.js, src/worker.ts → dist/worker.js
 * (ES modules, minified, with source maps; shared and lazily imported code in dist/chunks/), plus dist/build-info.json (sizes and whether the webgl backend
 * was bundled) and dist/meta.json (esbuild's metafile).
 *
 *   node examples/browser/build.mjs            # then serve the repository root and open
 *                                               # /examples/browser/index.html?model=…&image=…
 *
 * @dirac/* packages are bundled from their TypeScript sources (the '@dirac/source' condition), so no
 * package build is needed first. When '@tensorflow/tfjs-backend-webgl' is not installed the example is
 * built without it (the page then reports that the webgl backend is missing) and build-info says so.
 * NODE_PATH (colon-separated) adds module folders to resolve from, as Node does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

/** Module folders from NODE_PATH, then the repository's node_modules. */
export function nodePaths() {
  const extra = (process.env.NODE_PATH ?? '').split(':').filter(Boolean);
  return [...extra, join(root, 'node_modules')];
}

/** Whether a package resolves from the repository or NODE_PATH. */
export function canResolve(pkg) {
  try {
    createRequire(join(root, 'package.json')).resolve(pkg, { paths: [root, ...nodePaths()] });
    return true;
  } catch {
    return false;
  }
}

/** Replaces a missing optional package by an empty module. */
function stubPlugin(missing) {
  return {
    name: 'stub-missing',
    setup(build) {
      for (const pkg of missing) {
        const filter = new RegExp(`^${pkg.replace(/[/\\^$*+?.()|[\]{}]/g, '\\$&')}$`);
        build.onResolve({ filter }, () => ({ path: pkg, namespace: 'stub' }));
      }
      build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export {};', loader: 'js' }));
    },
  };
}

/**
 * Leaves `node:` built-ins alone. @dirac/core's barrel re-exports its Node-only wasm-thread set-up, whose
 * dynamic `import('node:os')` esbuild resolves while scanning even though tree shaking drops that code;
 * the check in packages/infer/test/browser.test.ts makes sure no `node:` import reaches the output.
 */
export const nodeBuiltinsPlugin = {
  name: 'node-builtins-external',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Options shared by the example and the bundle-size script. */
export function browserBuildOptions(extra = {}) {
  return {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    conditions: ['@dirac/source'],
    nodePaths: nodePaths(),
    logLevel: 'warning',
    legalComments: 'none',
    metafile: true,
    ...extra,
    plugins: [nodeBuiltinsPlugin, ...(extra.plugins ?? [])],
  };
}

/** Builds the example into examples/browser/dist and returns what was built. */
export async function buildBrowserExample() {
  const webgl = canResolve('@tensorflow/tfjs-backend-webgl');
  const outdir = join(here, 'dist');
  await mkdir(outdir, { recursive: true });
  const result = await esbuild.build(
    browserBuildOptions({
      entryPoints: { main: join(here, 'src', 'main.ts'), worker: join(here, 'src', 'worker.ts') },
      outdir,
      // Code reached only through import() (the onnxruntime engine's ONNX builder) goes into chunks/ and is
      // fetched only when used, as Vite, webpack and Rollup do; the page and the worker share chunks too.
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      sourcemap: true,
      plugins: webgl ? [] : [stubPlugin(['@tensorflow/tfjs-backend-webgl'])],
    }),
  );
  const outputs = {};
  for (const [file, info] of Object.entries(result.metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(resolve(root, file));
    outputs[file.split('/').pop()] = { bytes: info.bytes, gzip: gzipSync(bytes, { level: 9 }).byteLength };
  }
  const info = { webgl, outputs, inputs: Object.keys(result.metafile.inputs) };
  await writeFile(join(outdir, 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
  await writeFile(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return info;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const info = await buildBrowserExample();
  for (const [f, s] of Object.entries(info.outputs)) {
    console.log(
      `${f}: ${(s.bytes / 1024).toFixed(1)} KiB minified, ${(s.gzip / 1024).toFixed(1)} KiB gzipped`,
    );
  }
  if (!info.webgl) {
    console.log('note: @tensorflow/tfjs-backend-webgl is not installed; built without the webgl backend');
  }
}
