import {
  checkZooIndex,
  DataError,
  deserializeModel,
  findZooEntry,
  type Model,
  type ModelSpec,
  sha256HexAsync,
  UsageError,
  ZOO_URL,
  type ZooEntry,
  type ZooUpstream,
} from '@dirac/core';

/** Upstream's folded ImageNet weights (szagoruyko/diracnets README), converted by `dirac zoo import`. */
export const UPSTREAM_IMAGENET: Record<'diracnet-18' | 'diracnet-34', ZooUpstream> = {
  'diracnet-18': {
    url: 'https://s3.amazonaws.com/modelzoo-networks/diracnet18v2folded-a2174e15.pth',
    file: 'diracnet18v2folded-a2174e15.pth',
    sha256Prefix: 'a2174e15',
  },
  'diracnet-34': {
    url: 'https://s3.amazonaws.com/modelzoo-networks/diracnet34v2folded-dfb15d34.pth',
    file: 'diracnet34v2folded-dfb15d34.pth',
    sha256Prefix: 'dfb15d34',
  },
};

export { ZOO_URL };

export interface LoadPretrainedOptions {
  /**
   * The zoo index (a path in Node, or a URL). Default in Node: `$DIRAC_ZOO_INDEX`, the repository's
   * zoo/index.json, the installed @dirac/zoo package, then the user's zoo of converted models; in browsers
   * {@link ZOO_URL}.
   */
  zoo?: string | URL;
  /** 'float16' reads the half-size weights file (computation stays float32). Default 'float32'. */
  dtype?: 'float32' | 'float16';
  /** The fetch function for URLs (default: the global fetch). */
  fetch?: typeof fetch;
}

interface Reader {
  where: string;
  read(rel: string): Promise<Uint8Array>;
}

const isNode = typeof process !== 'undefined' && Boolean(process.versions?.node);
const isUrl = (s: string) => /^(https?|blob|data):/i.test(s);

// Computed specifiers keep bundlers from pulling Node modules into browser builds.
function nodeImport<T>(name: string): Promise<T> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name) as Promise<T>;
}

async function readerFor(index: string, fetchFn: typeof fetch | undefined): Promise<Reader> {
  if (isUrl(index) || !isNode) {
    const f = fetchFn ?? globalThis.fetch;
    return {
      where: index,
      async read(rel) {
        const url = new URL(rel, index).href;
        const res = await f(url).catch((e: Error) => {
          throw new DataError(`cannot download ${url} (${e.message})`);
        });
        if (!res.ok) throw new DataError(`cannot download ${url}: HTTP ${res.status}`);
        return new Uint8Array(await res.arrayBuffer());
      },
    };
  }
  const fs = await nodeImport<typeof import('node:fs/promises')>('node:fs/promises');
  const path = await nodeImport<typeof import('node:path')>('node:path');
  return {
    where: index,
    async read(rel) {
      const file = path.resolve(path.dirname(index), rel);
      const b = await fs.readFile(file).catch((e: Error) => {
        throw new DataError(`cannot read ${file} (${e.message})`);
      });
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}

async function checked(reader: Reader, rel: string, expect?: { bytes: number; sha256: string }) {
  const bytes = await reader.read(rel);
  if (expect && (bytes.byteLength !== expect.bytes || (await sha256HexAsync(bytes)) !== expect.sha256)) {
    throw new DataError(
      `${rel} of the zoo at ${reader.where} fails its size or sha256 check: the copy is corrupt or replaced`,
    );
  }
  return bytes;
}

async function indexLocations(options: LoadPretrainedOptions): Promise<string[]> {
  if (options.zoo) return [String(options.zoo)];
  if (!isNode) return [ZOO_URL];
  const core = await nodeImport<typeof import('@dirac/core/node')>('@dirac/core/node');
  const local = await core.zooIndexPaths();
  return local.length ? local : [ZOO_URL];
}

/** The first index that lists `name` with files, and the entry. */
async function locate(name: string, options: LoadPretrainedOptions) {
  let listedOnly: ZooEntry | undefined;
  for (const where of await indexLocations(options)) {
    const reader = await readerFor(where, options.fetch);
    const json = JSON.parse(new TextDecoder().decode(await reader.read(where)));
    const entry = findZooEntry(checkZooIndex(json, `zoo index ${where}`), name);
    if (entry?.files?.length) return { reader, entry };
    listedOnly ??= entry;
  }
  if (listedOnly?.source === 'converted-from-upstream') {
    const short = listedOnly.name.split('/').pop();
    throw new UsageError(
      `${listedOnly.name} is converted from upstream's weights on your machine: run \`npx dirac zoo import ${short}\` first`,
    );
  }
  throw new UsageError(`'${name}' is not in the zoo`);
}

/**
 * Loads a pretrained folded model from the zoo by name (`cifar10/diracnet-34-1`, or `diracnet-18` when
 * unambiguous), checking every file's size and sha256. The caller owns the tensors (`disposeModel`).
 *
 * @throws UsageError for an unknown name or an upstream entry not yet imported; DataError for unreadable
 *   or corrupt files
 */
export async function loadPretrained(name: string, options: LoadPretrainedOptions = {}): Promise<Model> {
  const { reader, entry } = await locate(name, options);
  const listed = new Map(entry.files.map((f) => [f.path, f]));
  const specBytes = await checked(reader, `${entry.path}/model.json`, listed.get('model.json'));
  const spec = JSON.parse(new TextDecoder().decode(specBytes)) as ModelSpec;
  const dtype = options.dtype ?? 'float32';
  const file = spec.weights?.find((w) => w.dtype === dtype) ?? spec.weights?.[0];
  if (!file) throw new DataError(`${entry.name}: its model.json lists no weights file`);
  const weights = await checked(reader, `${entry.path}/${file.path}`, file);
  return deserializeModel(spec, weights);
}
