import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  disposeModel,
  forward,
  type Model,
  type ModelSpec,
  SafetensorsError,
  ShapeError,
  serializeModel,
  useBackend,
} from '@dirac/core';
import {
  cachePathFor,
  DataError,
  DownloadError,
  defaultCacheDir,
  fileCache,
  IntegrityError,
  load,
  type ProgressInfo,
  TrainingFormError,
  UsageError,
} from '@dirac/infer/node';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR_LABELS, makeModel, removeDir, saveTempModel, serveDir, tempDir } from './helpers';

let folded: Model;
let dir: string;
let spec: ModelSpec;
const dirs: string[] = [];
const x = () => tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7);

beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  folded = makeModel('diracnet-10-1', { labels: CIFAR_LABELS });
  ({ dir, spec } = await saveTempModel(folded, ['float32', 'float16']));
  dirs.push(dir);
});

afterAll(async () => {
  disposeModel(folded);
  await Promise.all(dirs.map(removeDir));
});

/** A copy of the model directory, to corrupt. */
async function copyModelDir(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  for (const f of ['model.json', 'weights.safetensors', 'weights.fp16.safetensors']) {
    await copyFile(join(dir, f), join(d, f));
  }
  return d;
}

async function expectSameAsForward(model: Awaited<ReturnType<typeof load>>, tol = 0): Promise<void> {
  const input = x();
  const want = forward(folded.spec, folded.tensors, input, { mode: 'eval' });
  const got = await model.predict(input);
  const diff = tf.max(tf.abs(tf.sub(want, got))).dataSync()[0]!;
  // ONNX Runtime sums in another order than tfjs: equal up to float rounding (1e-4 relative).
  const scale = model.engine.name === 'tfjs' ? 0 : 1e-4 * tf.max(tf.abs(want)).dataSync()[0]!;
  tf.dispose([input, want, got]);
  expect(diff).toBeLessThanOrEqual(tol + scale);
}

describe('load', () => {
  it('loads a folded model directory and predicts exactly what core forward() computes', async () => {
    const events: ProgressInfo[] = [];
    const model = await load(dir, { onProgress: (e) => events.push(e) });
    expect(model.spec.form).toBe('folded');
    expect(model.labels).toEqual(CIFAR_LABELS);
    expect(model.backend).toBe('wasm');
    await expectSameAsForward(model);
    model.dispose();
    await expect(model.predict(tf.zeros([1, 32, 32, 3]))).rejects.toThrow(UsageError);
    expect(events.map((e) => `${e.status}:${e.file}`)).toEqual([
      'initiate:model.json',
      'progress:model.json',
      'done:model.json',
      'initiate:weights.safetensors',
      'progress:weights.safetensors',
      'done:weights.safetensors',
      'ready:diracnet-10-1',
    ]);
    expect(events.every((e) => e.name === 'diracnet-10-1' || e.file === 'model.json')).toBe(true);
  });

  it('loads from model.json path, from bytes, and prefers fp16 only when asked', async () => {
    const m1 = await load(join(dir, 'model.json'));
    await expectSameAsForward(m1);
    m1.dispose();
    const bytes = serializeModel(folded);
    const m2 = await load({ spec: bytes.spec, weights: bytes.weights });
    await expectSameAsForward(m2);
    m2.dispose();
    const events: ProgressInfo[] = [];
    const m3 = await load(dir, { dtype: 'float16', onProgress: (e) => events.push(e) });
    expect(events.some((e) => e.file === 'weights.fp16.safetensors')).toBe(true);
    await expectSameAsForward(m3, 0.05);
    m3.dispose();
  });

  it('refuses a sha256 mismatch, truncated weights and tensors that disagree with model.json', async () => {
    const d1 = await copyModelDir();
    const w = await readFile(join(d1, 'weights.safetensors'));
    w[w.length - 3] = w[w.length - 3]! ^ 0xff;
    await writeFile(join(d1, 'weights.safetensors'), w);
    const e1 = await load(d1).catch((e) => e);
    expect(e1).toBeInstanceOf(IntegrityError);
    expect(e1.reason).toBe('sha256');
    expect(e1.message).toMatch(/download or copy it again/);

    const d2 = await copyModelDir();
    await writeFile(join(d2, 'weights.safetensors'), w.subarray(0, 1000));
    const e2 = await load(d2).catch((e) => e);
    expect(e2).toBeInstanceOf(IntegrityError);
    expect(e2.reason).toBe('size');

    // Truncated bytes without a listing: the safetensors parser refuses them.
    const bytes = serializeModel(folded);
    const e3 = await load({ spec: bytes.spec, weights: bytes.weights.subarray(0, 5000) }).catch((e) => e);
    expect(e3).toBeInstanceOf(SafetensorsError);
    expect(e3.message).toMatch(/corrupt or truncated/);

    // model.json edited: the classifier has 11 outputs, the weights 10.
    const edited = structuredClone(spec);
    const fc = edited.layers.at(-1)!;
    if (fc.type === 'linear') fc.outFeatures = 11;
    const e4 = await load({ spec: { ...edited, weights: undefined }, weights: bytes.weights }).catch(
      (e) => e,
    );
    expect(e4).toBeInstanceOf(ShapeError);
    expect(e4.message).toMatch(/different models/);

    // Bytes that match none of the files listed in spec.weights.
    const e5 = await load({ spec, weights: bytes.weights.slice(0, -1) }).catch((e) => e);
    expect(e5).toBeInstanceOf(IntegrityError);
  });

  it('refuses a training-form model and says to run dirac fold', async () => {
    const training = makeModel('diracnet-10-1', { training: true });
    const { dir: d } = await saveTempModel(training);
    dirs.push(d);
    const e = await load(d).catch((err) => err);
    expect(e).toBeInstanceOf(TrainingFormError);
    expect(e.message).toMatch(/dirac fold/);
    const bytes = serializeModel(training);
    await expect(load(bytes)).rejects.toBeInstanceOf(TrainingFormError);
    // A spec that claims to be folded but holds training layers is refused too.
    const liar = { ...bytes.spec, form: 'folded' as const };
    await expect(load({ spec: liar, weights: bytes.weights })).rejects.toBeInstanceOf(TrainingFormError);
    disposeModel(training);
  });

  it('reports unknown sources and unreadable directories with typed errors', async () => {
    await expect(
      load('no-such-model-anywhere', { zooIndex: { entries: [] }, zooBase: dir }),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(load('no-such/model', { zooIndex: false })).rejects.toThrow(
      /^'no-such\/model' is neither a model directory, an http\(s\) URL, nor a name in the zoo index$/,
    );
    const empty = await tempDir();
    dirs.push(empty);
    await expect(load(empty)).rejects.toBeInstanceOf(DataError);
  });

  it('looks zoo names up in an index (path or object) and checks the listed hashes', async () => {
    const zoo = await tempDir('dirac-zoo-');
    dirs.push(zoo);
    await mkdir(join(zoo, 'cifar10'), { recursive: true });
    const entryDir = join(zoo, 'cifar10', 'diracnet-10-1');
    await mkdir(entryDir);
    for (const f of ['model.json', 'weights.safetensors']) await copyFile(join(dir, f), join(entryDir, f));
    const w = spec.weights!.find((f) => f.dtype === 'float32')!;
    const index = { entries: [{ name: 'test/diracnet-10-1', path: 'cifar10/diracnet-10-1', files: [w] }] };
    await writeFile(join(zoo, 'index.json'), JSON.stringify(index));
    const m = await load('test/diracnet-10-1', { zooIndex: join(zoo, 'index.json') });
    await expectSameAsForward(m);
    m.dispose();
    const m2 = await load('test/diracnet-10-1', { zooIndex: index, zooBase: zoo });
    m2.dispose();
    const bad = { entries: [{ ...index.entries[0]!, files: [{ ...w, sha256: '0'.repeat(64) }] }] };
    await expect(load('test/diracnet-10-1', { zooIndex: bad, zooBase: zoo })).rejects.toBeInstanceOf(
      IntegrityError,
    );
  });
});

describe('load from a URL', () => {
  it('downloads with progress, caches, re-verifies the cache, and works offline', async () => {
    const root = await tempDir('dirac-www-');
    dirs.push(root);
    const cacheDir = await tempDir('dirac-cache-');
    dirs.push(cacheDir);
    await mkdir(join(root, 'models', 'c10'), { recursive: true });
    for (const f of ['model.json', 'weights.safetensors']) {
      await copyFile(join(dir, f), join(root, 'models', 'c10', f));
    }
    const srv = await serveDir(root);
    const url = `${srv.url}/models/c10/`;
    try {
      const events: ProgressInfo[] = [];
      const m = await load(url, { cacheDir, onProgress: (e) => events.push(e) });
      await expectSameAsForward(m);
      m.dispose();
      const statuses = events.filter((e) => e.file === 'weights.safetensors').map((e) => e.status);
      expect(statuses[0]).toBe('initiate');
      expect(statuses[1]).toBe('download');
      expect(statuses).toContain('progress');
      expect(statuses.at(-1)).toBe('done');
      const last = events.filter((e) => e.status === 'progress' && e.file === 'weights.safetensors').at(-1)!;
      expect(last.loaded).toBe(last.total);
      expect(last.progress).toBe(100);
      expect(events.at(-1)?.status).toBe('ready');
      expect(srv.requests.get('/models/c10/weights.safetensors')).toBe(1);

      // Cache hit: the weights are not downloaded again (model.json is revalidated).
      const events2: ProgressInfo[] = [];
      const m2 = await load(`${url}model.json`, { cacheDir, onProgress: (e) => events2.push(e) });
      m2.dispose();
      expect(srv.requests.get('/models/c10/weights.safetensors')).toBe(1);
      expect(events2.some((e) => e.status === 'download' && e.file === 'weights.safetensors')).toBe(false);

      // A corrupted cached copy is detected by its sha256 and downloaded again.
      const cached = cachePathFor(cacheDir, `${url}weights.safetensors`);
      const bytes = await readFile(cached);
      bytes[100] = bytes[100]! ^ 1;
      await writeFile(cached, bytes);
      const m3 = await load(url, { cacheDir });
      m3.dispose();
      expect(srv.requests.get('/models/c10/weights.safetensors')).toBe(2);
    } finally {
      await srv.close();
    }
    // Server gone: model.json falls back to the cache, the weights come from it.
    const m4 = await load(url, { cacheDir });
    await expectSameAsForward(m4);
    m4.dispose();
    const m5 = await load(url, { cacheDir, offline: true });
    m5.dispose();
    const otherCache = await tempDir('dirac-cache-');
    dirs.push(otherCache);
    await expect(load(url, { cacheDir: otherCache })).rejects.toBeInstanceOf(DownloadError);
    await expect(load(url, { cacheDir: otherCache, offline: true })).rejects.toThrow(/offline/);
  });

  it('looks zoo names up in an index served over HTTP', async () => {
    const root = await tempDir('dirac-www-');
    dirs.push(root);
    await mkdir(join(root, 'zoo', 'c10'), { recursive: true });
    for (const f of ['model.json', 'weights.safetensors'])
      await copyFile(join(dir, f), join(root, 'zoo', 'c10', f));
    const index = { entries: [{ name: 'c10/diracnet-10-1', path: 'c10', files: spec.weights }] };
    await writeFile(join(root, 'zoo', 'index.json'), JSON.stringify(index));
    const srv = await serveDir(root);
    const cacheDir = await tempDir('dirac-cache-');
    dirs.push(cacheDir);
    try {
      const m = await load('c10/diracnet-10-1', { zooIndex: `${srv.url}/zoo/index.json`, cacheDir });
      await expectSameAsForward(m);
      m.dispose();
      expect(srv.requests.get('/zoo/c10/weights.safetensors')).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('reports HTTP errors and a server that sends a truncated file', async () => {
    const root = await tempDir('dirac-www-');
    dirs.push(root);
    for (const f of ['model.json', 'weights.safetensors']) await copyFile(join(dir, f), join(root, f));
    const w = await readFile(join(root, 'weights.safetensors'));
    await writeFile(join(root, 'weights.safetensors'), w.subarray(0, w.length - 10));
    const srv = await serveDir(root);
    const cacheDir = await tempDir('dirac-cache-');
    dirs.push(cacheDir);
    try {
      const e = await load(`${srv.url}/nothing-here/`, { cacheDir }).catch((err) => err);
      expect(e).toBeInstanceOf(DownloadError);
      expect(e.status).toBe(404);
      await expect(load(`${srv.url}/`, { cacheDir })).rejects.toBeInstanceOf(IntegrityError);
    } finally {
      await srv.close();
    }
  });
});

describe('cache directory', () => {
  it('follows the platform conventions and the environment', () => {
    expect(defaultCacheDir({}, 'linux', '/home/u')).toBe('/home/u/.cache/dirac');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' }, 'linux', '/home/u')).toBe('/xdg/dirac');
    expect(defaultCacheDir({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Caches/dirac');
    expect(defaultCacheDir({ LOCALAPPDATA: 'C:/Users/u/AppData/Local' }, 'win32', 'C:/Users/u')).toMatch(
      /AppData[\\/]Local[\\/]dirac$/,
    );
    expect(defaultCacheDir({ DIRAC_CACHE_DIR: '/tmp/x', XDG_CACHE_HOME: '/xdg' }, 'linux', '/h')).toBe(
      '/tmp/x',
    );
  });

  it('never caches inside node_modules and keeps URL paths inside the cache', () => {
    expect(() => fileCache('/app/node_modules/@dirac/infer/.cache')).toThrow(UsageError);
    const p = cachePathFor('/c', 'http://127.0.0.1:8080/a/../b/%2E%2E/we ird.json');
    expect(p.startsWith('/c/models/')).toBe(true);
    expect(p).not.toMatch(/\.\.\//);
  });
});
