import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '@dirac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { augmentCifarBatch } from './augment';
import { loadCifar } from './cifar';
import { ImageFolder } from './image-folder';
import { normalizeBatch } from './normalize';
import { type Batch, BatchLoader, type InMemorySource } from './prefetch';
import { Rng } from './rng';
import { NO_SHARED_DATA, sameBytes, sharedDataDir } from './test-helpers';

/** A small synthetic CIFAR-like split (not on a SharedArrayBuffer, to exercise the one-time copy). */
function synthetic(n: number): InMemorySource {
  const images = new Uint8Array(n * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
  return {
    images,
    labels: Uint8Array.from({ length: n }, (_, i) => i % 10),
    n,
    height: 32,
    width: 32,
    channels: 3,
  };
}

async function all(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

function sameBatch(a: Batch, b: Batch): boolean {
  return (
    a.n === b.n &&
    a.step === b.step &&
    a.epoch === b.epoch &&
    sameBytes(a.indices, b.indices) &&
    sameBytes(a.y, b.y) &&
    sameBytes(a.x, b.x)
  );
}

const loaders: BatchLoader[] = [];
function make(...args: ConstructorParameters<typeof BatchLoader>): BatchLoader {
  const l = new BatchLoader(...args);
  loaders.push(l);
  return l;
}
afterAll(async () => {
  for (const l of loaders) await l.close();
});

describe('BatchLoader on an in-memory split', () => {
  const src = synthetic(1000);
  const opts = { batchSize: 64, augment: true, seed: 123, normalize: 'cifar' as const };

  it('covers every sample once per epoch, shuffled differently per epoch, with matching labels', async () => {
    const l = make(src, opts);
    expect(l.stepsPerEpoch).toBe(16);
    const e0 = await all(l.epochBatches(0));
    expect(e0.map((b) => b.n)).toEqual([...new Array(15).fill(64), 1000 - 15 * 64]);
    const seen = e0.flatMap((b) => Array.from(b.indices));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    for (const b of e0) {
      expect(b.shape).toEqual([b.n, 32, 32, 3]);
      expect(b.x.length).toBe(b.n * 3072);
      b.indices.forEach((idx, k) => {
        expect(b.y[k]).toBe(src.labels[idx]);
      });
    }
    const e1 = await all(l.epochBatches(1));
    expect(Array.from(e1[0]!.indices)).not.toEqual(Array.from(e0[0]!.indices));
    expect(l.getState()).toEqual({ seed: 123, epoch: 1, step: 16 });
  });

  it('produces the same batches with and without the worker thread (= augment + normalize)', async () => {
    const withWorker = await all(make(src, opts).epochBatches(2));
    const inThread = await all(make(src, { ...opts, worker: false }).epochBatches(2));
    expect(withWorker.length).toBe(inThread.length);
    withWorker.forEach((b, i) => {
      expect(sameBatch(b, inThread[i]!)).toBe(true);
    });
    // ...and equal to the public augmentation + normalisation with the documented RNG derivation.
    const b = withWorker[3]!;
    const aug = augmentCifarBatch(src.images, b.indices, Rng.derive(123, 2, 2, 3));
    expect(sameBytes(normalizeBatch(aug, 'cifar'), b.x)).toBe(true);
  });

  it('worker and main thread agree for every augmentation setting and channel count', async () => {
    const grey: InMemorySource = { ...synthetic(300), channels: 1, height: 96, width: 32 };
    const cases = [
      { src, o: { augmentOptions: { padMode: 'symmetric' as const } } },
      { src, o: { augmentOptions: { pad: 0, flip: false } } },
      { src, o: { augmentOptions: { pad: 2, flip: false } } },
      { src, o: { augment: false } },
      { src: grey, o: { normalize: { mean: [0.5], std: [0.25] } } },
      { src: grey, o: { normalize: { mean: [0.5], std: [0.25] }, augment: false } },
    ];
    for (const { src: s, o } of cases) {
      const w = make(s, { ...opts, ...o });
      const t = make(s, { ...opts, ...o, worker: false });
      for (const step of [0, 2]) expect(sameBatch(await w.batch(1, step), await t.batch(1, step))).toBe(true);
    }
  });

  it('resumes mid-epoch with exactly the same batches, from a fresh loader', async () => {
    const full = await all(make(src, opts).epochBatches(5));
    const fresh = make(src, opts);
    const resumed = await all(fresh.epochBatches(5, 9));
    expect(resumed.map((b) => b.step)).toEqual([9, 10, 11, 12, 13, 14, 15]);
    resumed.forEach((b, i) => {
      expect(sameBatch(b, full[9 + i]!)).toBe(true);
    });
    expect(sameBatch(await fresh.batch(5, 4), full[4]!)).toBe(true);
  });

  it('tracks its position while iterating and survives breaking out early', async () => {
    const l = make(src, opts);
    let k = 0;
    for await (const b of l.epochBatches(0)) {
      expect(b.step).toBe(k);
      expect(l.getState()).toEqual({ seed: 123, epoch: 0, step: k + 1 });
      if (++k === 3) break;
    }
    const next = await all(l.epochBatches(0, l.getState().step));
    expect(next[0]!.step).toBe(3);
  });

  it('supports limit (first N samples), dropLast and unshuffled evaluation order', async () => {
    const l = make(src, { ...opts, limit: 130, dropLast: true });
    expect(l.size).toBe(130);
    expect(l.stepsPerEpoch).toBe(2);
    const b = await all(l.epochBatches(0));
    expect(b.length).toBe(2);
    for (const x of b) for (const i of x.indices) expect(i).toBeLessThan(130);
    const ev = make(src, { batchSize: 300, augment: false, shuffle: false, seed: 0, normalize: 'cifar' });
    const eb = await all(ev.epochBatches(0));
    expect(eb.map((x) => x.n)).toEqual([300, 300, 300, 100]);
    expect(Array.from(eb[1]!.indices.subarray(0, 3))).toEqual([300, 301, 302]);
    expect(sameBytes(eb[0]!.x, normalizeBatch(src.images.subarray(0, 300 * 3072), 'cifar'))).toBe(true);
  });

  it('rejects bad options and use after close', async () => {
    expect(() => make(src, { ...opts, batchSize: 0 })).toThrow(UsageError);
    expect(() => make(src, { ...opts, limit: -1 })).toThrow(UsageError);
    expect(() => make(src, { ...opts, normalize: 'mnist' as 'cifar' })).toThrow(UsageError);
    const l = make(src, opts);
    await expect(all(l.epochBatches(0, 17))).rejects.toThrow(UsageError);
    await l.close();
    await expect(all(l.epochBatches(0))).rejects.toThrow(/closed/);
  });
});

const shared = sharedDataDir();

describe.skipIf(!shared)(`BatchLoader on real data (${shared ?? NO_SHARED_DATA})`, () => {
  it('feeds CIFAR-10 batches of 128 with negligible main-thread cost', async () => {
    const train = await loadCifar(join(shared!, 'cifar-10-binary.tar.gz'), { split: 'train', limit: 10_000 });
    const l = make(train, { batchSize: 128, augment: true, seed: 1, normalize: 'cifar' });
    // Warm up (worker start), then simulate a 20 ms synchronous training step per batch.
    let k = 0;
    for await (const _ of l.epochBatches(0)) if (++k === 5) break;
    let waited = 0;
    let steps = 0;
    const it = l.epochBatches(1)[Symbol.asyncIterator]();
    for (;;) {
      const t0 = performance.now();
      const r = await it.next();
      waited += performance.now() - t0;
      if (r.done) break;
      steps++;
      const end = performance.now() + 20;
      while (performance.now() < end) {
        /* busy "training step" */
      }
    }
    console.log(
      `CIFAR batches of 128 via worker: main thread waits ${(waited / steps).toFixed(3)} ms per batch (${steps} batches)`,
    );
    expect(steps).toBe(l.stepsPerEpoch);
    const mean = [0, 0, 0];
    const b = await l.batch(0, 0);
    for (let i = 0; i < b.x.length; i++) mean[i % 3]! += b.x[i]!;
    for (const m of mean) expect(Math.abs(m / (b.x.length / 3))).toBeLessThan(0.3); // roughly zero-centred
  });

  it('feeds ImageNet-style batches from an ImageFolder (augmented and eval)', async () => {
    const dir = join(shared!, 'imagenet-samples-100');
    const entries = JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')).images as {
      file: string;
      class_index: number;
    }[];
    const ds = ImageFolder.fromSamples(
      entries.map((e) => ({ path: join(dir, e.file), label: e.class_index })),
      Array.from({ length: 1000 }, (_, i) => `c${i}`),
    );
    const l = make(ds, { batchSize: 16, augment: true, seed: 4, normalize: 'imagenet', limit: 40 });
    const batches = await all(l.epochBatches(0));
    expect(batches.map((b) => b.n)).toEqual([16, 16, 8]);
    expect(batches[0]!.shape).toEqual([16, 224, 224, 3]);
    const again = await make(ds, {
      batchSize: 16,
      augment: true,
      seed: 4,
      normalize: 'imagenet',
      limit: 40,
    }).batch(0, 1);
    expect(sameBatch(again, batches[1]!)).toBe(true);
    const ev = await make(ds, {
      batchSize: 8,
      augment: false,
      shuffle: false,
      seed: 0,
      normalize: 'imagenet',
    }).batch(0, 0);
    expect(Array.from(ev.y)).toEqual(entries.slice(0, 8).map((e) => e.class_index));
  });
});
