/** Debian's headless chromium for the browser tests (playwright-core; its own browser download fails here). */

import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether chromium is installed; tests skip with a message naming the package when it is not. */
export function haveChromium(what: string): boolean {
  const ok = existsSync(CHROMIUM);
  if (!ok) console.warn(`${what} skipped: ${CHROMIUM} is absent (apt-get install chromium)`);
  return ok;
}

/** Launches headless chromium with software WebGL and nothing that reaches the network by itself. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--enable-unsafe-swiftshader',
    ],
  });
}

/** A new page whose console messages and uncaught errors are collected in `logs` (for failure messages). */
export async function pageWithLogs(browser: Browser): Promise<{ page: Page; logs: string[] }> {
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(String(e)));
  return { page, logs };
}

/**
 * Opens `url` in a new page, waits for it to publish its report as `window[key]` (see page-report.ts), and
 * returns the report; a page that reported an error fails with its message and console output. The URL of
 * every request the page makes is pushed onto `requests` when given.
 */
export async function pageReport<T>(
  browser: Browser,
  url: string,
  key: string,
  { timeout = 150_000, requests }: { timeout?: number; requests?: string[] } = {},
): Promise<T> {
  const { page, logs } = await pageWithLogs(browser);
  if (requests) page.on('request', (r) => requests.push(r.url()));
  try {
    await page.goto(url);
    await page.waitForFunction((k) => (window as unknown as Record<string, unknown>)[k], key, { timeout });
    const r = (await page.evaluate((k) => (window as unknown as Record<string, unknown>)[k], key)) as {
      status: string;
      error?: string;
    };
    if (r.status !== 'done') throw new Error(`${url}: ${r.error ?? r.status}\n${logs.join('\n')}`);
    return r as T;
  } finally {
    await page.close();
  }
}
