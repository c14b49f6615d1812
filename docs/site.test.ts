/**
 * The built docs site: the live demo in headless Chromium (pick an image, see the top-5 of a zoo model, as
 * Node's @dirac/infer would answer, on webgl, wasm and cpu), the zoo table, the benchmark page and the API
 * reference.
 *
 * Uses docs/.vitepress/dist, building it (`npm run docs:build`) when it is missing, older than the site's
 * sources, or its zoo copy differs from zoo/index.json. While the zoo has no servable entry the demo runs on
 * a random-weights demo model served as a one-entry zoo; once zoo/index.json lists one, on the entry the
 * demo opens with (the index's default, else the first with files). Skipped without /usr/bin/chromium.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { useBackend } from '@dirac/core';
import { load, type Prediction } from '@dirac/infer/node';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoModel } from '../examples/node/make-demo-model.mjs';
import { encode, removeDir, serveDir, syntheticRgb, tempDir } from '../packages/infer/test/helpers';
import { haveChromium, launchChromium, pageWithLogs } from '../test-support/chromium';
import { zooDir } from './.vitepress/site-assets';

const repo = resolve(__dirname, '..');
const dist = join(__dirname, '.vitepress', 'dist');
const zoo = zooDir(); // the repository's zoo/ ($DIRAC_DOCS_ZOO to try another)
const zooIndex = JSON.parse(readFileSync(join(zoo, 'index.json'), 'utf8')) as {
  default?: string;
  entries: { name: string; path: string; files?: unknown[] }[];
};
/** The entry the demo opens with: the default, else the first with files (as DiracDemo.vue picks). */
const servable = zooIndex.entries.filter((e) => e.files?.length);
const realEntry = servable.find((e) => e.name === zooIndex.default) ?? servable[0];

/** Runs an npm script; kills its whole process group when it outlives `timeoutMs` (no orphan builds). */
function npm(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn('npm', args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    }, timeoutMs);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok();
      else
        fail(
          new Error(
            `npm ${args.join(' ')}: ${signal ? `killed (${signal}) after ${timeoutMs} ms` : `exit ${code}`}`,
          ),
        );
    });
  });
}

/** Newest modification time of the site's own sources (pages, config, theme, data loaders). */
function newestSource(dir = __dirname): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return ['api', 'cache', 'dist', 'public'].includes(e.name) ? 0 : newestSource(p);
      return /\.(md|ts|mts|vue|css)$/.test(e.name) && !e.name.endsWith('.test.ts') ? statSync(p).mtimeMs : 0;
    }),
  );
}

/** Whether the built site is there, newer than its sources, and carries the current zoo. */
function builtSiteIsCurrent(): boolean {
  const copy = join(dist, 'zoo', 'index.json');
  const page = join(dist, 'demo.html');
  if (!existsSync(page) || !existsSync(copy)) return false;
  if (statSync(page).mtimeMs < newestSource()) return false;
  return readFileSync(copy, 'utf8') === readFileSync(join(zoo, 'index.json'), 'utf8');
}

interface DemoState {
  status: string;
  message: string;
  model: string;
  backend: string;
  top: Prediction[];
}

/** Waits until the demo page reports `status` (or an error) and returns its state. */
async function demoState(page: Page, status: string, timeout: number): Promise<DemoState> {
  // These functions run in the page: they cannot share a helper defined here.
  await page.waitForFunction(
    (want) =>
      [want, 'error'].includes((window as unknown as { __diracDemo?: DemoState }).__diracDemo?.status ?? ''),
    status,
    { timeout },
  );
  return page.evaluate(() => (window as unknown as { __diracDemo: DemoState }).__diracDemo);
}

describe.skipIf(!haveChromium('docs site test'))('docs site (chromium)', () => {
  let work: string;
  let modelDir: string;
  let modelName: string;
  let server: Awaited<ReturnType<typeof serveDir>>;
  let browser: Browser;
  let nodeTop: Prediction[];

  beforeAll(async () => {
    if (!builtSiteIsCurrent()) await npm(['run', 'docs:build'], 840_000);
    work = await tempDir('dirac-docs-');
    const mounts: Record<string, string> = {};
    if (realEntry) {
      modelName = realEntry.name;
      modelDir = join(zoo, realEntry.path);
    } else {
      // No zoo entry yet: a one-entry zoo with a random-weights model, served where the site's zoo is.
      modelName = 'cifar10/demo-random';
      modelDir = join(work, 'zoo', 'cifar10', 'demo-random');
      await useBackend('wasm', { threads: 1 });
      const spec = await makeDemoModel(modelDir, { seed: 3 });
      const files = (spec.weights ?? []).map(({ path, bytes, sha256, dtype }) => ({
        path,
        bytes,
        sha256,
        dtype,
      }));
      const entry = {
        name: modelName,
        dataset: 'cifar10',
        path: 'cifar10/demo-random',
        source: 'trained-here',
      };
      const index = { formatVersion: 1, entries: [{ ...entry, files: [{ path: 'model.json' }, ...files] }] };
      await writeFile(join(work, 'zoo', 'index.json'), JSON.stringify(index));
      mounts['/zoo/'] = join(work, 'zoo');
    }
    await mkdir(join(work, 'images'), { recursive: true });
    await writeFile(join(work, 'images', 'x.png'), await encode(syntheticRgb(48, 40, 5), 48, 40, 'png'));
    await useBackend('wasm', { threads: 1 });
    const clf = await load(modelDir);
    nodeTop = (await clf.classify([join(work, 'images', 'x.png')], { topk: 5 }))[0]!;
    clf.dispose();
    mounts['/__model__/'] = modelDir;
    server = await serveDir(dist, mounts);
    browser = await launchChromium();
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (work) await removeDir(work);
  });

  for (const backend of ['default', 'wasm', 'cpu']) {
    it(`the demo classifies a picked image (${backend} backend)`, async () => {
      const { page, logs } = await pageWithLogs(browser);
      await page.goto(`${server.url}/demo.html${backend === 'default' ? '' : `?backend=${backend}`}`);
      const ready = await demoState(page, 'ready', 120_000);
      expect(ready.status, `${ready.message}\n${logs.join('\n')}`).toBe('ready');
      expect(ready.model).toBe(modelName);
      if (backend !== 'default') expect(ready.backend).toBe(backend);
      console.log(`demo: ${ready.model} on ${ready.backend}${ready.message ? ` (${ready.message})` : ''}`);
      await page.setInputFiles('[data-testid=demo-file]', join(work, 'images', 'x.png'));
      const done = await demoState(page, 'done', 60_000);
      expect(done.status, `${done.message}\n${logs.join('\n')}`).toBe('done');
      const rows = await page.locator('[data-testid=demo-top5] li .label').allInnerTexts();
      await page.close();
      expect(rows).toHaveLength(5);
      expect(rows).toEqual(done.top.map((p) => p.label));
      // The same answer as Node on the same file (probabilities within float/decoder tolerance).
      done.top.forEach((p, i) => {
        expect(Math.abs(p.probability - nodeTop[i]!.probability)).toBeLessThan(2e-3);
      });
      if (nodeTop[0]!.probability - nodeTop[1]!.probability > 5e-3) {
        expect(done.top[0]!.label).toBe(nodeTop[0]!.label);
      }
    });
  }

  it('the demo loads a model directory given as ?model=', async () => {
    const { page, logs } = await pageWithLogs(browser);
    await page.goto(`${server.url}/demo.html?backend=wasm&model=/__model__/`);
    const ready = await demoState(page, 'ready', 120_000);
    expect(ready.status, `${ready.message}\n${logs.join('\n')}`).toBe('ready');
    await page.setInputFiles('[data-testid=demo-file]', join(work, 'images', 'x.png'));
    const done = await demoState(page, 'done', 60_000);
    await page.close();
    expect(done.status, `${done.message}\n${logs.join('\n')}`).toBe('done');
    done.top.forEach((p, i) => {
      expect(Math.abs(p.probability - nodeTop[i]!.probability)).toBeLessThan(2e-3);
    });
  });

  it('the zoo page renders the zoo index', () => {
    const html = readFileSync(join(dist, 'zoo.html'), 'utf8');
    if (zooIndex.entries.length) for (const e of zooIndex.entries) expect(html).toContain(e.name);
    else expect(html).toContain('No entries yet.');
    // Trained entries show their learning curves, served from the site's copy of the zoo.
    for (const e of servable) {
      if (!existsSync(join(zoo, e.path, 'curves.svg'))) continue;
      expect(html).toContain(`src="/zoo/${e.path}/curves.svg"`);
      expect(existsSync(join(dist, 'zoo', e.path, 'curves.svg'))).toBe(true);
    }
  });

  it('the benchmark page renders every committed result', () => {
    const html = readFileSync(join(dist, 'benchmarks.html'), 'utf8');
    const dir = join(repo, 'bench/results');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
    for (const f of files) expect(html).toContain(`bench/results/${f}`);
    if (files.length === 0) expect(html).toContain('No results committed yet.');
  });

  it('the API reference has a page per public entry point', () => {
    const names = readdirSync(join(repo, 'packages')).flatMap((dir) => {
      const pkg = JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8'));
      return Object.entries(pkg.exports as Record<string, unknown>)
        .filter(([, t]) => typeof t === 'object' && t !== null && '@dirac/source' in t)
        .map(([sub]) => join(pkg.name as string, sub));
    });
    expect(names).toEqual(expect.arrayContaining(['@dirac/core', '@dirac/infer/node', '@dirac/train']));
    for (const name of names) expect(existsSync(join(dist, 'api', name, 'index.html')), name).toBe(true);
  });
});
