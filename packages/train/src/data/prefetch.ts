/**
 * Batch iteration for training and evaluation: per-epoch shuffling, augmentation, normalisation to float32
 * NHWC, and prefetching (a worker thread for in-memory datasets such as CIFAR), all reproducible from a seed.
 *
 * Determinism: the sample order of epoch `e` comes from `Rng.derive(seed, 1, e)` and the augmentation of
 * batch `s` of epoch `e` from `Rng.derive(seed, 2, e, s)`. A batch therefore depends only on
 * `(seed, epoch, step)`: not on prefetch depth, on whether a worker is used, or on earlier batches having
 * been produced. Resuming mid-epoch is `epochBatches(epoch, step)`.
 */
import { Worker } from 'node:worker_threads';
import { DataError, UsageError } from '@dirac/core';
import { type CifarAugmentOptions, cifarAugmentKernel, gatherKernel } from './augment';
import {
  type NormalizeName,
  type NormalizeStats,
  normalizeKernel,
  normalizeLut,
  normalizeStats,
} from './normalize';
import { Rng } from './rng';

/** A dataset held in memory as one uint8 NHWC array (e.g. a {@link CifarSplit}). */
export interface InMemorySource {
  /** `n * height * width * channels` bytes, HWC per image. */
  images: Uint8Array;
  labels: ArrayLike<number>;
  n: number;
  height: number;
  width: number;
  channels: number;
}

/** A dataset that produces (decoded, transformed) uint8 samples asynchronously (e.g. an ImageFolder). */
export interface AsyncSource {
  labels: ArrayLike<number>;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Writes the samples at `indices` (augmented when asked, drawing from `rng`) into `out`, HWC. */
  readBatch(indices: ArrayLike<number>, augment: boolean, rng: Rng, out: Uint8Array): Promise<void>;
}

/** What a {@link BatchLoader} reads from. */
export type BatchSource = InMemorySource | AsyncSource;

/** Options of {@link BatchLoader}. */
export interface BatchLoaderOptions {
  /** Samples per batch. */
  batchSize: number;
  /**
   * Training augmentation: CIFAR pad/crop/flip for in-memory sources, RandomResizedCrop + flip for
   * async sources (their `readBatch` decides).
   */
  augment: boolean;
  /** Seed of the shuffling and augmentation streams. */
  seed: number;
  /** Normalisation applied to the uint8 pixels. */
  normalize: NormalizeName | NormalizeStats;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Shuffle the samples each epoch (default true; use false for evaluation). */
  shuffle?: boolean;
  /** Use only the first `limit` samples of the source (the CLI's `--train-limit N`). */
  limit?: number;
  /** How many batches to prepare ahead of the one being consumed (default 2). */
  prefetch?: number;
  /**
   * Prepare batches of in-memory sources in a worker thread (default true), so they overlap with the
   * training step on the main thread. Async sources always prepare on the main thread (their image decoding
   * already runs on libuv's threadpool).
   */
  worker?: boolean;
  /** Pad/crop/flip settings of the in-memory (CIFAR) augmentation. */
  augmentOptions?: Pick<CifarAugmentOptions, 'pad' | 'padMode' | 'flip'>;
}

/** One batch, ready for `tf.tensor4d(x, [n, height, width, channels])`. */
export interface Batch {
  /** `n * height * width * channels` normalised floats, NHWC. */
  x: Float32Array;
  /** `n` labels. */
  y: Int32Array;
  /** Samples in this batch (batchSize, or fewer for the last one when dropLast is false). */
  n: number;
  /** Epoch of this batch. */
  epoch: number;
  /** Index of this batch within its epoch. */
  step: number;
  /** Dataset indices of the samples, in batch order. */
  indices: Int32Array;
  /** `[n, height, width, channels]`. */
  shape: [number, number, number, number];
}

/** Where a loader stands: enough, with the seed, to resume exactly. */
export interface BatchLoaderState {
  seed: number;
  /** Epoch of the next batch to produce. */
  epoch: number;
  /** Step (within `epoch`) of the next batch to produce; equals stepsPerEpoch at the end of an epoch. */
  step: number;
}

const STREAM_ORDER = 1;
const STREAM_AUGMENT = 2;

function isInMemory(s: BatchSource): s is InMemorySource {
  return (s as InMemorySource).images instanceof Uint8Array;
}

/**
 * Source of the prefetch worker, plain JavaScript so that it survives any bundling, minification or
 * coverage instrumentation of this package. It mirrors `Rng.next/nextInt/nextFloat`,
 * `cifarAugmentKernel`, `gatherKernel` and `normalizeKernel` exactly; the tests check that batches made
 * by the worker are byte-identical to those made on the main thread.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData: d } = require('node:worker_threads');
let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
function next() {
  const m = Math.imul(s1, 5);
  const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
  const t = s1 << 9;
  s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
  s3 = (s3 << 11) | (s3 >>> 21);
  return result;
}
function nextInt(n) {
  if ((n & (n - 1)) === 0 && n <= 1073741824) return next() & (n - 1);
  const limit = 4294967296 - (4294967296 % n);
  let r = next();
  while (r >= limit) r = next();
  return r % n;
}
function nextFloat() { return next() / 4294967296; }
function augment(images, indices, out, h, w, c, pad, symmetric, flip) {
  const per = h * w * c, rowStride = w * c, rowMap = new Int32Array(h), colMap = new Int32Array(w), m = 2 * pad + 1;
  for (let k = 0; k < indices.length; k++) {
    const base = indices[k] * per;
    const oy = pad > 0 ? nextInt(m) : 0;
    const ox = pad > 0 ? nextInt(m) : 0;
    const f = flip && nextFloat() < 0.5;
    for (let y = 0; y < h; y++) {
      let s = y + oy - pad;
      if (s < 0) s = symmetric ? -s - 1 : -s;
      else if (s >= h) s = symmetric ? 2 * h - 1 - s : 2 * h - 2 - s;
      rowMap[y] = base + s * rowStride;
    }
    for (let x = 0; x < w; x++) {
      let s = (f ? w - 1 - x : x) + ox - pad;
      if (s < 0) s = symmetric ? -s - 1 : -s;
      else if (s >= w) s = symmetric ? 2 * w - 1 - s : 2 * w - 2 - s;
      colMap[x] = s * c;
    }
    let o = k * per;
    for (let y = 0; y < h; y++) {
      const rb = rowMap[y];
      if (c === 3) {
        for (let x = 0; x < w; x++) {
          const p = rb + colMap[x];
          out[o] = images[p]; out[o + 1] = images[p + 1]; out[o + 2] = images[p + 2];
          o += 3;
        }
      } else {
        for (let x = 0; x < w; x++) {
          const p = rb + colMap[x];
          for (let ch = 0; ch < c; ch++) out[o++] = images[p + ch];
        }
      }
    }
  }
}
parentPort.on('message', (msg) => {
  try {
    const per = d.h * d.w * d.c, n = msg.indices.length, tmp = new Uint8Array(n * per);
    if (msg.rngState) {
      [s0, s1, s2, s3] = msg.rngState.map((v) => v | 0);
      augment(d.images, msg.indices, tmp, d.h, d.w, d.c, d.pad, d.symmetric, d.flip);
    } else {
      for (let k = 0; k < n; k++) tmp.set(d.images.subarray(msg.indices[k] * per, (msg.indices[k] + 1) * per), k * per);
    }
    const x = new Float32Array(n * per), lut = d.lut, c = d.c;
    if (c === 3) {
      for (let i = 0; i < tmp.length; i += 3) {
        x[i] = lut[tmp[i]]; x[i + 1] = lut[256 + tmp[i + 1]]; x[i + 2] = lut[512 + tmp[i + 2]];
      }
    } else {
      for (let i = 0; i < tmp.length; i += c) for (let k = 0; k < c; k++) x[i + k] = lut[k * 256 + tmp[i + k]];
    }
    parentPort.postMessage({ id: msg.id, x }, [x.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: String((e && e.stack) || e) });
  }
});
`;

/** A worker thread that turns (indices, rng state) into normalised float batches. */
class PrefetchWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (x: Float32Array) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private failed: Error | null = null;

  constructor(data: Record<string, unknown>) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; x?: Float32Array; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.x) p.resolve(m.x);
      else p.reject(new DataError(`batch preparation failed in the prefetch worker: ${m.error}`));
    });
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', (e) =>
      fail(new DataError(`prefetch worker crashed: ${e.message}`, { cause: e })),
    );
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0)
        fail(new DataError(`prefetch worker exited (code ${code}) with batches pending`));
    });
  }

  run(indices: Int32Array, rngState: number[] | null): Promise<Float32Array> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, indices, rngState });
    });
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) p.reject(new DataError('batch loader closed'));
    this.pending.clear();
    await this.worker.terminate();
  }
}

/**
 * Produces shuffled, augmented, normalised batches epoch by epoch, preparing the next batches while the
 * current one is being used.
 *
 * ```ts
 * const train = await loadCifar(path, { split: 'train' });
 * const loader = new BatchLoader(train, { batchSize: 128, augment: true, seed: 1, normalize: 'cifar' });
 * for (let epoch = start.epoch; epoch < epochs; epoch++) {
 *   for await (const b of loader.epochBatches(epoch, epoch === start.epoch ? start.step : 0)) {
 *     const x = tf.tensor4d(b.x, b.shape); ...; checkpoint.loader = loader.getState();
 *   }
 * }
 * await loader.close();
 * ```
 */
export class BatchLoader {
  /** Number of samples used (the source's size, or `limit`). */
  readonly size: number;
  /** Batches per epoch (`ceil(size / batchSize)`, or `floor` with dropLast). */
  readonly stepsPerEpoch: number;
  /** `[height, width, channels]` of one sample. */
  readonly sampleShape: [number, number, number];
  /** The seed given at construction. */
  readonly seed: number;
  private readonly source: BatchSource;
  private readonly opts: Required<Omit<BatchLoaderOptions, 'limit' | 'augmentOptions'>>;
  private readonly lut: Float32Array;
  private readonly aug: { pad: number; symmetric: boolean; flip: boolean };
  private worker: PrefetchWorker | null = null;
  private orderCache: { epoch: number; order: Int32Array } | null = null;
  private position: { epoch: number; step: number } = { epoch: 0, step: 0 };
  private closed = false;

  /**
   * @throws UsageError on invalid options (batch size, limit, normalisation, padding)
   */
  constructor(source: BatchSource, options: BatchLoaderOptions) {
    const bs = options.batchSize;
    if (!Number.isInteger(bs) || bs < 1)
      throw new UsageError(`batchSize must be a positive integer, got ${bs}`);
    if (!Number.isFinite(options.seed))
      throw new UsageError(`seed must be a finite number, got ${options.seed}`);
    const limit = options.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new UsageError(`limit (--train-limit) must be a positive integer, got ${limit}`);
    }
    this.source = source;
    this.seed = options.seed;
    this.size = Math.min(source.n, limit ?? source.n);
    this.sampleShape = [source.height, source.width, source.channels];
    this.opts = {
      batchSize: bs,
      augment: options.augment,
      seed: options.seed,
      normalize: options.normalize,
      dropLast: options.dropLast ?? false,
      shuffle: options.shuffle ?? true,
      prefetch: Math.max(1, Math.floor(options.prefetch ?? 2)),
      worker: options.worker ?? true,
    };
    this.stepsPerEpoch = this.opts.dropLast ? Math.floor(this.size / bs) : Math.ceil(this.size / bs);
    this.lut = normalizeLut(normalizeStats(options.normalize));
    if (this.lut.length / 256 !== source.channels) {
      throw new UsageError(
        `normalisation has ${this.lut.length / 256} channels but the images have ${source.channels}`,
      );
    }
    const a = options.augmentOptions ?? {};
    const pad = a.pad ?? 4;
    const symmetric = (a.padMode ?? 'reflect') === 'symmetric';
    const maxPad = Math.min(source.height, source.width) - (symmetric ? 0 : 1);
    if (!Number.isInteger(pad) || pad < 0 || pad > maxPad)
      throw new UsageError(`pad must be in 0..${maxPad}, got ${pad}`);
    this.aug = { pad, symmetric, flip: a.flip ?? true };
    if (isInMemory(source)) {
      const need = source.n * source.height * source.width * source.channels;
      if (source.images.length < need) {
        throw new UsageError(`source.images has ${source.images.length} bytes, expected ${need}`);
      }
    }
  }

  /** Sample order of `epoch`: a seeded permutation of `0..size-1` (identity when shuffle is off). */
  epochOrder(epoch: number): Int32Array {
    if (this.orderCache?.epoch === epoch) return this.orderCache.order;
    const order = new Int32Array(this.size);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.opts.shuffle) Rng.derive(this.seed, STREAM_ORDER, epoch).shuffle(order);
    this.orderCache = { epoch, order };
    return order;
  }

  /** The position after the last batch handed out by {@link epochBatches}; store it in checkpoints. */
  getState(): BatchLoaderState {
    return { seed: this.seed, epoch: this.position.epoch, step: this.position.step };
  }

  /**
   * Iterates the batches of `epoch` from `startStep`, keeping up to `prefetch` batches in preparation.
   * Breaking out of the loop is fine (pending work is discarded).
   *
   * @throws UsageError when `startStep` is out of range or the loader is closed
   */
  async *epochBatches(epoch: number, startStep = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new UsageError('BatchLoader is closed');
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new UsageError(`epoch must be a non-negative integer, got ${epoch}`);
    if (!Number.isInteger(startStep) || startStep < 0 || startStep > this.stepsPerEpoch) {
      throw new UsageError(`startStep must be in 0..${this.stepsPerEpoch}, got ${startStep}`);
    }
    this.position = { epoch, step: startStep };
    const queue: Promise<Batch>[] = [];
    let next = startStep;
    const fill = () => {
      while (queue.length < this.opts.prefetch && next < this.stepsPerEpoch) {
        const p = this.batch(epoch, next++);
        p.catch(() => {}); // handled when awaited; avoid unhandled-rejection noise for discarded batches
        queue.push(p);
      }
    };
    fill();
    while (queue.length > 0) {
      const b = await (queue.shift() as Promise<Batch>);
      fill(); // start on the following batches before handing this one out
      this.position = { epoch, step: b.step + 1 };
      yield b;
    }
  }

  /** Prepares one batch directly (random access; same result as the iterator gives for that step). */
  async batch(epoch: number, step: number): Promise<Batch> {
    if (this.closed) throw new UsageError('BatchLoader is closed');
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new UsageError(`step must be in 0..${this.stepsPerEpoch - 1}, got ${step}`);
    }
    const order = this.epochOrder(epoch);
    const bs = this.opts.batchSize;
    const indices = order.slice(step * bs, Math.min(this.size, (step + 1) * bs));
    const n = indices.length;
    const y = new Int32Array(n);
    const labels = this.source.labels;
    for (let k = 0; k < n; k++) y[k] = labels[indices[k] as number] as number;
    const [h, w, c] = this.sampleShape;
    const rng = this.opts.augment ? Rng.derive(this.seed, STREAM_AUGMENT, epoch, step) : null;
    let x: Float32Array;
    const src = this.source;
    if (isInMemory(src)) {
      const worker = this.opts.worker ? this.getWorker(src) : null;
      if (worker) {
        x = await worker.run(indices, rng ? rng.getState() : null);
      } else {
        // Run when the event loop is next free, i.e. typically while the consumer awaits something.
        await new Promise<void>((r) => setImmediate(r));
        const per = h * w * c;
        const tmp = new Uint8Array(n * per);
        if (rng)
          cifarAugmentKernel(
            src.images,
            indices,
            rng,
            tmp,
            h,
            w,
            c,
            this.aug.pad,
            this.aug.symmetric,
            this.aug.flip,
          );
        else gatherKernel(src.images, indices, tmp, per);
        x = new Float32Array(n * per);
        normalizeKernel(tmp, this.lut, x, c);
      }
    } else {
      const tmp = new Uint8Array(n * h * w * c);
      await src.readBatch(
        indices,
        this.opts.augment,
        rng ?? Rng.derive(this.seed, STREAM_AUGMENT, epoch, step),
        tmp,
      );
      x = new Float32Array(tmp.length);
      normalizeKernel(tmp, this.lut, x, c);
    }
    return { x, y, n, epoch, step, indices, shape: [n, h, w, c] };
  }

  private getWorker(src: InMemorySource): PrefetchWorker {
    if (this.worker) return this.worker;
    const per = src.height * src.width * src.channels;
    let images = src.images.subarray(0, this.size * per);
    if (!(images.buffer instanceof SharedArrayBuffer)) {
      // Share the pixels with the worker without copying them per batch (one copy, once).
      const shared = new Uint8Array(new SharedArrayBuffer(Math.max(1, images.length)), 0, images.length);
      shared.set(images);
      images = shared;
    }
    this.worker = new PrefetchWorker({
      images,
      h: src.height,
      w: src.width,
      c: src.channels,
      lut: this.lut,
      pad: this.aug.pad,
      symmetric: this.aug.symmetric,
      flip: this.aug.flip,
    });
    return this.worker;
  }

  /** Stops the worker thread (if any). The loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.close();
  }
}
