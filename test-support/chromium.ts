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
