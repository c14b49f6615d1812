/**
 * Training in Debian's chromium (playwright-core) with @dirac/train/browser: the entry bundles without any
 * Node built-in, a DiracNet learns a synthetic 10-class set on tfjs-wasm with our SIMD kernels, and the step
 * leaks no tensors. Skipped when /usr/bin/chromium is absent.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, pageReport } from '../../../test-support/chromium';
import { openPageFixture, type PageFixture } from '../../../test-support/page-fixture';
import type { TrainReport } from './browser-train/page';

describe.skipIf(!haveChromium('browser training test'))('@dirac/train/browser in chromium', () => {
  let fx: PageFixture;
  let inputs: string[];
  let outputImports: string[];

  beforeAll(async () => {
    fx = await openPageFixture(join(__dirname, 'browser-train', 'page.ts'));
    inputs = Object.keys(fx.page.metafile.inputs);
    outputImports = Object.values(fx.page.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  }, 120_000);

  afterAll(() => fx?.close());

  it('bundles no Node built-in and none of the Node-only training code', () => {
    expect(outputImports.filter((p) => p.startsWith('node:'))).toEqual([]);
    const trainSources = inputs.filter((p) => p.includes('packages/train/src/'));
    expect(trainSources.length).toBeGreaterThan(3);
    for (const nodeOnly of [
      'run.ts',
      'checkpoint.ts',
      'cli/',
      'data/cifar.ts',
      'data/prefetch.ts',
      'plots.ts',
    ])
      expect(trainSources.filter((p) => p.includes(`packages/train/src/${nodeOnly}`))).toEqual([]);
  });

  it('trains a DiracNet on tfjs-wasm: the loss falls, no tensor leaks, and it learns the set', async () => {
    const r = await pageReport<TrainReport>(fx.browser, fx.pageUrl(), '__train');
    console.log(
      `browser training: loss every 10 steps ${r.losses
        .filter((_, i) => i % 10 === 0)
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )}; held-out top-1 ${(100 * r.top1).toFixed(1)}%, on the training images ${(100 * r.trainTop1).toFixed(1)}%, last steps ${r.stepTop1
        .slice(-5)
        .map((a) => (100 * a).toFixed(0))
        .join(' ')}%`,
    );
    expect(r.backend).toBe('wasm');
    expect(r.simd).toBe(true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(r.losses.slice(-5))).toBeLessThan(0.5 * mean(r.losses.slice(0, 5)));
    expect(new Set(r.tensorsAfterStep.slice(2)).size).toBe(1);
    expect(r.top1).toBeGreaterThan(0.8);
  }, 200_000);
});
