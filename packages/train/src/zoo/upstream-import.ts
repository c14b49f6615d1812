import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { DataError, disposeModel, type ModelSpec, UsageError, type ZooUpstream } from '@dirac/core';
import { defaultCacheDir, saveModelDir, sha256Hex, userZooDir } from '@dirac/core/node';
import { modelFromUpstream, readTorchCheckpoint, UPSTREAM_IMAGENET } from '@dirac/models';
import { type DownloadProgress, downloadFile } from '../data/download';
import { IMAGENET_CLASSES } from './imagenet-classes';
import { writeZooIndex } from './index-file';

export type UpstreamName = keyof typeof UPSTREAM_IMAGENET;

export interface ZooImportOptions {
  /** A local copy of upstream's file (no download). */
  file?: string;
  /** Download from this URL instead of upstream's (a mirror); the sha256 prefix is still checked. */
  url?: string;
  /** Zoo folder to install into (default: the user's zoo under the cache directory). */
  zooDir?: string;
  /** Where downloads are kept (default: the cache directory). */
  cacheDir?: string;
  onDownload?: (p: DownloadProgress) => void;
}

/** Checks `name` against upstream's published files. */
export function upstreamFor(name: string): { model: UpstreamName; upstream: ZooUpstream } {
  const model = name.replace(/^imagenet\//, '') as UpstreamName;
  const upstream = UPSTREAM_IMAGENET[model];
  if (!upstream) {
    throw new UsageError(
      `upstream published folded weights for ${Object.keys(UPSTREAM_IMAGENET).join(' and ')} only; got '${name}'`,
    );
  }
  return { model, upstream };
}

async function upstreamBytes(upstream: ZooUpstream, opts: ZooImportOptions): Promise<Uint8Array> {
  let path = opts.file;
  if (!path) {
    path = join(opts.cacheDir ?? defaultCacheDir(), 'downloads', upstream.file);
    await downloadFile(opts.url ?? upstream.url, path, { onProgress: opts.onDownload });
  }
  const b = await readFile(path).catch((e: Error) => {
    throw new DataError(`cannot read '${path}' (${e.message})`);
  });
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Converts upstream's published bytes into a zoo entry `<zooDir>/imagenet/<model>/` (folded form, ImageNet
 * labels, OpenCV-bilinear preprocessing as upstream trained with) and rebuilds that zoo's index. The file
 * must match the sha256 prefix in upstream's file name; nothing is written otherwise.
 */
export async function installUpstream(
  model: string,
  upstream: ZooUpstream,
  bytes: Uint8Array,
  zooDir: string,
): Promise<ModelSpec> {
  const sha256 = sha256Hex(bytes);
  if (!sha256.startsWith(upstream.sha256Prefix)) {
    throw new DataError(
      `the file is not upstream's ${upstream.file}: its sha256 starts ${sha256.slice(0, 8)}, not ${upstream.sha256Prefix} (a truncated download or another file)`,
    );
  }
  const ckpt = readTorchCheckpoint(bytes, { inflateRaw: (d) => new Uint8Array(inflateRawSync(d)) });
  const converted = modelFromUpstream(ckpt);
  try {
    const spec = converted.spec;
    if (spec.family !== 'imagenet' || spec.form !== 'folded' || spec.numClasses !== 1000) {
      throw new DataError(
        `${upstream.file} is not a folded ImageNet-1k DiracNet (got ${spec.name}, ${spec.form})`,
      );
    }
    spec.labels = IMAGENET_CLASSES.map((c) => c.split(',')[0]!.trim());
    spec.metadata = {
      ...spec.metadata,
      upstream,
      provenance: { source: upstream.url, sha256, converted: new Date().toISOString() },
    };
    await saveModelDir(join(zooDir, 'imagenet', model), converted, { dtypes: ['float32'] });
    await writeZooIndex(zooDir);
    return spec;
  } finally {
    disposeModel(converted);
  }
}

/** `dirac zoo import <model>`: download (or read) upstream's folded weights, check and install them. */
export async function importUpstream(name: string, opts: ZooImportOptions = {}): Promise<ModelSpec> {
  const { model, upstream } = upstreamFor(name);
  const bytes = await upstreamBytes(upstream, opts);
  return installUpstream(model, upstream, bytes, opts.zooDir ?? userZooDir(opts.cacheDir));
}
