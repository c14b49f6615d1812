/**
 * Builds a browser test page: bundles `entry` with the browser example's esbuild options into a temporary
 * folder next to an index.html that loads it as a module (served under a prefix by serve-dir.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { browserBuildOptions } from '../examples/browser/build.mjs';

export interface TestPage {
  /** The folder holding index.html and the bundle. */
  dir: string;
  /** esbuild's metafile, for tests that check what was bundled. */
  metafile: esbuild.Metafile;
  remove(): Promise<void>;
}

const INDEX_HTML = '<!doctype html><script type="module" src="./page.js"></script>\n';

/** Bundles `entry` as page.js; `options` are passed on to esbuild (e.g. `{ splitting: true }`). */
export async function buildTestPage(entry: string, options: esbuild.BuildOptions = {}): Promise<TestPage> {
  const dir = await mkdtemp(join(tmpdir(), 'dirac-test-page-'));
  try {
    const built = await esbuild.build(
      browserBuildOptions({ entryPoints: { page: entry }, outdir: dir, minify: false, ...options }),
    );
    await writeFile(join(dir, 'index.html'), INDEX_HTML);
    return { dir, metafile: built.metafile!, remove: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
