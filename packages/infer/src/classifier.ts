/**
 * The classifier API, in the style of tfjs-models' mobilenet: `predict` (preprocessed tensor → logits),
 * `infer` (images → logits), `classify` (images → top-k labels with probabilities), `dispose`.
 */
import {
  type BackendInfo,
  type ModelSpec,
  type Preprocessing,
  ShapeError,
  type TensorMap,
  UsageError,
} from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Engine, EngineInfo } from './engines/engine';
import { createTfjsEngine } from './engines/tfjs';
import { preprocessBatch, type RgbPixels, toRgb } from './preprocess';

/** One class of a {@link DiracClassifier.classify} answer. */
export interface Prediction {
  /** The class name (model.json `labels`, or the index as text when the model has none). */
  label: string;
  /** The class index. */
  index: number;
  /** Softmax probability, 0–1. */
  probability: number;
}

/** Options of {@link DiracClassifier.classify}. */
export interface ClassifyOptions {
  /** How many classes to return, most probable first (default 5, at most the number of classes). */
  topk?: number;
}

/**
 * Turns an input the entry does not know natively into pixels, or returns undefined to fall through to the
 * browser-safe readers (the Node entry uses it for file paths and encoded bytes).
 */
export type PixelReader = (input: unknown) => Promise<RgbPixels[] | undefined>;

/** What a {@link DiracClassifier} is built from. */
export interface ClassifierInit {
  spec: ModelSpec;
  /**
   * The folded model's tensors; the classifier owns them from now on (dispose() frees them). Ignored (pass
   * `{}`) when `engine` is given.
   */
  tensors: TensorMap;
  /** The tfjs backend (preprocessing, and the network on the tfjs engine). */
  backend: string;
  /** The engine that runs the network; default: the tfjs engine over `tensors`. */
  engine?: Engine;
  /** How the backend was chosen, when the loader chose it (Node: @dirac/core's useBackend report). */
  backendInfo?: BackendInfo;
  /** Extra input reader (Node: files and encoded bytes). */
  readPixels?: PixelReader;
}

/** Softmax and top-k of one row of logits, in float64. */
export function topK(logits: ArrayLike<number>, k: number, labels?: readonly string[]): Prediction[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  const exps = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    exps[i] = Math.exp((logits[i] as number) - max);
    sum += exps[i] as number;
  }
  const order = Array.from(exps.keys()).sort((a, b) => (exps[b] as number) - (exps[a] as number) || a - b);
  return order.slice(0, Math.max(0, Math.min(k, logits.length))).map((index) => ({
    label: labels?.[index] ?? String(index),
    index,
    probability: (exps[index] as number) / sum,
  }));
}

const GPU_BACKENDS = new Set(['webgl', 'webgpu']);

const isBatch = (input: unknown): boolean =>
  Array.isArray(input) || (input instanceof tf.Tensor && input.rank === 4);

/**
 * A loaded folded DiracNet. Create it with `load()`; every method disposes the tensors it creates (the
 * tensors that `predict` and `infer` return belong to the caller).
 *
 * @typeParam I the image inputs it accepts (the browser entry's {@link ImageInput}, or the Node entry's)
 */
export class DiracClassifier<I = unknown> {
  /** The folded model spec (model.json). */
  readonly spec: ModelSpec;
  /** Class names, one per output (model.json `labels`, else the indices as text). */
  readonly labels: readonly string[];
  /** How images become input, from model.json. */
  readonly preprocessing: Preprocessing | undefined;
  /**
   * The tfjs backend: it preprocesses images, and runs the network when {@link engine} is 'tfjs'.
   */
  readonly backend: string;
  /** How the backend was chosen, when `load()` chose it (the Node entry's `useBackend` report). */
  readonly backendInfo: BackendInfo | undefined;
  /**
   * The engine the network runs on ('tfjs' or 'onnxruntime'), its backend or execution provider, and why
   * it was chosen.
   */
  readonly engine: EngineInfo;
  #engine: Engine;
  #readPixels: PixelReader | undefined;
  #disposed = false;

  /**
   * Wraps a folded model's spec and tensors; `load()` is the usual way in. Compiles the network once.
   *
   * @throws TrainingFormError when the spec holds training-form layers
   */
  constructor(init: ClassifierInit) {
    this.spec = init.spec;
    this.labels = init.spec.labels ?? Array.from({ length: init.spec.numClasses }, (_, i) => String(i));
    this.preprocessing = init.spec.preprocessing;
    this.backend = init.backend;
    this.backendInfo = init.backendInfo;
    this.#engine =
      init.engine ??
      createTfjsEngine(init.spec.layers, init.tensors, {
        backend: init.backend,
        reason: 'the tfjs engine was given the model tensors',
        rejected: [],
      });
    this.engine = this.#engine.info;
    this.#readPixels = init.readPixels;
  }

  #alive(): void {
    if (this.#disposed) throw new UsageError('this model was disposed: load() it again');
  }

  /**
   * Runs the network on already preprocessed input: NHWC float `[N, H, W, C]` (or one image `[H, W, C]`).
   * Resolves to logits `[N, classes]`, which the caller must dispose; the input is not disposed. Async on
   * every engine (ONNX Runtime runs asynchronously).
   *
   * @throws ShapeError when the input's rank or channel count does not fit the model
   */
  async predict(x: tf.Tensor): Promise<tf.Tensor2D> {
    this.#alive();
    const c = this.spec.inputShape[2];
    if ((x.rank !== 4 && x.rank !== 3) || x.shape[x.rank - 1] !== c) {
      throw new ShapeError(
        `predict() takes preprocessed NHWC input with ${c} channels ([N, H, W, ${c}]); got [${x.shape.join(', ')}]. For images use infer() or classify()`,
      );
    }
    if (x.rank === 4 && x.dtype === 'float32') return this.#engine.run(x as tf.Tensor4D);
    const input = tf.tidy(() => {
      const batch = x.rank === 3 ? tf.expandDims(x, 0) : x;
      return (batch.dtype === 'float32' ? batch : tf.cast(batch, 'float32')) as tf.Tensor4D;
    });
    try {
      return await this.#engine.run(input);
    } finally {
      if (input !== x) input.dispose();
    }
  }

  /**
   * Reads and preprocesses images (one, an array, or a rank-4 tensor) into one NHWC float32 batch
   * `[N, crop, crop, 3]` as model.json's `preprocessing` says. The caller disposes the result.
   */
  async preprocess(images: I | I[]): Promise<tf.Tensor4D> {
    this.#alive();
    const p = this.preprocessing;
    if (!p) {
      throw new UsageError(
        `model '${this.spec.name}' has no preprocessing in its model.json: preprocess the images yourself and call predict()`,
      );
    }
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new UsageError('no images given');
    const pixels: RgbPixels[] = [];
    for (const img of list) pixels.push(...((await this.#readPixels?.(img)) ?? (await toRgb(img))));
    return preprocessBatch(pixels, p);
  }

  /**
   * Logits for images: `[1, classes]` for one image, `[N, classes]` for an array or a rank-4 tensor.
   * The caller disposes the result.
   */
  async infer(images: I | I[]): Promise<tf.Tensor2D> {
    const x = await this.preprocess(images);
    try {
      return await this.predict(x);
    } finally {
      x.dispose();
    }
  }

  /**
   * The `topk` most probable classes of an image, or of each image of a batch (an array of images or a
   * rank-4 tensor gives an array of arrays).
   */
  async classify(batch: tf.Tensor4D, options?: ClassifyOptions): Promise<Prediction[][]>;
  async classify(image: I, options?: ClassifyOptions): Promise<Prediction[]>;
  async classify(images: I[], options?: ClassifyOptions): Promise<Prediction[][]>;
  async classify(
    images: I | I[] | tf.Tensor4D,
    options: ClassifyOptions = {},
  ): Promise<Prediction[] | Prediction[][]> {
    const k = options.topk ?? 5;
    if (!Number.isInteger(k) || k < 1) throw new UsageError(`topk must be a positive integer; got ${k}`);
    const logits = await this.infer(images as I | I[]);
    let values: Float32Array;
    try {
      // CPU backends read synchronously at a fraction of the cost; GPU backends must not block.
      values = (GPU_BACKENDS.has(tf.getBackend()) ? await logits.data() : logits.dataSync()) as Float32Array;
    } finally {
      logits.dispose();
    }
    const n = logits.shape[0];
    const classes = logits.shape[1];
    const rows = Array.from({ length: n }, (_, i) =>
      topK(values.subarray(i * classes, (i + 1) * classes), k, this.labels),
    );
    return isBatch(images) ? rows : rows[0]!;
  }

  /** Runs the network once on zeros, so that the first real call is not slowed by backend set-up. */
  async warmup(): Promise<void> {
    this.#alive();
    const [h, w, c] = this.spec.inputShape;
    const crop = this.preprocessing?.crop;
    const x = tf.zeros([1, crop ?? h, crop ?? w, c]);
    try {
      const y = await this.predict(x);
      await y.data();
      y.dispose();
    } finally {
      x.dispose();
    }
  }

  /**
   * Frees the model: its tfjs tensors at once, the ONNX Runtime session (onnxruntime engine) by the time
   * the returned promise resolves. The classifier cannot be used afterwards.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#engine.dispose();
  }
}
