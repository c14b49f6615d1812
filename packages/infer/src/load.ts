/**
 * Where a model comes from: a model directory (local path or URL), raw bytes, or a zoo name. Browser-safe:
 * the Node entry plugs file reading, the download cache and the default zoo index in through a
 * {@link LoaderHost}.
 */
import {
  checkSpec,
  DataError,
  looksLikeZooName,
  findZooEntry as lookUpEntry,
  type ModelSpec,
  sha256HexAsync,
  UsageError,
  type WeightsFile,
} from '@dirac/core';
import { DownloadError, IntegrityError, TrainingFormError } from './errors';

/** A progress report, in the style of transformers.js' `progress_callback`. */
export interface ProgressInfo {
  /**
   * 'initiate': a file is about to be read; 'download': its download starts (not sent for local files and
   * cache hits); 'progress': `loaded` of `total` bytes have arrived; 'done': the file is read and verified;
   * 'ready': the model is built and warmed up (`file` is the model's name).
   */
  status: 'initiate' | 'download' | 'progress' | 'done' | 'ready';
  /** The model's name (from model.json once known, else the source as given). */
  name: string;
  /** The file: `model.json`, a weights file name, or the model's name for 'ready'. */
  file: string;
  /** Bytes received so far ('progress', 'done'). */
  loaded?: number;
  /** Total bytes when known ('progress', 'done'). */
  total?: number;
  /** loaded / total in percent, when the total is known ('progress'). */
  progress?: number;
}

/** One entry of a zoo index (a subset of @dirac/core's `ZooEntry`: what loading needs). */
export interface ZooIndexEntry {
  /** The name users pass to `load()`. */
  name: string;
  /** The entry's directory, relative to the index file's directory. */
  path: string;
  /** Files of the entry with their sizes and hashes; paths relative to the entry directory. */
  files?: { path: string; bytes?: number; sha256?: string; dtype?: 'float32' | 'float16' }[];
}

/** A zoo index: `zoo/index.json`. */
export interface ZooIndex {
  entries: ZooIndexEntry[];
}

/** A model given as bytes: the parsed model.json and the safetensors weights. */
export interface ModelBytes {
  spec: unknown;
  weights: Uint8Array;
}

/**
 * What `load()` accepts: a model directory (a local path in Node, or an http(s) URL of the directory or of
 * its model.json; in browsers a relative URL works too), a zoo name, or {@link ModelBytes}.
 */
export type ModelSource = string | URL | ModelBytes;

/** Options of loading, shared by both entries. */
export interface LoadOptions {
  /**
   * Precision: 'float32' (default); 'float16' to prefer `weights.fp16.safetensors` when model.json lists it
   * (half the download; computation stays float32); 'int8' to run the network as int8 (QDQ) on ONNX Runtime,
   * with the activation ranges calibrated when the model was published (`metadata.quantization.int8` in
   * model.json, written by `dirac zoo add`): needs the onnxruntime engine.
   */
  dtype?: 'float32' | 'float16' | 'int8';
  /** Progress reports (see {@link ProgressInfo}). */
  onProgress?: (info: ProgressInfo) => void;
  /**
   * The zoo index to look names up in: its URL or path, or the index itself (then entry paths resolve
   * against `zooBase`). Node falls back to `zoo/index.json` of the package or repository when present;
   * browsers to the published @dirac/zoo of this release on jsDelivr, for names shaped like
   * `dataset/model` (a name it does not list is then tried as a relative URL). `false`: no zoo lookup.
   */
  zooIndex?: string | URL | ZooIndex | false;
  /** Base URL or directory of the zoo when `zooIndex` is given as an object. */
  zooBase?: string;
  /** The fetch function to download with (default: the global fetch). */
  fetch?: typeof fetch;
  /** Use only the download cache, never the network (Node; also env `DIRAC_OFFLINE=1`). */
  offline?: boolean;
}

/** A download cache (Node: a folder under the user's cache directory). */
export interface DownloadCache {
  /**
   * Cached bytes of a URL, or undefined. With `sha256`, the bytes are verified first and a file that
   * fails is removed and reported as a miss.
   */
  get(url: string, sha256?: string): Promise<Uint8Array | undefined>;
  /** Stores the bytes of a URL (atomically). */
  put(url: string, bytes: Uint8Array): Promise<void>;
}

/** Platform hooks of the loader: what the Node entry adds to the browser-safe core. */
export interface LoaderHost {
  /** Reads a local file; absent in browsers. Rejects with an error whose `code` is 'ENOENT' when missing. */
  readFile?(path: string): Promise<Uint8Array>;
  /** Whether a local path exists; absent in browsers. */
  exists?(path: string): Promise<boolean>;
  /** Joins a directory and a relative path (Node's path.resolve). */
  joinPath?(dir: string, rel: string): string;
  /** The download cache for URL sources. */
  cache?: DownloadCache;
  /**
   * The zoo indexes to search when no `zooIndex` option is given, most specific first (Node: the
   * repository's, the installed @dirac/zoo, the user's converted models).
   */
  zooIndexes?(): Promise<string[]>;
  /**
   * A zoo index URL consulted after those, only for strings shaped like zoo names, whose failure to load
   * means "not found there" (browsers: the published zoo on a CDN).
   */
  remoteZooIndex?: string;
  /** Base URL for relative URLs (browsers: the page's or worker's location). */
  baseUrl?: string;
  /** Whether to work from the cache only. */
  offline?: boolean;
}

/** What the loader hands to the model builder. */
export interface ResolvedModel {
  spec: ModelSpec;
  weights: Uint8Array;
  /** Where the weights came from (path, URL or 'bytes'), for messages. */
  weightsSource: string;
}

/** Lower-case hex sha256 of some bytes, with WebCrypto (Node 20+ and browsers in secure contexts). */
export const sha256Hex = sha256HexAsync;

/** Refuses training-form specs before any weights are read. */
export function checkFoldedSpec(value: unknown): ModelSpec {
  const spec = checkSpec(value);
  if (spec.form !== 'folded') {
    throw new TrainingFormError(
      `'${spec.name}' is a training-form model; @dirac/infer runs folded models only. ` +
        'Fold it first: `dirac fold <model dir> <out dir>` (or fold() + saveModelDir() from @dirac/core)',
    );
  }
  return spec;
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new DataError(
      `${where} is not valid JSON (${(e as Error).message}): the file is corrupt or not a model.json`,
    );
  }
}

async function verify(
  bytes: Uint8Array,
  expected: { bytes?: number; sha256?: string },
  where: string,
): Promise<void> {
  if (expected.bytes !== undefined && expected.bytes >= 0 && bytes.byteLength !== expected.bytes) {
    throw new IntegrityError(
      where,
      'size',
      `${where} has ${bytes.byteLength} bytes but ${expected.bytes} are listed: the file is truncated or replaced; download or copy it again`,
    );
  }
  if (expected.sha256) {
    const got = await sha256Hex(bytes);
    if (got !== expected.sha256.toLowerCase()) {
      throw new IntegrityError(
        where,
        'sha256',
        `${where} fails the sha256 check (expected ${expected.sha256}, got ${got}): the file is corrupt or replaced; download or copy it again`,
      );
    }
  }
}

/** Picks the weights file: float16 only when asked for and listed, else float32, else the first. */
export function pickWeightsFile(
  files: WeightsFile[] | undefined,
  dtype: 'float32' | 'float16' | 'int8' = 'float32',
): WeightsFile | undefined {
  if (!files?.length) return undefined;
  return files.find((f) => f.dtype === dtype) ?? files.find((f) => f.dtype === 'float32') ?? files[0];
}

const isHttpUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** A model directory: a local folder or a URL (base ends with '/'). */
type Location = { kind: 'file'; dir: string } | { kind: 'url'; base: string };

type ExpectedFiles = Map<string, { bytes?: number; sha256?: string }>;

interface Ctx {
  options: LoadOptions;
  host: LoaderHost;
  name: string;
  emit: (info: Omit<ProgressInfo, 'name'>) => void;
  /** Why the remote zoo index could not be consulted, for the message if nothing else works. */
  remoteZooError?: string;
}

function urlLocation(u: string, host: LoaderHost): Location {
  let url: URL;
  try {
    url = new URL(u, host.baseUrl);
  } catch {
    throw new UsageError(`'${u}' is not a valid URL`);
  }
  url.search = '';
  url.hash = '';
  const href = url.href;
  if (/\.json$/i.test(url.pathname)) return { kind: 'url', base: href.slice(0, href.lastIndexOf('/') + 1) };
  return { kind: 'url', base: href.endsWith('/') ? href : `${href}/` };
}

async function readLocal(ctx: Ctx, path: string, file: string): Promise<Uint8Array> {
  ctx.emit({ status: 'initiate', file });
  let bytes: Uint8Array;
  try {
    bytes = await ctx.host.readFile!(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new DataError(
      code === 'ENOENT'
        ? `'${path}' does not exist: ${file === 'model.json' ? 'is this a model directory?' : 'the model directory is incomplete; copy it again'}`
        : `cannot read '${path}' (${(e as Error).message})`,
      { cause: e },
    );
  }
  ctx.emit({ status: 'progress', file, loaded: bytes.byteLength, total: bytes.byteLength, progress: 100 });
  return bytes;
}

async function download(ctx: Ctx, url: string, file: string): Promise<Uint8Array> {
  const f = ctx.options.fetch ?? globalThis.fetch;
  if (!f) throw new UsageError('no fetch() in this environment: pass one with the `fetch` option');
  ctx.emit({ status: 'download', file });
  let res: Response;
  try {
    res = await f(url);
  } catch (e) {
    throw new DownloadError(
      url,
      `cannot download ${url} (${(e as Error).message}): check the URL and the connection; a model downloaded once loads offline from the cache`,
      { cause: e },
    );
  }
  if (!res.ok) {
    throw new DownloadError(
      url,
      `cannot download ${url}: HTTP ${res.status} ${res.statusText}${res.status === 404 ? ' (is this the URL of a model directory holding model.json?)' : ''}`,
      { status: res.status },
    );
  }
  const total = Number(res.headers.get('content-length')) || undefined;
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    ctx.emit({ status: 'progress', file, loaded: bytes.byteLength, total: bytes.byteLength, progress: 100 });
    return bytes;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      ctx.emit({
        status: 'progress',
        file,
        loaded,
        total,
        ...(total ? { progress: Math.min(100, (100 * loaded) / total) } : {}),
      });
    }
  } catch (e) {
    throw new DownloadError(
      url,
      `download of ${url} broke off after ${loaded} bytes (${(e as Error).message}); try again`,
      {
        cause: e,
      },
    );
  }
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

/**
 * Reads one file of a model directory. URL files go through the cache: a file with a known sha256 is
 * served from the cache when its copy verifies (no network at all), model.json is fetched afresh and the
 * cached copy is used when the network fails (or always when offline).
 */
async function readModelFile(
  ctx: Ctx,
  loc: Location,
  file: string,
  expected: { bytes?: number; sha256?: string },
): Promise<{ bytes: Uint8Array; where: string }> {
  if (loc.kind === 'file') {
    const where = ctx.host.joinPath!(loc.dir, file);
    const bytes = await readLocal(ctx, where, file);
    await verify(bytes, expected, `'${where}'`);
    ctx.emit({ status: 'done', file, loaded: bytes.byteLength, total: bytes.byteLength });
    return { bytes, where };
  }
  const url = new URL(file, loc.base).href;
  const cache = ctx.host.cache;
  const offline = ctx.options.offline ?? ctx.host.offline ?? false;
  ctx.emit({ status: 'initiate', file });
  // A cached copy is used as is when its sha256 is known (cache.get re-verifies it) or when offline.
  let bytes: Uint8Array | undefined;
  if (cache && (expected.sha256 || offline)) bytes = await cache.get(url, expected.sha256);
  if (bytes) {
    await verify(bytes, { bytes: expected.bytes }, url);
  } else {
    if (offline) {
      throw new DownloadError(
        url,
        `offline and ${url} is not in the cache: load it once online, or load from a local directory`,
      );
    }
    let fresh = true;
    try {
      bytes = await download(ctx, url, file);
    } catch (e) {
      // model.json (no known hash): fall back to the cached copy when the network fails.
      const fallback =
        e instanceof DownloadError && !expected.sha256 && cache ? await cache.get(url) : undefined;
      if (!fallback) throw e;
      bytes = fallback;
      fresh = false;
    }
    await verify(bytes, expected, url);
    if (cache && fresh) await cache.put(url, bytes);
  }
  ctx.emit({ status: 'done', file, loaded: bytes.byteLength, total: bytes.byteLength });
  return { bytes, where: url };
}

async function loadFromLocation(
  ctx: Ctx,
  loc: Location,
  expectedFiles: ExpectedFiles,
): Promise<ResolvedModel> {
  const specFile = await readModelFile(ctx, loc, 'model.json', expectedFiles.get('model.json') ?? {});
  const spec = checkFoldedSpec(parseJson(specFile.bytes, specFile.where));
  ctx.name = spec.name;
  const file = pickWeightsFile(spec.weights, ctx.options.dtype);
  if (!file) {
    throw new IntegrityError(
      specFile.where,
      'unlisted',
      `${specFile.where} lists no weights file with a sha256, so its weights cannot be verified: save the model with saveModelDir() or \`dirac fold\``,
    );
  }
  const zoo = expectedFiles.get(file.path);
  if (zoo?.sha256 && zoo.sha256.toLowerCase() !== file.sha256.toLowerCase()) {
    throw new IntegrityError(
      file.path,
      'sha256',
      `the zoo index and ${specFile.where} disagree on the sha256 of ${file.path}: the zoo copy is inconsistent; update it`,
    );
  }
  const weights = await readModelFile(ctx, loc, file.path, { bytes: file.bytes, sha256: file.sha256 });
  return { spec, weights: weights.bytes, weightsSource: weights.where };
}

async function readZooIndex(ctx: Ctx, where: string): Promise<{ index: ZooIndex; base: Location }> {
  const loc: Location =
    isHttpUrl(where) || !ctx.host.readFile
      ? urlLocation(where, ctx.host)
      : { kind: 'file', dir: ctx.host.joinPath!(where, '..') };
  const file = loc.kind === 'url' ? new URL(where, ctx.host.baseUrl).href : where;
  let bytes: Uint8Array;
  if (loc.kind === 'url') {
    bytes = (await readModelFile({ ...ctx, emit: () => {} }, { kind: 'url', base: file }, file, {})).bytes;
  } else {
    bytes = await ctx.host.readFile!(where).catch((e: Error) => {
      throw new DataError(`cannot read the zoo index '${where}' (${e.message})`);
    });
  }
  const index = parseJson(bytes, `zoo index ${where}`) as ZooIndex;
  if (!index || !Array.isArray(index.entries)) {
    throw new DataError(`zoo index ${where} has no "entries" array: it is not a zoo index`);
  }
  return { index, base: loc };
}

function childLocation(ctx: Ctx, base: Location, path: string): Location {
  if (base.kind === 'file') return { kind: 'file', dir: ctx.host.joinPath!(base.dir, path) };
  const href = new URL(path, base.base).href;
  return { kind: 'url', base: href.endsWith('/') ? href : `${href}/` };
}

async function zooIndexes(ctx: Ctx): Promise<{ index: ZooIndex; base: Location }[]> {
  const opt = ctx.options.zooIndex;
  if (opt === false) return [];
  if (opt && typeof opt === 'object' && !(opt instanceof URL)) {
    const baseStr = ctx.options.zooBase;
    if (!baseStr)
      throw new UsageError('a zooIndex given as an object needs the zooBase option (its URL or folder)');
    const base: Location =
      isHttpUrl(baseStr) || !ctx.host.readFile
        ? urlLocation(baseStr, ctx.host)
        : { kind: 'file', dir: baseStr };
    return [{ index: opt, base }];
  }
  const wheres = opt ? [String(opt)] : ((await ctx.host.zooIndexes?.()) ?? []);
  const found = await Promise.all(wheres.map((w) => readZooIndex(ctx, w)));
  const remote = ctx.host.remoteZooIndex;
  if (opt || !remote || !looksLikeZooName(ctx.name)) return found;
  try {
    return [...found, await readZooIndex(ctx, remote)];
  } catch (e) {
    ctx.remoteZooError = `the zoo index ${remote} could not be read (${(e as Error).message})`;
    return found;
  }
}

/** The first index listing `name` with files; an entry listed without files must be imported first. */
async function findZooEntry(
  ctx: Ctx,
  name: string,
): Promise<{ loc: Location; expected: ExpectedFiles } | undefined> {
  let placeholder: ZooIndexEntry | undefined;
  for (const found of await zooIndexes(ctx)) {
    const entry = lookUpEntry(found.index, name);
    if (!entry) continue;
    if (entry.files && entry.files.length === 0) {
      placeholder ??= entry;
      continue;
    }
    const expected: ExpectedFiles = new Map();
    for (const f of entry.files ?? []) expected.set(f.path, { bytes: f.bytes, sha256: f.sha256 });
    return { loc: childLocation(ctx, found.base, entry.path), expected };
  }
  if (placeholder) {
    throw new UsageError(
      `${placeholder.name} is converted from upstream's weights on the user's machine: run \`npx dirac zoo import ${placeholder.name.split('/').pop()}\` first`,
    );
  }
  return undefined;
}

/** A browser's last resort for a string: a model directory URL relative to the page. */
async function loadRelativeUrl(ctx: Ctx, s: string): Promise<ResolvedModel> {
  try {
    return await loadFromLocation(ctx, urlLocation(s, ctx.host), new Map());
  } catch (e) {
    if (
      !(e instanceof DownloadError) ||
      !looksLikeZooName(s) ||
      !ctx.host.remoteZooIndex ||
      ctx.options.zooIndex
    )
      throw e;
    const zoo = ctx.remoteZooError ?? `the published zoo (${ctx.host.remoteZooIndex}) does not list it`;
    throw new DownloadError(
      e.url,
      `'${s}' is neither in the zoo nor a model directory here: ${zoo}; ${e.message}`,
      { status: e.status, cause: e },
    );
  }
}

/**
 * Resolves a {@link ModelSource} to a verified folded spec and its weights bytes (not yet tensors).
 *
 * @throws TrainingFormError for training-form models, IntegrityError for size/sha256 mismatches,
 *   DownloadError for network failures, DataError for unreadable files, UsageError for unknown sources
 */
export async function resolveModel(
  source: ModelSource,
  options: LoadOptions = {},
  host: LoaderHost = {},
): Promise<ResolvedModel> {
  const ctx: Ctx = {
    options,
    host,
    name: typeof source === 'string' ? source : source instanceof URL ? source.href : 'model',
    emit: (info) => options.onProgress?.({ name: ctx.name, ...info }),
  };
  if (typeof source === 'object' && !(source instanceof URL)) {
    if (!(source.weights instanceof Uint8Array)) {
      throw new UsageError('a model given as bytes needs { spec, weights: Uint8Array }');
    }
    const spec = checkFoldedSpec(source.spec);
    const listed = spec.weights ?? [];
    if (listed.length) {
      const n = source.weights.byteLength;
      const sha = await sha256Hex(source.weights);
      if (!listed.some((f) => f.sha256 === sha && (f.bytes === undefined || f.bytes === n))) {
        throw new IntegrityError(
          'bytes',
          'sha256',
          `the weights bytes match none of the files listed in spec.weights (sha256 ${sha}): they are corrupt or belong to another model; remove spec.weights to skip the check`,
        );
      }
    }
    return { spec, weights: source.weights, weightsSource: 'bytes' };
  }
  const s = source instanceof URL ? source.href : source;
  if (!s) throw new UsageError('load() needs a model directory, URL, zoo name or { spec, weights }');
  if (isHttpUrl(s) || /^(blob|data|file):/i.test(s)) {
    if (/^file:/i.test(s) && host.readFile) {
      const path = decodeURIComponent(new URL(s).pathname);
      return loadFromLocation(
        ctx,
        { kind: 'file', dir: /\.json$/i.test(path) ? host.joinPath!(path, '..') : path },
        new Map(),
      );
    }
    return loadFromLocation(ctx, urlLocation(s, host), new Map());
  }
  if (host.exists && (await host.exists(s))) {
    const dir = /\.json$/i.test(s) ? host.joinPath!(s, '..') : s;
    return loadFromLocation(ctx, { kind: 'file', dir }, new Map());
  }
  const zoo = await findZooEntry(ctx, s);
  if (zoo) return loadFromLocation(ctx, zoo.loc, zoo.expected);
  if (!host.readFile) return loadRelativeUrl(ctx, s);
  throw new UsageError(
    `'${s}' is neither a model directory, an http(s) URL, nor a name in the zoo index${options.zooIndex === undefined ? ' (none found; pass the zooIndex option)' : ''}`,
  );
}
