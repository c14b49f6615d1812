// TypeDoc options of the API reference (`npm run docs:api` → docs/api, gitignored): one module per public
// entry point of each package, read from the packages' `exports` (the '@dirac/source' condition), so that a
// new entry point shows up without touching this file.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const docs = dirname(fileURLToPath(import.meta.url));
const packages = resolve(docs, '..', 'packages');

/** `{ name: '@dirac/core/node', file: '/…/packages/core/src/node.ts' }` for every public entry point. */
export function publicEntryPoints() {
  const out = [];
  for (const dir of readdirSync(packages).sort()) {
    const pkg = JSON.parse(readFileSync(join(packages, dir, 'package.json'), 'utf8'));
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      const src = typeof target === 'object' ? target['@dirac/source'] : undefined;
      if (src) out.push({ name: join(pkg.name, sub), file: join(packages, dir, src) });
    }
  }
  return out;
}

/** @type {Partial<import('typedoc').TypeDocOptions & import('typedoc-plugin-markdown').PluginOptions>} */
export default {
  entryPoints: publicEntryPoints().map((e) => e.file),
  tsconfig: join(docs, '..', 'tsconfig.json'),
  plugin: [
    'typedoc-plugin-markdown',
    'typedoc-vitepress-theme',
    join(docs, 'scripts/typedoc-package-names.mjs'),
  ],
  out: join(docs, 'api'),
  docsRoot: docs,
  name: 'API reference',
  readme: 'none',
  excludePrivate: true,
  excludeInternal: true,
  disableSources: true,
  hideGenerator: true,
  indexFormat: 'table',
  parametersFormat: 'table',
  interfacePropertiesFormat: 'table',
  sidebar: { pretty: true },
  validation: { invalidLink: true, notExported: true },
  // Types are checked by `npm run typecheck`; TypeDoc only documents (and works while files move).
  skipErrorChecking: true,
};
