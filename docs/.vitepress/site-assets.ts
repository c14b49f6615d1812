/**
 * Files the site serves that are not pages: the zoo (zoo/index.json and each entry's model.json and
 * weights, copied from the repository's zoo/ at build time so they are committed once) and the tfjs
 * WebAssembly binaries that the live demo's wasm backend loads. `npm run docs:dev` serves the same files
 * from their sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The zoo the site shows and serves: the repository's zoo/, or `$DIRAC_DOCS_ZOO` (to try another). */
export function zooDir(): string {
  return process.env.DIRAC_DOCS_ZOO ? resolve(process.env.DIRAC_DOCS_ZOO) : join(repoRoot, 'zoo');
}

/** A file the site serves: its URL path (no leading slash) and where it comes from. */
export interface SiteAsset {
  url: string;
  from: string;
}

interface ZooIndexFile {
  entries?: { path: string; files?: { path: string }[] }[];
}

/** Files of an entry folder the site shows besides those the index lists: its learning curves. */
export const ZOO_EXTRA_FILES = ['curves.svg'];

/** The zoo index, entries' model.json, weight files and learning curves, as site assets under `zoo/`. */
export function zooAssets(dir = zooDir()): SiteAsset[] {
  const indexPath = join(dir, 'index.json');
  if (!existsSync(indexPath)) return [];
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as ZooIndexFile;
  const out: SiteAsset[] = [{ url: 'zoo/index.json', from: indexPath }];
  for (const entry of index.entries ?? []) {
    // Entries without files (upstream weights that `dirac zoo import` converts locally) have nothing to copy.
    if (!entry.files?.length) continue;
    const extra = ZOO_EXTRA_FILES.filter((f) => existsSync(join(dir, entry.path, f)));
    const names = new Set(['model.json', ...entry.files.map((f) => f.path), ...extra]);
    for (const name of names) {
      const rel = normalize(join(entry.path, name));
      if (rel.startsWith('..')) throw new Error(`zoo/index.json: '${entry.path}/${name}' leaves zoo/`);
      out.push({ url: `zoo/${rel.split('\\').join('/')}`, from: join(dir, rel) });
    }
  }
  return out;
}

/** The tfjs-backend-wasm binaries, under `tfjs-wasm/`. */
export function wasmAssets(): SiteAsset[] {
  const require = createRequire(join(repoRoot, 'package.json'));
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  return [
    'tfjs-backend-wasm.wasm',
    'tfjs-backend-wasm-simd.wasm',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ].map((f) => ({ url: `tfjs-wasm/${f}`, from: join(dist, 'dist', f) }));
}

export function siteAssets(): SiteAsset[] {
  return [...zooAssets(), ...wasmAssets()];
}

/** Copies every site asset into the built site; a zoo file listed in the index but missing fails the build. */
export async function copySiteAssets(outDir: string): Promise<number> {
  const assets = siteAssets();
  for (const a of assets) {
    if (!existsSync(a.from)) throw new Error(`site asset ${a.url}: ${a.from} is missing`);
    const to = join(outDir, a.url);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(a.from, to);
  }
  return assets.length;
}

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Serves the site assets in `vitepress dev`. */
export function siteAssetsDevPlugin(): Plugin {
  return {
    name: 'dirac-site-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0] ?? '').replace(/^\/+/, '');
        const asset = siteAssets().find((a) => a.url === path);
        if (!asset || !existsSync(asset.from)) return next();
        const ext = asset.from.slice(asset.from.lastIndexOf('.'));
        res.setHeader('content-type', TYPES[ext] ?? 'application/octet-stream');
        res.end(readFileSync(asset.from));
      });
    },
  };
}
