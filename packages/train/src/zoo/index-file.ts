import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countParams, type ModelSpec, type ZooEntry, type ZooIndex, type ZooMetrics } from '@dirac/core';
import { sha256Hex, writeFileAtomic } from '@dirac/core/node';
import { UPSTREAM_IMAGENET } from '@dirac/models';

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

async function fileRecord(dir: string, path: string, dtype?: 'float32' | 'float16') {
  const bytes = await readFile(join(dir, path));
  return { path, bytes: bytes.byteLength, sha256: sha256Hex(bytes), ...(dtype ? { dtype } : {}) };
}

function headline(metrics: ZooMetrics | undefined): Record<string, number> | undefined {
  if (!metrics) return undefined;
  const out: Record<string, number> = { top1: metrics.top1, top5: metrics.top5 };
  if (metrics.fp16) out.top1Fp16 = metrics.fp16.top1;
  if (metrics.int8) out.top1Int8 = metrics.int8.top1;
  return out;
}

/** The index entry of an entry directory `<zoo>/<dataset>/<model>/` holding model.json and weights. */
export async function entryFor(zooDir: string, dataset: string, model: string): Promise<ZooEntry> {
  const path = `${dataset}/${model}`;
  const dir = join(zooDir, dataset, model);
  const spec = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelSpec;
  const files = [await fileRecord(dir, 'model.json')];
  for (const w of spec.weights ?? []) files.push(await fileRecord(dir, w.path, w.dtype));
  const meta = spec.metadata ?? {};
  const upstream = meta.upstream as ZooEntry['upstream'];
  return {
    name: path,
    dataset,
    model: spec.name,
    arch: spec.arch,
    depth: spec.depth,
    width: spec.width,
    path,
    files,
    params: countParams(spec),
    metrics: headline(meta.metrics as ZooMetrics | undefined),
    source: upstream ? 'converted-from-upstream' : 'trained-here',
    ...(upstream ? { upstream } : {}),
  };
}

/** Entries for upstream's ImageNet weights, listed without files: `dirac zoo import` converts them locally. */
function upstreamPlaceholders(have: Set<string>): ZooEntry[] {
  return Object.entries(UPSTREAM_IMAGENET)
    .filter(([model]) => !have.has(`imagenet/${model}`))
    .map(([model, upstream]) => ({
      name: `imagenet/${model}`,
      dataset: 'imagenet',
      model,
      arch: 'diracnet',
      depth: Number(model.split('-')[1]),
      width: 1,
      path: `imagenet/${model}`,
      files: [],
      params: model === 'diracnet-18' ? 11_511_784 : 21_616_232,
      source: 'converted-from-upstream',
      upstream,
    }));
}

/**
 * Rebuilds `<zooDir>/index.json` from the entry directories found there (sizes and sha256 recomputed).
 * `default` (what `dirac classify` uses) is the most accurate entry trained here.
 */
export async function writeZooIndex(
  zooDir: string,
  options: { listUpstream?: boolean } = {},
): Promise<ZooIndex> {
  const entries: ZooEntry[] = [];
  for (const dataset of await subdirs(zooDir)) {
    for (const model of await subdirs(join(zooDir, dataset))) {
      if (await readFile(join(zooDir, dataset, model, 'model.json')).catch(() => null)) {
        entries.push(await entryFor(zooDir, dataset, model));
      }
    }
  }
  if (options.listUpstream) entries.push(...upstreamPlaceholders(new Set(entries.map((e) => e.name))));
  entries.sort((a, b) => a.name.localeCompare(b.name));
  const trained = entries.filter((e) => e.source === 'trained-here' && e.metrics);
  const best = [...trained].sort((a, b) => (b.metrics?.top1 ?? 0) - (a.metrics?.top1 ?? 0))[0]?.name;
  const index: ZooIndex = { formatVersion: 1, ...(best ? { default: best } : {}), entries };
  await writeFileAtomic(join(zooDir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}
