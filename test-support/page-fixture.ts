/**
 * The set-up the chromium tests share: a test page built from `entry` (test-page.ts), served from the
 * repository root with the page under /__page__/ (serve-dir.ts), and a browser to open it. `close()` undoes
 * whatever was set up, also after a set-up that failed half-way.
 */
import { resolve } from 'node:path';
import type * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium';
import { serveDir } from './serve-dir';
import { buildTestPage, type TestPage } from './test-page';

export const REPO = resolve(__dirname, '..');

export type Served = Awaited<ReturnType<typeof serveDir>>;

export interface PageFixture {
  page: TestPage;
  server: Served;
  browser: Browser;
  /** The page's URL on `server` (or on another server of the fixture's), with an optional query. */
  pageUrl(query?: Record<string, string>, on?: Served): string;
  /** Serves the repository again with the same mounts, e.g. with other `headers`; closed by `close()`. */
  serveAgain(headers: Record<string, string>): Promise<Served>;
  close(): Promise<void>;
}

export interface PageFixtureOptions {
  /** esbuild options for the page (e.g. `{ splitting: true }`). */
  build?: esbuild.BuildOptions;
  /** More folders mounted at URL prefixes next to /__page__/. */
  mounts?: Record<string, string>;
}

export async function openPageFixture(entry: string, options: PageFixtureOptions = {}): Promise<PageFixture> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const page = await buildTestPage(entry, options.build);
    closers.push(page.remove);
    const mounts = { '/__page__/': page.dir, ...options.mounts };
    const serve = async (headers: Record<string, string> = {}) => {
      const s = await serveDir(REPO, mounts, headers);
      closers.push(s.close);
      return s;
    };
    const server = await serve();
    const browser = await launchChromium();
    closers.push(() => browser.close());
    return {
      page,
      server,
      browser,
      pageUrl: (query, on = server) =>
        `${on.url}/__page__/index.html${query ? `?${new URLSearchParams(query)}` : ''}`,
      serveAgain: serve,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
