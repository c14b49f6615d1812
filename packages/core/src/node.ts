import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import {
  DataError,
  deserializeModel,
  type Model,
  type ModelSpec,
  serializeModel,
  UsageError,
  type WeightsDtype,
} from '@dirac/core';
import { ownLocation } from './own-location';

/** Lower-case hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Writes a file atomically: the bytes go to a temporary file in the same folder, are flushed, and are
 * renamed over the target, so a reader (or a crash, SIGKILL included) never sees a partial file.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data, { flush: true });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Options of {@link saveModelDir}. */
export interface SaveModelOptions {
  /** Weight files to write: float32 (`weights.safetensors`) and/or float16 (`weights.fp16.safetensors`). */
  dtypes?: WeightsDtype[];
}

const WEIGHTS_FILE: Record<WeightsDtype, string> = {
  float32: 'weights.safetensors',
  float16: 'weights.fp16.safetensors',
};

/**
 * Saves a model as a directory: `model.json` (the spec, listing each weights file with its size and sha256)
 * and one safetensors file per precision. Each file is written atomically, weights first, so model.json
 * never points at missing or partial weights.
 */
export async function saveModelDir(
  dir: string,
  model: Model,
  options: SaveModelOptions = {},
): Promise<ModelSpec> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create output folder '${dir}': ${(e as Error).message}`);
  }
  const spec = structuredClone(model.spec);
  spec.weights = [];
  for (const dtype of options.dtypes ?? ['float32']) {
    const { weights } = serializeModel(model, dtype);
    const path = WEIGHTS_FILE[dtype];
    await writeFileAtomic(join(dir, path), weights);
    spec.weights.push({ path, dtype, bytes: weights.byteLength, sha256: sha256Hex(weights) });
  }
  await writeFileAtomic(join(dir, 'model.json'), `${JSON.stringify(spec, null, 2)}\n`);
  return spec;
}

/** Reads and parses a model directory's model.json. */
export async function readModelSpec(dir: string): Promise<ModelSpec> {
  const path = join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read '${path}': is '${dir}' a model directory? (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as ModelSpec;
  } catch (e) {
    throw new DataError(`'${path}' is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Loads a model directory written by {@link saveModelDir}, checking each weights file's size and sha256 and
 * that the tensors match the spec. `prefer` picks the float16 or float32 file when both are listed.
 */
export async function loadModelDir(dir: string, options: { prefer?: WeightsDtype } = {}): Promise<Model> {
  const spec = await readModelSpec(dir);
  const files = spec.weights ?? [{ path: 'weights.safetensors', dtype: 'float32', bytes: -1, sha256: '' }];
  const file = files.find((f) => f.dtype === (options.prefer ?? 'float32')) ?? files[0]!;
  const path = resolve(dir, file.path);
  const bytes = await readFile(path).catch((e: Error) => {
    throw new DataError(`cannot read weights '${path}' (${e.message})`);
  });
  if (file.bytes >= 0 && bytes.byteLength !== file.bytes) {
    throw new DataError(
      `weights '${path}' has ${bytes.byteLength} bytes but model.json says ${file.bytes}: the file is truncated or replaced; download or copy it again`,
    );
  }
  if (file.sha256 && sha256Hex(bytes) !== file.sha256) {
    throw new DataError(
      `weights '${path}' fail the sha256 check (model.json expects ${file.sha256}): the file is corrupt or replaced; download or copy it again`,
    );
  }
  return deserializeModel(spec, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The user's cache directory for `@dirac` downloads and converted models: `$DIRAC_CACHE_DIR` when set; else
 * `$XDG_CACHE_HOME/dirac` or `~/.cache/dirac` on Linux and other Unixes, `~/Library/Caches/dirac` on macOS,
 * `%LOCALAPPDATA%\\dirac` on Windows. Never inside node_modules.
 */
export function defaultCacheDir(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.DIRAC_CACHE_DIR) return resolve(env.DIRAC_CACHE_DIR);
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'dirac');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'dirac');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'dirac');
}

/** Where `dirac zoo import` installs entries converted on this machine (with their own index.json). */
export function userZooDir(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, 'zoo');
}

function resolveFrom(base: string, specifier: string): string | undefined {
  try {
    return createRequire(base).resolve(specifier);
  } catch {
    return undefined;
  }
}

/**
 * The zoo indexes Node looks names up in, most specific first: `$DIRAC_ZOO_INDEX`, the repository's
 * `zoo/index.json` (the working directory or a parent), the installed `@dirac/zoo` package, and the user's
 * zoo of converted models. Only existing files are returned.
 */
export async function zooIndexPaths(cwd: string = process.cwd()): Promise<string[]> {
  const found: string[] = [];
  if (process.env.DIRAC_ZOO_INDEX) found.push(resolve(process.env.DIRAC_ZOO_INDEX));
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, 'zoo', 'index.json');
    if (await exists(candidate)) {
      found.push(candidate);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  const own = ownLocation();
  const installed =
    resolveFrom(join(resolve(cwd), 'noop.js'), '@dirac/zoo/index.json') ??
    (own ? resolveFrom(own, '@dirac/zoo/index.json') : undefined);
  if (installed) found.push(installed);
  const user = join(userZooDir(), 'index.json');
  if (await exists(user)) found.push(user);
  return [...new Set(found)];
}
