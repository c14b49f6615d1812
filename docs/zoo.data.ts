/**
 * Build-time data of the zoo page: zoo/index.json (see `ZooEntry` in @dirac/core), checked and flattened
 * for the table. An empty index renders "no entries yet"; a malformed one fails the build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineLoader } from 'vitepress';

// The repository's zoo/, or $DIRAC_DOCS_ZOO (as zooDir() in .vitepress/site-assets.ts).
const zoo = process.env.DIRAC_DOCS_ZOO
  ? resolve(process.env.DIRAC_DOCS_ZOO)
  : fileURLToPath(new URL('../zoo/', import.meta.url));
const indexFile = join(zoo, 'index.json');

/** A zoo entry as the table shows it. */
export interface ZooRow {
  name: string;
  dataset: string;
  arch: string;
  depth: number;
  width: number;
  params: number;
  top1?: number;
  top5?: number;
  metrics: Record<string, number>;
  bytes: number;
  dtypes: string[];
  source: string;
  /** Whether the entry lists no files: upstream weights that `dirac zoo import` converts on your machine. */
  local: boolean;
  /** Whether this is the index's default entry (what `dirac classify` uses). */
  isDefault: boolean;
  /** URL of the entry's model.json on this site (the zoo is copied into the build), when it has files. */
  modelJson?: string;
  /** URL of the entry's learning curves on this site, when its folder has them. */
  curves?: string;
}

export interface ZooData {
  entries: ZooRow[];
}

interface RawEntry {
  name?: unknown;
  dataset?: unknown;
  arch?: unknown;
  depth?: unknown;
  width?: unknown;
  path?: unknown;
  files?: { path: string; bytes: number; dtype?: string }[];
  params?: unknown;
  metrics?: Record<string, number>;
  source?: unknown;
}

const siteDir = (entryPath: string) => `/zoo/${entryPath.replace(/^\/+|\/+$/g, '')}`;

/** Checks and flattens a parsed zoo index; `hasFile` says whether an entry folder holds a file. */
export function zooRows(
  index: { formatVersion?: unknown; entries?: unknown; default?: unknown },
  where = 'zoo/index.json',
  hasFile: (entryPath: string, file: string) => boolean = () => false,
): ZooRow[] {
  if (index.formatVersion !== 1) throw new Error(`${where}: formatVersion ${index.formatVersion} is not 1`);
  if (!Array.isArray(index.entries)) throw new Error(`${where}: "entries" is not an array`);
  return (index.entries as RawEntry[]).map((e, i) => {
    for (const key of ['name', 'dataset', 'path', 'source'] as const) {
      if (typeof e[key] !== 'string') throw new Error(`${where}: entries[${i}].${key} is not a string`);
    }
    const files = e.files ?? [];
    const weights = files.filter((f) => f.dtype);
    const metrics = e.metrics ?? {};
    return {
      name: e.name as string,
      dataset: e.dataset as string,
      arch: String(e.arch ?? ''),
      depth: Number(e.depth),
      width: Number(e.width),
      params: Number(e.params),
      top1: metrics.top1,
      top5: metrics.top5,
      metrics,
      bytes: (weights.length ? weights : files).reduce(
        (n, f) => (f.dtype === 'float16' ? n : n + (f.bytes ?? 0)),
        0,
      ),
      dtypes: weights.map((f) => f.dtype as string),
      source: e.source as string,
      local: files.length === 0,
      isDefault: index.default === e.name,
      modelJson: files.length ? `${siteDir(e.path as string)}/model.json` : undefined,
      curves:
        files.length && hasFile(e.path as string, 'curves.svg')
          ? `${siteDir(e.path as string)}/curves.svg`
          : undefined,
    };
  });
}

export default defineLoader({
  // Watched for `docs:dev` when it is the repository's (VitePress globs watch patterns from the working
  // directory, and a pattern outside it makes the glob crawl the whole file system).
  watch: process.env.DIRAC_DOCS_ZOO ? undefined : [indexFile],
  load(): ZooData {
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    return { entries: zooRows(index, indexFile, (path, file) => existsSync(join(zoo, path, file))) };
  },
});

declare const data: ZooData;

export { data };
