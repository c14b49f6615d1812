/**
 * The packages as an app installs them from npm: a page bundled from their dist files (no '@dirac/source'
 * condition) for browsers, checked for what it pulls in, then run in Debian's chromium. Needs the packages
 * built (`npm test` builds first); skipped when /usr/bin/chromium is absent.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, pageReport } from '../../../test-support/chromium';
import { openPageFixture, type PageFixture, REPO } from '../../../test-support/page-fixture';
import type { PublishedReport } from './published-browser/page';

const DIST_ENTRIES = [
  'packages/core/dist/index.js',
  'packages/models/dist/index.js',
  'packages/infer/dist/index.js',
  'packages/train/dist/browser.web.js',
];

describe.skipIf(!haveChromium('published-packages browser test'))(
  'the built packages in a browser app',
  () => {
    let fx: PageFixture;
    let inputs: string[];

    beforeAll(async () => {
      const missing = DIST_ENTRIES.filter((f) => !existsSync(join(REPO, f)));
      if (missing.length) throw new Error(`${missing.join(', ')} missing: run npm run build first`);
      fx = await openPageFixture(join(__dirname, 'published-browser', 'page.ts'), {
        build: { conditions: [] },
      });
      inputs = Object.keys(fx.page.metafile.inputs);
    }, 120_000);

    afterAll(() => fx?.close());

    it('bundles the dist files, no Node built-in, and one tfjs-core (the app’s) for the gradients', () => {
      for (const f of DIST_ENTRIES) expect(inputs).toContain(f);
      expect(inputs.filter((p) => /packages\/\w+\/src\//.test(p))).toEqual([]);
      const imports = Object.values(fx.page.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
      expect(imports.filter((p) => p.startsWith('node:') || p === 'path' || p === 'url')).toEqual([]);
      expect(inputs.filter((p) => p.includes('esm_shims'))).toEqual([]);
      // the browser build of @dirac/train imports tfjs-core's gradients instead of carrying a copy of them
      expect(inputs).toContain('node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
      const trainBytes = fx.page.metafile.inputs['packages/train/dist/browser.web.js']!.bytes;
      expect(trainBytes).toBeLessThan(60_000);
    });

    it('trains, folds and classifies', async () => {
      const r = await pageReport<PublishedReport>(fx.browser, fx.pageUrl(), '__published');
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
