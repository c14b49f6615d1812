/**
 * The docs cannot drift from tested code: every code snippet the pages include (`<<< @/../file#region`)
 * must exist, have its region, and come from an example that a test runs; the getting-started page's two
 * commands must be the README's. Cheap: no build.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const docs = __dirname;
const repo = resolve(docs, '..');

/** Markdown pages of the site (not the generated API reference). */
function pages(dir = docs): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name.startsWith('.') || e.name === 'api' ? [] : pages(p);
    return e.name.endsWith('.md') && e.name !== 'README.md' ? [p] : [];
  });
}

/** Files whose examples a test executes (Node, CLI) or loads in headless Chromium (browser). */
const TESTED: Record<string, string> = {
  'examples/node/classify.mjs': 'examples/node/examples.test.ts',
  'examples/node/fold-verify.mjs': 'examples/node/guides.test.ts',
  'examples/node/engines.mjs': 'examples/node/guides.test.ts',
  'examples/cli/cifar10.sh': 'examples/cli/cifar10.slow.test.ts',
  'examples/cli/import-upstream.sh': 'examples/cli/cli.test.ts',
  'examples/browser/src/main.ts': 'packages/infer/test/browser.test.ts',
  'examples/browser/src/worker.ts': 'packages/infer/test/browser.test.ts',
  'packages/train/test/browser-train/page.ts': 'packages/train/test/browser-train.test.ts',
};

const includes = pages().flatMap((page) =>
  [...readFileSync(page, 'utf8').matchAll(/^<<< @\/(\S+?)(?:#([\w-]+))?(?:\{\w+\})?$/gm)].map((m) => ({
    page: relative(docs, page),
    file: relative(repo, resolve(docs, m[1]!)),
    region: m[2],
  })),
);

describe('docs snippets', () => {
  it('the pages include snippets', () => {
    expect(includes.length).toBeGreaterThan(10);
  });

  it.each(includes)('$page includes $file#$region: present and tested', ({ file, region }) => {
    const path = join(repo, file);
    expect(existsSync(path), `${file} is missing`).toBe(true);
    expect(TESTED[file], `${file} is not run by any test: add it to an example test`).toBeDefined();
    expect(existsSync(join(repo, TESTED[file]!))).toBe(true);
    if (region) {
      const text = readFileSync(path, 'utf8');
      // The marker forms VitePress recognises (a wrong one silently includes the whole file).
      const start = new RegExp(`^\\s*(// ?#?|# ?)region ${region}$`, 'm');
      const end = new RegExp(`^\\s*(// ?#?|# ?)endregion ${region}$`, 'm');
      expect(text, `${file} has no region '${region}'`).toMatch(start);
      expect(text, `${file} does not end region '${region}'`).toMatch(end);
    }
  });

  it("getting started shows the README's two commands", () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(readFileSync(join(docs, 'getting-started.md'), 'utf8')).toContain(`\`\`\`sh\n${block}\`\`\``);
  });
});
