import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DefaultTheme, defineConfig } from 'vitepress';
import { copySiteAssets, repoRoot, siteAssetsDevPlugin } from './site-assets';

/** The API sidebar that TypeDoc writes (`npm run docs:api`); empty until it has run. */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = join(repoRoot, 'docs/api/typedoc-sidebar.json');
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as DefaultTheme.SidebarItem[];
}

const guides: DefaultTheme.SidebarItem[] = [
  { text: 'Train on CIFAR-10', link: '/guides/train-cifar10' },
  { text: 'Resume a run', link: '/guides/resume' },
  { text: 'Fold and export', link: '/guides/fold-export' },
  { text: 'In the browser and in a Web Worker', link: '/guides/browser' },
  { text: 'Import upstream weights', link: '/guides/import-upstream' },
  { text: 'Pick an engine and a backend', link: '/guides/engines' },
];

export default defineConfig({
  title: 'DiracNets for JavaScript',
  description: 'Train, fold and run DiracNets in TypeScript, on Node and in the browser',
  cleanUrls: false,
  lastUpdated: false,
  // Dead links fail the build (VitePress' default): keep it that way.
  ignoreDeadLinks: false,
  srcExclude: ['README.md', 'examples/**/README.md'],
  markdown: { math: false },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'Zoo', link: '/zoo' },
      { text: 'Benchmarks', link: '/benchmarks' },
      { text: 'API', link: '/api/' },
      { text: 'Demo', link: '/demo' },
    ],
    sidebar: {
      '/api/': [{ text: 'API reference', link: '/api/', items: apiSidebar() }],
      '/': [
        {
          text: 'Introduction',
          items: [
            { text: 'Getting started', link: '/getting-started' },
            { text: 'Concepts', link: '/concepts' },
          ],
        },
        { text: 'Guides', items: guides },
        {
          text: 'Reference',
          items: [
            { text: 'Model zoo', link: '/zoo' },
            { text: 'Benchmarks', link: '/benchmarks' },
            { text: 'API', link: '/api/' },
            { text: 'Live demo', link: '/demo' },
          ],
        },
      ],
    },
    outline: [2, 3],
    search: { provider: 'local' },
  },
  vite: {
    // @dirac/* from their TypeScript sources (as the tests and the browser example do): no package build needed.
    resolve: { conditions: ['@dirac/source'] },
    plugins: [siteAssetsDevPlugin()],
    build: { chunkSizeWarningLimit: 4096 },
  },
  async buildEnd(site) {
    const n = await copySiteAssets(site.outDir);
    console.log(`copied ${n} zoo and wasm files into the site`);
  },
});
