/**
 * The engines in Debian's chromium (playwright-core): tfjs (webgl, wasm) and onnxruntime-web (wasm, its
 * .wasm files served from node_modules, no network) classify like Node through the same API, 'auto'
 * follows the documented policy, and a measurement of DiracNet-34-1 on each engine is printed (the
 * numbers behind the browser 'auto' policy; not asserted: the machine is shared). Skipped when
 * /usr/bin/chromium is absent.
 */
import { join } from 'node:path';
import { disposeModel, useBackend } from '@dirac/core';
import { load, type Prediction } from '@dirac/infer/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, pageReport } from '../../../test-support/chromium';
import { openPageFixture, type PageFixture } from '../../../test-support/page-fixture';
import type { EnginesReport } from './browser-engines/page';
import { patternRgb } from './browser-engines/pattern';
import { CIFAR_LABELS, makeModel, removeDir, saveTempModel } from './helpers';

/** The synthetic images of page.ts, for Node. */
const image = (seed: number, size: number) => ({ data: patternRgb(seed, size), width: size, height: size });

describe.skipIf(!haveChromium('browser engines test'))('engines in chromium', () => {
  let fx: PageFixture;
  let small: string;
  let big: string;
  let node: Prediction[][];

  beforeAll(async () => {
    await useBackend('wasm', { threads: 1 });
    const s = makeModel('diracnet-10-1', { labels: CIFAR_LABELS, seed: 2, logitScale: 40 });
    small = (await saveTempModel(s)).dir;
    disposeModel(s);
    const b = makeModel('diracnet-34-1', { seed: 3 });
    big = (await saveTempModel(b)).dir;
    disposeModel(b);
    const clf = await load(small, { engine: 'tfjs' });
    node = await clf.classify([0, 1, 2].map((i) => image(i, 32)));
    await clf.dispose();
    fx = await openPageFixture(join(__dirname, 'browser-engines', 'page.ts'), {
      build: { splitting: true },
      mounts: { '/__small__/': small, '/__big__/': big },
    });
  }, 180_000);

  afterAll(async () => {
    await fx?.close();
    await Promise.all([small, big].filter(Boolean).map(removeDir));
  });

  async function run(params: Record<string, string>): Promise<EnginesReport> {
    const requests: string[] = [];
    const r = await pageReport<EnginesReport>(fx.browser, fx.pageUrl(params), '__engines', { requests });
    // Everything came from the local server.
    expect(requests.filter((u) => !u.startsWith(fx.server.url))).toEqual([]);
    return r;
  }

  const cases = [
    { engine: 'tfjs', backend: 'webgl', want: { name: 'tfjs', backend: 'webgl' } },
    { engine: 'tfjs', backend: 'wasm', want: { name: 'tfjs', backend: 'wasm' } },
    { engine: 'onnxruntime', backend: 'wasm', want: { name: 'onnxruntime', backend: 'wasm' } },
    { engine: 'onnxruntime', backend: 'webgl', want: { name: 'onnxruntime', backend: 'wasm' } },
    { engine: 'auto', backend: 'webgl', want: { name: 'tfjs', backend: 'webgl' } },
    { engine: 'auto', backend: 'wasm', want: { name: 'tfjs', backend: 'wasm' } },
    { engine: 'auto', backend: 'cpu', want: { name: 'onnxruntime', backend: 'wasm' } },
    { engine: 'auto', backend: 'cpu', ort: '0', want: { name: 'tfjs', backend: 'cpu' } },
  ];
  for (const c of cases) {
    it(`engine '${c.engine}' with tfjs on ${c.backend}${c.ort === '0' ? ', no ONNX Runtime given' : ''}: ${c.want.name} (${c.want.backend}), answers as in Node`, async () => {
      const r = await run({
        model: '/__small__/',
        engine: c.engine,
        backend: c.backend,
        ...(c.ort ? { ort: c.ort } : {}),
      });
      expect(r.engine).toMatchObject(c.want);
      expect(r.tfjsBackend).toBe(c.backend);
      r.top.forEach((top, i) => {
        expect(top[0]!.label).toBe(node[i]![0]!.label);
        top.forEach((p, j) => {
          expect(Math.abs(p.probability - node[i]![j]!.probability)).toBeLessThan(2e-3);
        });
      });
    });
  }

  it('measures DiracNet-34-1 on each engine (printed: the basis of the browser auto policy)', async () => {
    const rows: string[] = [];
    for (const [engine, backend] of [
      ['tfjs', 'webgl'],
      ['tfjs', 'wasm'],
      ['onnxruntime', 'wasm'],
    ] as const) {
      const r = await run({ model: '/__big__/', engine, backend, batches: '1,8', budget: '3000' });
      rows.push(
        `${engine} (${r.engine.backend}): batch 1 ${r.speed['1']!.toFixed(1)} img/s, batch 8 ${r.speed['8']!.toFixed(1)} img/s`,
      );
    }
    console.log(
      `chromium, DiracNet-34-1 (CIFAR), one thread, no GPU (SwiftShader webgl):\n  ${rows.join('\n  ')}`,
    );
  }, 300_000);
});
