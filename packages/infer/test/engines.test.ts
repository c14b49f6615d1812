/**
 * The engine choice: tfjs and onnxruntime (onnxruntime-node here) give the same answers through the same
 * API for every model source; 'auto' picks onnxruntime-node when it imports and falls back to tfjs with a
 * reason; tensors do not leak and the ONNX Runtime session is released on dispose().
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { disposeModel, type ModelSpec, useBackend } from '@dirac/core';
import {
  BackendError,
  type DiracClassifier,
  load,
  type NodeImageInput,
  type OnnxruntimeModule,
  UsageError,
} from '@dirac/infer/node';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR_LABELS, makeModel, removeDir, saveTempModel, serveDir, syntheticRgb } from './helpers';

const dirs: string[] = [];
let cifarDir: string;
let imagenetDir: string;
const images = [0, 1, 2, 3].map((s) => ({ data: syntheticRgb(32, 32, s + 20), width: 32, height: 32 }));

beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  const c = makeModel('diracnet-10-1', { labels: CIFAR_LABELS, seed: 3, logitScale: 20 });
  cifarDir = (await saveTempModel(c)).dir;
  disposeModel(c);
  const i = makeModel('diracnet-18', { width: 0.0625, seed: 4 });
  imagenetDir = (await saveTempModel(i)).dir;
  disposeModel(i);
  dirs.push(cifarDir, imagenetDir);
});

afterAll(async () => {
  await Promise.all(dirs.map(removeDir));
});

/** A copy of a model directory with another model.json. */
async function copyModelDir(dir: string, spec: ModelSpec): Promise<string> {
  const { cp, writeFile, mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const out = await mkdtemp(join(tmpdir(), 'dirac-int8-'));
  await cp(dir, out, { recursive: true });
  await writeFile(join(out, 'model.json'), JSON.stringify(spec));
  return out;
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - want[i]!));
    m = Math.max(m, Math.abs(want[i]!));
  }
  return d / m;
}

async function logits(
  model: DiracClassifier<NodeImageInput>,
  input: NodeImageInput[],
): Promise<Float32Array> {
  const y = await model.infer(input);
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}

/** An onnxruntime-node wrapper that counts sessions created and released. */
function countingOrt() {
  const counts = { created: 0, released: 0 };
  const module: OnnxruntimeModule = {
    Tensor: ort.Tensor as unknown as OnnxruntimeModule['Tensor'],
    InferenceSession: {
      async create(bytes: Uint8Array, options?: unknown) {
        const s = await ort.InferenceSession.create(bytes, options as ort.InferenceSession.SessionOptions);
        counts.created++;
        return {
          inputNames: s.inputNames,
          outputNames: s.outputNames,
          run: (feeds) => s.run(feeds as unknown as ort.InferenceSession.FeedsType),
          async release() {
            counts.released++;
            await s.release();
          },
        };
      },
    },
  };
  return { module, counts };
}

describe('engines', () => {
  it.each([
    ['CIFAR DiracNet-10-1', () => cifarDir, 32],
    ['ImageNet DiracNet-18 (width 1/16)', () => imagenetDir, 80],
  ])('%s: same logits (1e-4 relative) and answers on tfjs and onnxruntime', async (_, dir, size) => {
    const input = [0, 1, 2].map((s) => ({
      data: syntheticRgb(size, size, s + 5),
      width: size,
      height: size,
    }));
    const tfjs = await load(dir(), { engine: 'tfjs' });
    const onnx = await load(dir(), { engine: 'onnxruntime' });
    expect(tfjs.engine).toMatchObject({ name: 'tfjs', backend: 'wasm' });
    expect(onnx.engine).toMatchObject({ name: 'onnxruntime', backend: 'cpu' });
    expect(onnx.engine.reason).toMatch(/asked for engine 'onnxruntime'/);
    expect(onnx.backend).toBe('wasm'); // tfjs still preprocesses
    const a = await logits(tfjs, input);
    const b = await logits(onnx, input);
    expect(b.length).toBe(a.length);
    expect(maxRel(b, a)).toBeLessThan(1e-4);
    const ca = await tfjs.classify(input, { topk: 3 });
    const cb = await onnx.classify(input, { topk: 3 });
    expect(cb.map((r) => r.map((p) => p.index))).toEqual(ca.map((r) => r.map((p) => p.index)));
    const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 1);
    const pa = await tfjs.predict(x);
    const pb = await onnx.predict(x);
    expect(maxRel(pb.dataSync(), pa.dataSync())).toBeLessThan(1e-4);
    tf.dispose([x, pa, pb]);
    await tfjs.dispose();
    await onnx.dispose();
  });

  it("'auto' takes onnxruntime-node in Node, and says why", async () => {
    const m = await load(cifarDir);
    expect(m.engine.name).toBe('onnxruntime');
    expect(m.engine.reason).toMatch(/'auto': onnxruntime-node is available/);
    await m.dispose();
  });

  it("'auto' falls back to tfjs when ONNX Runtime cannot be imported; 'onnxruntime' then fails", async () => {
    const missing = () => Promise.reject(new Error("Cannot find package 'onnxruntime-node'"));
    const m = await load(cifarDir, { onnxruntime: missing });
    expect(m.engine.name).toBe('tfjs');
    expect(m.engine.rejected).toEqual([
      {
        name: 'onnxruntime',
        why: expect.stringMatching(/onnxruntime-node cannot be imported.*optional peer/),
      },
    ]);
    expect((await m.classify(images[0]!)).length).toBe(5);
    await m.dispose();
    await expect(load(cifarDir, { engine: 'onnxruntime', onnxruntime: missing })).rejects.toBeInstanceOf(
      BackendError,
    );
    await expect(
      load(cifarDir, { engine: 'onnxruntime', onnxruntime: async () => ({}) as OnnxruntimeModule }),
    ).rejects.toThrow(/not ONNX Runtime/);
    await expect(load(cifarDir, { engine: 'gpu' as 'tfjs' })).rejects.toBeInstanceOf(UsageError);
  });

  it('every model source works on onnxruntime: directory, bytes, URL, zoo name', async () => {
    const spec = JSON.parse(await readFile(join(cifarDir, 'model.json'), 'utf8')) as ModelSpec;
    const weights = new Uint8Array(await readFile(join(cifarDir, 'weights.safetensors')));
    const srv = await serveDir(cifarDir);
    const zooIndex = { entries: [{ name: 'test/diracnet-10-1', path: '.' }] };
    try {
      const want = await logits(await load(cifarDir, { engine: 'tfjs' }), images);
      const sources: [string, Parameters<typeof load>[0], Parameters<typeof load>[1]][] = [
        ['directory', cifarDir, {}],
        ['bytes', { spec, weights }, {}],
        ['URL', `${srv.url}/`, { cacheDir: join(cifarDir, '.cache') }],
        ['zoo name', 'test/diracnet-10-1', { zooIndex, zooBase: cifarDir }],
      ];
      for (const [what, source, options] of sources) {
        const m = await load(source, { ...options, engine: 'onnxruntime' });
        expect(m.engine.name, what).toBe('onnxruntime');
        expect(maxRel(await logits(m, images), want), what).toBeLessThan(1e-4);
        await m.dispose();
      }
    } finally {
      await srv.close();
    }
  });

  it('onnxruntime: tf.memory() stays flat over repeated classify calls and dispose releases the session', async () => {
    const before = tf.memory().numTensors;
    const { module, counts } = countingOrt();
    const m = await load(cifarDir, { engine: 'onnxruntime', onnxruntime: module });
    expect(counts.created).toBe(1);
    // The ONNX Runtime engine keeps no tfjs tensors: the weights live in the session.
    expect(tf.memory().numTensors).toBe(before);
    const t = tf.tensor3d(Array.from(images[1]!.data), [32, 32, 3], 'int32');
    const zeros = tf.zeros([1, 32, 32, 3]);
    await m.classify(images[0]!);
    const steady = tf.memory().numTensors;
    for (let i = 0; i < 300; i++) {
      await m.classify(i % 2 ? t : images[i % 4]!);
      if (i % 50 === 0) await m.classify(images);
      if (i % 100 === 0) (await m.predict(zeros)).dispose();
    }
    expect(tf.memory().numTensors).toBe(steady);
    tf.dispose([t, zeros]);
    await m.dispose();
    expect(counts.released).toBe(1);
    await m.dispose(); // twice is harmless
    expect(counts.released).toBe(1);
    await expect(m.classify(images[0]!)).rejects.toBeInstanceOf(UsageError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tfjs: dispose frees every tensor of the model', async () => {
    const before = tf.memory().numTensors;
    const m = await load(cifarDir, { engine: 'tfjs' });
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    for (let i = 0; i < 50; i++) await m.classify(images[i % 4]!);
    await m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("dtype 'int8' runs the int8 (QDQ) network on ONNX Runtime from the ranges in model.json", async () => {
    // Without ranges in model.json: a clear error.
    await expect(load(cifarDir, { dtype: 'int8' })).rejects.toThrow(/no int8 activation ranges/);
    // Ranges calibrated on a few images, stored as `dirac zoo add` stores them.
    const { calibrateActivations } = await import('@dirac/core/onnx');
    const { loadModelDir } = await import('@dirac/core/node');
    const model = await loadModelDir(cifarDir);
    const batch = tf.tensor4d(
      Float32Array.from({ length: 16 * 32 * 32 * 3 }, (_, i) => Math.sin(i * 0.37) * 2),
      [16, 32, 32, 3],
    );
    const table = await calibrateActivations(model, [batch]);
    batch.dispose();
    const spec = JSON.parse(await readFile(join(cifarDir, 'model.json'), 'utf8')) as ModelSpec;
    const int8Dir = await copyModelDir(cifarDir, {
      ...spec,
      metadata: { ...spec.metadata, quantization: { int8: table } },
    });
    dirs.push(int8Dir);
    disposeModel(model);

    await expect(load(int8Dir, { dtype: 'int8', engine: 'tfjs' })).rejects.toThrow(UsageError);
    const q = await load(int8Dir, { dtype: 'int8' });
    const f = await load(int8Dir, { engine: 'onnxruntime' });
    try {
      expect(q.engine.name).toBe('onnxruntime');
      expect(q.engine.reason).toMatch(/int8/);
      const [a, b] = [await logits(q, images), await logits(f, images)];
      expect(maxRel(a, b)).toBeGreaterThan(0); // really quantized
      expect(maxRel(a, b)).toBeLessThan(0.2);
    } finally {
      await Promise.all([q.dispose(), f.dispose()]);
    }
  });
});
