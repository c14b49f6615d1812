import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { disposeModel, resizeBilinearOpenCV, roundHalfEven, useBackend } from '@dirac/core';
import {
  DataError,
  type DiracClassifier,
  ImageError,
  load,
  type NodeImageInput,
  type Prediction,
  preprocessInto,
  ShapeError,
  topK,
  UsageError,
} from '@dirac/infer/node';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR_LABELS, encode, makeModel, removeDir, saveTempModel, syntheticRgb, tempDir } from './helpers';

let cifar: DiracClassifier<NodeImageInput>;
let imagenet: DiracClassifier<NodeImageInput>;
let work: string;
const dirs: string[] = [];
const rgb32 = syntheticRgb(32, 32, 3);

beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  work = await tempDir();
  dirs.push(work);
  const c = makeModel('diracnet-10-1', { labels: CIFAR_LABELS });
  const saved = await saveTempModel(c);
  disposeModel(c);
  dirs.push(saved.dir);
  cifar = await load(saved.dir);
  const i = makeModel('diracnet-18', { width: 0.0625 });
  const savedI = await saveTempModel(i);
  disposeModel(i);
  dirs.push(savedI.dir);
  imagenet = await load(savedI.dir);
});

afterAll(async () => {
  cifar.dispose();
  imagenet.dispose();
  await Promise.all(dirs.map(removeDir));
});

const top1 = (p: Prediction[]) => p[0]!.index;

describe('classify (Node inputs)', () => {
  it('gives the same answer for every kind of input of the same pixels', async () => {
    const png = await encode(rgb32, 32, 32, 'png');
    const pngPath = join(work, 'a.png');
    await writeFile(pngPath, png);
    const rgba = new Uint8ClampedArray(32 * 32 * 4);
    for (let p = 0; p < 32 * 32; p++) {
      rgba.set(rgb32.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
    const want = await cifar.classify({ data: rgb32, width: 32, height: 32 });
    expect(want).toHaveLength(5);
    expect(want[0]!.label).toBe(CIFAR_LABELS[want[0]!.index]);
    const sum = (await cifar.classify({ data: rgb32, width: 32, height: 32 }, { topk: 10 })).reduce(
      (s, p) => s + p.probability,
      0,
    );
    expect(sum).toBeCloseTo(1, 5);
    const hwcInt = tf.tensor3d(Array.from(rgb32), [32, 32, 3], 'int32');
    const hwcFloat = tf.tensor3d(Float32Array.from(rgb32), [32, 32, 3], 'float32');
    const inputs: [string, NodeImageInput][] = [
      ['png path', pngPath],
      ['png buffer', png],
      ['rgba', { data: rgba, width: 32, height: 32 }],
      ['int32 tensor', hwcInt],
      ['float tensor', hwcFloat],
    ];
    for (const [what, input] of inputs) {
      const got = await cifar.classify(input);
      expect(got, what).toEqual(want);
    }
    tf.dispose([hwcInt, hwcFloat]);
    // JPEG is lossy: same top-1 on this image, probabilities close.
    const jpg = await encode(rgb32, 32, 32, 'jpeg');
    const jpgPath = join(work, 'a.jpg');
    await writeFile(jpgPath, jpg);
    expect(top1(await cifar.classify(jpgPath))).toBe(top1(want));
  });

  it('reads greyscale and CMYK images as RGB', async () => {
    const grey = new Uint8Array(32 * 32).map((_, i) => (i * 7) % 256);
    const greyPng = await sharp(Buffer.from(grey), { raw: { width: 32, height: 32, channels: 1 } })
      .png()
      .toBuffer();
    const a = await cifar.classify(greyPng);
    const b = await cifar.classify({ data: grey, width: 32, height: 32, channels: 1 });
    expect(a).toEqual(b);
    const cmyk = await sharp(Buffer.from(rgb32), { raw: { width: 32, height: 32, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const c = await cifar.classify(cmyk);
    expect(c).toHaveLength(5);
  });

  it('classifies batches: arrays and rank-4 tensors give one answer per image', async () => {
    const imgs = [1, 2, 3].map((s) => ({ data: syntheticRgb(32, 32, s), width: 32, height: 32 }));
    const batch = await cifar.classify(imgs, { topk: 3 });
    expect(batch).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      const one = await cifar.classify(imgs[i]!, { topk: 3 });
      expect(batch[i]!.map((p) => p.index)).toEqual(one.map((p) => p.index));
      for (const [j, p] of batch[i]!.entries()) expect(p.probability).toBeCloseTo(one[j]!.probability, 5);
    }
    const t = tf.tensor4d(
      imgs.flatMap((im) => Array.from(im.data)),
      [3, 32, 32, 3],
      'int32',
    );
    const fromTensor = await cifar.classify(t, { topk: 3 });
    t.dispose();
    expect(fromTensor.map((r) => r.map((p) => p.index))).toEqual(batch.map((r) => r.map((p) => p.index)));
    const logits = await cifar.infer(imgs);
    expect(logits.shape).toEqual([3, 10]);
    logits.dispose();
    const single = await cifar.infer(imgs[0]!);
    expect(single.shape).toEqual([1, 10]);
    single.dispose();
  });

  it('resizes other sizes for CIFAR models', async () => {
    const big = syntheticRgb(64, 48, 5);
    const got = await cifar.classify({ data: big, width: 64, height: 48 });
    const small = resizeBilinearOpenCV(big, 64, 48, 3, 32, 32);
    expect(got).toEqual(await cifar.classify({ data: small, width: 32, height: 32 }));
  });

  it('follows ImageNet preprocessing exactly (OpenCV resize 256, centre crop 224, normalize)', async () => {
    for (const [w, h] of [
      [300, 257],
      [257, 401],
      [256, 256],
    ] as const) {
      const img = syntheticRgb(w, h, w);
      const p = imagenet.preprocessing!;
      const out = new Float32Array(224 * 224 * 3);
      preprocessInto({ data: img, width: w, height: h }, p, out);
      // Reference: resize the whole image, crop as torchvision's CenterCrop, normalize.
      const rw = w <= h ? 256 : Math.trunc((256 * w) / h);
      const rh = w <= h ? Math.trunc((256 * h) / w) : 256;
      const full = resizeBilinearOpenCV(img, w, h, 3, rw, rh);
      const top = roundHalfEven((rh - 224) / 2);
      const left = roundHalfEven((rw - 224) / 2);
      let maxDiff = 0;
      for (let y = 0; y < 224; y++) {
        for (let x = 0; x < 224; x++) {
          for (let c = 0; c < 3; c++) {
            const v = full[((y + top) * rw + x + left) * 3 + c]! / 255;
            const ref = (v - p.mean[c]!) / p.std[c]!;
            maxDiff = Math.max(maxDiff, Math.abs(ref - out[(y * 224 + x) * 3 + c]!));
          }
        }
      }
      expect(maxDiff, `${w}x${h}`).toBeLessThan(1e-5);
    }
    const jpg = await encode(syntheticRgb(320, 240, 9), 320, 240, 'jpeg');
    const res = await imagenet.classify(jpg, { topk: 1000 });
    expect(res).toHaveLength(1000);
  });

  it('predict() checks its input and accepts one image', async () => {
    await expect(cifar.predict(tf.zeros([1, 32, 32, 4]))).rejects.toThrow(ShapeError);
    const y = await cifar.predict(tf.zeros([32, 32, 3]));
    expect(y.shape).toEqual([1, 10]);
    y.dispose();
  });

  it('refuses zero-size and unsupported images with typed errors', async () => {
    const cases: [unknown, string][] = [
      [{ data: new Uint8Array(0), width: 0, height: 0 }, 'zero-size'],
      [{ data: new Uint8Array(0), width: 10, height: 0 }, 'zero-size'],
      [tf.zeros([0, 5, 3], 'int32'), 'zero-size'],
      [Buffer.alloc(0), 'zero-size'],
      [{ data: new Uint8Array(10), width: 2, height: 2 }, 'unsupported'],
      [tf.zeros([4, 4], 'int32'), 'unsupported'],
      [Buffer.from('GIF89a? no, just text pretending to be an image'), 'corrupt'],
      [Buffer.from('not an image at all, not even close'), 'unsupported'],
      [42, 'unsupported'],
    ];
    for (const [input, reason] of cases) {
      const e = await cifar.classify(input as NodeImageInput).catch((err) => err);
      expect(e, String(reason)).toBeInstanceOf(ImageError);
      expect(e.reason).toBe(reason);
    }
    const png = await encode(rgb32, 32, 32, 'png');
    const e = await cifar.classify(png.subarray(0, 60)).catch((err) => err);
    expect(e).toBeInstanceOf(ImageError);
    expect(['corrupt', 'unsupported']).toContain(e.reason);
    await expect(cifar.classify(join(work, 'missing.png'))).rejects.toBeInstanceOf(DataError);
    await expect(cifar.classify([])).rejects.toBeInstanceOf(UsageError);
    await expect(cifar.classify(rgb32 as unknown as NodeImageInput, { topk: 0 })).rejects.toBeInstanceOf(
      UsageError,
    );
  });

  it('topK is a stable softmax', () => {
    const r = topK([1000, 1000, -1000], 2, ['a', 'b', 'c']);
    expect(r.map((p) => p.label)).toEqual(['a', 'b']);
    expect(r[0]!.probability).toBeCloseTo(0.5, 12);
  });

  it('keeps tf.memory().numTensors flat across 1,000 classify calls', async () => {
    const inputs: NodeImageInput[] = [
      { data: rgb32, width: 32, height: 32 },
      tf.tensor3d(Array.from(rgb32), [32, 32, 3], 'int32'),
    ];
    await cifar.classify(inputs[0]!);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      await cifar.classify(inputs[i % 2]!);
      if (i % 100 === 0) await cifar.classify([inputs[0]!, inputs[1]!]);
    }
    expect(tf.memory().numTensors).toBe(before);
    (inputs[1] as tf.Tensor).dispose();
  });
});
