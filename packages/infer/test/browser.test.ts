/**
 * The browser example in Debian's chromium (playwright-core): the page and the Web Worker load a model
 * from a local HTTP server and classify PNG and JPEG images on the webgl and wasm backends; the answers
 * must match Node's on the same files. Skipped when /usr/bin/chromium is absent.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { disposeModel, useBackend } from '@dirac/core';
import { load, type Prediction } from '@dirac/infer/node';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserBuildInfo, buildBrowserExample } from '../../../examples/browser/build.mjs';
import type { RunReport } from '../../../examples/browser/src/shared';
import { haveChromium, launchChromium, pageReport } from '../../../test-support/chromium';
import {
  CIFAR_LABELS,
  encode,
  makeModel,
  removeDir,
  saveTempModel,
  serveDir,
  syntheticRgb,
  tempDir,
  tintedRgb,
} from './helpers';

const repo = resolve(__dirname, '..', '..', '..');

describe.skipIf(!haveChromium('browser example test'))('browser example (chromium)', () => {
  let build: BrowserBuildInfo;
  let work: string;
  let modelDir: string;
  let server: Awaited<ReturnType<typeof serveDir>>;
  let browser: Browser;
  const images = ['a.png', 'b.png', 'c.jpg'];
  const node = new Map<string, Prediction[]>();

  beforeAll(async () => {
    build = await buildBrowserExample();
    await useBackend('wasm', { threads: 1 });
    const model = makeModel('diracnet-10-1', { labels: CIFAR_LABELS, seed: 2, logitScale: 40 });
    ({ dir: modelDir } = await saveTempModel(model));
    disposeModel(model);
    work = await tempDir('dirac-browser-');
    await writeFile(join(work, 'a.png'), await encode(syntheticRgb(32, 32, 1), 32, 32, 'png'));
    await writeFile(join(work, 'b.png'), await encode(tintedRgb(45, 38, 2, [220, 30, 30]), 45, 38, 'png'));
    await writeFile(join(work, 'c.jpg'), await encode(tintedRgb(40, 40, 4, [250, 250, 250]), 40, 40, 'jpeg'));
    const clf = await load(modelDir);
    for (const f of images) node.set(f, await clf.classify(join(work, f)));
    // The images are chosen so that Node's answers differ: agreeing on them means something.
    expect(new Set(images.map((f) => node.get(f)![0]!.index)).size).toBe(images.length);
    console.log(
      'Node (wasm) top-1:',
      images
        .map((f) => `${f} ${node.get(f)![0]!.label} ${node.get(f)![0]!.probability.toFixed(4)}`)
        .join(', '),
    );
    clf.dispose();
    server = await serveDir(repo, { '/__images__/': work, '/__model__/': modelDir });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await Promise.all([work, modelDir].filter(Boolean).map(removeDir));
  });

  it('bundles no node: module and none of the training code (entries and chunks)', async () => {
    const meta = JSON.parse(await readFile(join(repo, 'examples/browser/dist/meta.json'), 'utf8'));
    const outputs = Object.keys(meta.outputs).filter((f) => f.endsWith('.js'));
    expect(outputs).toEqual(
      expect.arrayContaining(['examples/browser/dist/main.js', 'examples/browser/dist/worker.js']),
    );
    for (const out of outputs) {
      const js = await readFile(join(repo, out), 'utf8');
      expect(js).not.toMatch(/["']node:[a-z_]+["']/);
      const inputs = meta.outputs[out].inputs as Record<string, { bytesInOutput: number }>;
      for (const f of [
        'fold.ts',
        'dirac.ts',
        'batchnorm.ts',
        'kernels/wasm-conv-grad.ts',
        'backend/wasm-threads.ts',
      ]) {
        const bytes = inputs[`packages/core/src/${f}`]?.bytesInOutput ?? 0;
        expect(bytes, `${f} in ${out}`).toBe(0);
      }
    }
  });

  const configs = [
    { backend: 'webgl', worker: false },
    { backend: 'wasm', worker: false },
    { backend: 'wasm', worker: true },
    { backend: 'webgl', worker: true },
  ];
  for (const { backend, worker } of configs) {
    it(`classifies like Node on ${backend}${worker ? ' in a Web Worker' : ' on the page'}`, async (ctx) => {
      if (backend === 'webgl' && !build.webgl) {
        console.warn('webgl skipped: @tensorflow/tfjs-backend-webgl is not installed (npm i -D it)');
        ctx.skip();
      }
      const q = new URLSearchParams({ model: '/__model__/', backend });
      for (const f of images) q.append('image', `/__images__/${f}`);
      if (worker) q.set('worker', '1');
      const url = `${server.url}/examples/browser/index.html?${q}`;
      const r = await pageReport<RunReport>(browser, url, '__dirac', { timeout: 90_000 });
      expect(r.backend).toBe(backend);
      expect(r.results).toHaveLength(images.length);
      console.log(
        `${backend}${worker ? ' worker' : ''} top-1:`,
        r.results!.map((x) => `${x.top[0]!.label} ${x.top[0]!.probability.toFixed(4)}`).join(', '),
      );
      if (!worker) {
        const want = node.get(images[0]!)![0]!.index;
        expect(r.inputKinds).toEqual({
          HTMLImageElement: want,
          HTMLCanvasElement: want,
          OffscreenCanvas: want,
          ImageData: want,
          ImageBitmap: want,
        });
      }
      r.results!.forEach((res, i) => {
        const want = node.get(images[i]!)!;
        expect(res.top[0]!.label, images[i]).toBe(want[0]!.label);
        for (const [j, p] of res.top.entries()) {
          expect(Math.abs(p.probability - want[j]!.probability)).toBeLessThan(2e-3);
        }
      });
    });
  }
});
