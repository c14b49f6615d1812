/**
 * @dirac/infer/node — the Node entry: everything of the browser entry, plus models from local directories,
 * a download cache under the user's cache directory, the repository's zoo index, backend selection with
 * `useBackend` (wasm with threads by default) and images from files or encoded bytes (JPEG, PNG, … via
 * sharp).
 *
 * ```ts
 * import { load } from '@dirac/infer/node';
 * const model = await load('zoo/cifar10/diracnet-34-1');
 * console.log(await model.classify('cat.png'));
 * ```
 *
 * @packageDocumentation
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { type BackendInfo, type BackendRequest, DataError, UsageError, useBackend } from '@dirac/core';
import { defaultCacheDir, writeFileAtomic, zooIndexPaths } from '@dirac/core/node';
import {
  type BrowserLoadOptions,
  createClassifier,
  type DiracClassifier,
  type DownloadCache,
  ImageError,
  type LoaderHost,
  type ModelSource,
  type OnnxruntimeModule,
  type RawImage,
  type RgbPixels,
  resolveModel,
  sha256Hex,
} from '@dirac/infer';
import * as tf from '@tensorflow/tfjs-core';

export * from '@dirac/infer';

/** Image inputs of the Node entry. */
export type NodeImageInput =
  /** A JPEG or PNG file path (anything sharp reads: WebP, TIFF, GIF, AVIF too). */
  | string
  /** Encoded image bytes (a Buffer from readFile, a download). */
  | Uint8Array
  /** Raw pixels: RGB, RGBA or grey, HWC. */
  | RawImage
  /** Pixels as a tensor: int32 or float on the 0–255 scale, `[H, W, C]` or a batch `[N, H, W, C]`. */
  | tf.Tensor3D
  | tf.Tensor4D;

/** Options of the Node entry's {@link load}. */
export interface NodeLoadOptions extends Omit<BrowserLoadOptions, 'backend'> {
  /**
   * The backend, through @dirac/core's `useBackend`: 'auto' (tfjs-node-gpu, tfjs-node when installed, else
   * wasm with threads, else cpu), 'gpu', or a name. Default: keep the backend already set with tfjs, or
   * 'auto' when none is.
   */
  backend?: BackendRequest;
  /** wasm worker threads (default: every core); only before the wasm backend starts. */
  threads?: number;
  /**
   * Where URL downloads are cached. Default: env `DIRAC_CACHE_DIR`, else the user's cache directory
   * (see {@link defaultCacheDir}). Never inside node_modules.
   */
  cacheDir?: string;
}

export { defaultCacheDir };

const safeSegment = (s: string): string => {
  const t = s.replace(/[^A-Za-z0-9._-]/g, '_');
  return t === '' || t === '.' || t === '..' ? '_' : t;
};

/** The cache file of a URL: `<cacheDir>/models/<host>/<path>` with every segment made file-name safe. */
export function cachePathFor(cacheDir: string, url: string): string {
  const u = new URL(url);
  const segments = u.pathname
    .split('/')
    .filter(Boolean)
    .map((s) => safeSegment(decodeURIComponent(s)));
  return join(cacheDir, 'models', safeSegment(`${u.protocol.replace(':', '')}_${u.host}`), ...segments);
}

/**
 * A download cache in a folder: files are stored atomically, and a cached file whose sha256 no longer
 * matches is deleted and downloaded again.
 *
 * @throws UsageError when the folder is inside node_modules (read-only installs, wiped by reinstalls)
 */
export function fileCache(cacheDir: string): DownloadCache {
  const dir = resolve(cacheDir);
  if (dir.split(sep).includes('node_modules')) {
    throw new UsageError(
      `cache directory '${dir}' is inside node_modules, which installs may wipe or make read-only: choose another (option cacheDir or env DIRAC_CACHE_DIR)`,
    );
  }
  return {
    async get(url, sha256) {
      const path = cachePathFor(dir, url);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch {
        return undefined;
      }
      if (sha256 && (await sha256Hex(bytes)) !== sha256.toLowerCase()) {
        await rm(path, { force: true });
        return undefined;
      }
      return bytes;
    },
    async put(url, bytes) {
      const path = cachePathFor(dir, url);
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFileAtomic(path, bytes);
      } catch (e) {
        process.emitWarning(
          `@dirac/infer: cannot write the download cache '${path}' (${(e as Error).message})`,
        );
      }
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The Node {@link LoaderHost}: local files, the download cache, the repository's zoo index. */
export function nodeLoaderHost(options: { cacheDir?: string; offline?: boolean } = {}): LoaderHost {
  return {
    readFile: async (path) => {
      const b = await readFile(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
    exists,
    joinPath: (dir, rel) => resolve(dir, rel),
    cache: fileCache(options.cacheDir ?? defaultCacheDir()),
    zooIndexes: () => zooIndexPaths(),
    offline: options.offline ?? /^(1|true|yes)$/i.test(process.env.DIRAC_OFFLINE ?? ''),
  };
}

let sharpModule: Promise<typeof import('sharp').default> | null = null;

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions {
  /**
   * How strict decoding is (sharp's `failOn`): 'error' (default) rejects corrupt and truncated files but,
   * like PIL and OpenCV, accepts JPEGs with recoverable corruption warnings (a few ImageNet training files
   * have them); 'warning' rejects those too; 'truncated' only truncated files.
   */
  failOn?: 'truncated' | 'error' | 'warning';
  /** Apply the EXIF orientation (default true, as `cv2.imread` does). */
  autoOrient?: boolean;
  /**
   * Convert RGB/greyscale pixels through an embedded ICC profile to sRGB (default false: the profile is
   * ignored, as OpenCV and PIL do, so pixels match what the models were trained on). CMYK images are
   * always converted to sRGB.
   */
  colorManagement?: boolean;
}

/**
 * Decodes an image file or encoded bytes (JPEG, PNG, WebP, TIFF, GIF, AVIF: whatever sharp/libvips reads)
 * to 8-bit sRGB, HWC: greyscale is replicated, CMYK is converted to sRGB, alpha is dropped (not composited,
 * like PIL's `convert('RGB')`), 16-bit images are reduced to 8 bits, and the EXIF orientation is applied.
 *
 * @throws ImageError for empty, unsupported, corrupt or truncated images; DataError for unreadable files
 */
export async function decodeImage(
  input: string | Uint8Array,
  options: DecodeImageOptions = {},
): Promise<RgbPixels> {
  const what = typeof input === 'string' ? `'${input}'` : 'image bytes';
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      bytes = await readFile(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new DataError(
        code === 'ENOENT'
          ? `${what}: no such file; check the path`
          : code === 'EISDIR'
            ? `${what} is a directory, not an image file`
            : `${what}: cannot read (${(e as Error).message})`,
        { cause: e },
      );
    }
  } else {
    bytes = input;
  }
  if (bytes.byteLength === 0)
    throw new ImageError('zero-size', `${what} is empty (0 bytes): re-download, re-save or remove it`);
  let sharp: typeof import('sharp').default;
  try {
    sharpModule ??= import('sharp').then((m) => m.default);
    sharp = await sharpModule;
  } catch (e) {
    sharpModule = null;
    throw new ImageError(
      'unsupported',
      `cannot decode ${what}: the image library 'sharp' failed to load (${(e as Error).message}); reinstall dependencies`,
      { cause: e },
    );
  }
  try {
    let img = sharp(bytes, {
      failOn: options.failOn ?? 'error',
      ignoreIcc: !(options.colorManagement ?? false),
    });
    if (options.autoOrient ?? true) img = img.rotate();
    const { data, info } = await img
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width === 0 || info.height === 0)
      throw new ImageError('zero-size', `${what} has zero width or height`);
    if (info.channels !== 3)
      throw new ImageError('unsupported', `${what}: decoded to ${info.channels} channels, expected RGB`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const msg = (e as Error).message ?? String(e);
    if (/unsupported image format/i.test(msg)) {
      throw new ImageError(
        'unsupported',
        `${what}: unsupported image format; convert it to JPEG or PNG (supported: JPEG, PNG, WebP, TIFF, GIF, AVIF)`,
        {
          cause: e,
        },
      );
    }
    throw new ImageError(
      'corrupt',
      `${what}: corrupt or truncated image (${msg}); re-download, re-encode or remove it`,
      { cause: e },
    );
  }
}

async function readNodePixels(input: unknown): Promise<RgbPixels[] | undefined> {
  if (typeof input === 'string' || input instanceof Uint8Array) return [await decodeImage(input)];
  return undefined;
}

/**
 * Loads a folded DiracNet in Node and warms it up. `source`: a model directory (or its model.json), an
 * http(s) URL of one (downloads are cached under {@link defaultCacheDir}; a cached file is re-verified by
 * sha256 before use, and loading works offline once cached), a zoo name (looked up in the `zooIndex`
 * option or the repository's `zoo/index.json`), or `{ spec, weights }` bytes.
 *
 * @throws the errors of the browser entry's `load`, DataError for unreadable local files, UsageError for an
 *   unknown source or a cache folder inside node_modules
 */
export async function load(
  source: ModelSource,
  options: NodeLoadOptions = {},
): Promise<DiracClassifier<NodeImageInput>> {
  let backendInfo: BackendInfo | undefined;
  if (options.backend || !tf.getBackend()) {
    backendInfo = await useBackend(options.backend ?? 'auto', { threads: options.threads });
  }
  await tf.ready();
  const host = nodeLoaderHost({ cacheDir: options.cacheDir, offline: options.offline });
  const resolved = await resolveModel(source, options, host);
  return createClassifier<NodeImageInput>(resolved, {
    backend: tf.getBackend(),
    backendInfo,
    readPixels: readNodePixels,
    warmup: options.warmup,
    onProgress: options.onProgress,
    engine: options.engine,
    // Imported only when the onnxruntime engine is asked for or 'auto' looks for it.
    onnxruntime: options.onnxruntime ?? (() => import('onnxruntime-node') as Promise<OnnxruntimeModule>),
    onnxruntimeOptions: options.onnxruntimeOptions,
    dtype: options.dtype,
    platform: { onnxruntime: 'onnxruntime-node', provider: 'cpu', auto: 'node' },
  });
}
