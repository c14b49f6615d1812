/**
 * The packages as an app installs them from npm: a page bundled from their dist files (no '@dirac/source'
 * condition) for browsers, checked for what it pulls in, then run in Debian's chromium. Needs the packages
 * built (`npm test` builds first); skipped when /usr/bin/chromium is absent.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, launchChromium, pageReport } from '../../../test-support/chromium';
import { serveDir } from '../../../test-support/serve-dir';
import { buildTestPage, type TestPage } from '../../../test-support/test-page';
import type { PublishedReport } from './published-browser/page';

const repo = resolve(__dirname, '..', '..', '..');
const DIST_ENTRIES = [
  'packages/core/dist/index.js',
  'packages/models/dist/index.js',
  'packages/infer/dist/index.js',
  'packages/train/dist/browser.web.js',
];

describe.skipIf(!haveChromium('published-packages browser test'))(
  'the built packages in a browser app',
  () => {
    let page: TestPage;
    let inputs: string[];
    let server: Awaited<ReturnType<typeof serveDir>>;
    let browser: Browser;

    beforeAll(async () => {
      const missing = DIST_ENTRIES.filter((f) => !existsSync(join(repo, f)));
      if (missing.length) throw new Error(`${missing.join(', ')} missing: run npm run build first`);
      page = await buildTestPage(join(__dirname, 'published-browser', 'page.ts'), { conditions: [] });
      inputs = Object.keys(page.metafile.inputs);
      server = await serveDir(repo, { '/__page__/': page.dir });
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await page?.remove();
    });

    it('bundles the dist files, no Node built-in, and one tfjs-core (the app’s) for the gradients', () => {
      for (const f of DIST_ENTRIES) expect(inputs).toContain(f);
      expect(inputs.filter((p) => /packages\/\w+\/src\//.test(p))).toEqual([]);
      const imports = Object.values(page.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
      expect(imports.filter((p) => p.startsWith('node:') || p === 'path' || p === 'url')).toEqual([]);
      expect(inputs.filter((p) => p.includes('esm_shims'))).toEqual([]);
      // the browser build of @dirac/train imports tfjs-core's gradients instead of carrying a copy of them
      expect(inputs).toContain('node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
      const trainBytes = page.metafile.inputs['packages/train/dist/browser.web.js']!.bytes;
      expect(trainBytes).toBeLessThan(60_000);
    });

    it('trains, folds and classifies', async () => {
      const r = await pageReport<PublishedReport>(
        browser,
        `${server.url}/__page__/index.html`,
        '__published',
      );
      expect(r.backend).toBe('wasm');
      expect(r.losses).toHaveLength(4);
      for (const l of r.losses) expect(Number.isFinite(l)).toBe(true);
      expect(r.losses[3]!).toBeLessThan(r.losses[0]!);
      expect(r.top).toHaveLength(3);
      expect(r.top.every((p) => 'abcdefghij'.includes(p.label))).toBe(true);
      expect(r.top[0]!.probability).toBeGreaterThanOrEqual(r.top[1]!.probability);
      expect(r.tensors[1]).toBe(r.tensors[0]);
    }, 120_000);
  },
);
