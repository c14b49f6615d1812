/**
 * What runs the folded network: TensorFlow.js ops (the default everywhere) or ONNX Runtime
 * (onnxruntime-node in Node, onnxruntime-web in browsers), behind one small interface so that the
 * classifier's API and outputs are the same on both.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** The engines @dirac/infer can run a model on. */
export type EngineName = 'tfjs' | 'onnxruntime';

/**
 * What `load()` is asked for:
 * - 'tfjs': TensorFlow.js with the backend set up by `backend` (Node: `useBackend`);
 * - 'onnxruntime': ONNX Runtime; fails with BackendError when it cannot be loaded;
 * - 'auto' (default): Node — onnxruntime-node when it can be imported (5–8x faster than tfjs-wasm on CPUs),
 *   unless tfjs runs on a GPU (tfjs-node-gpu), else tfjs; browsers — tfjs, unless its backend is the
 *   plain-JavaScript 'cpu' one and the app passes onnxruntime-web: measured in Chromium, tfjs-wasm
 *   (XNNPACK) runs DiracNet-34-1 1.8–5.8x faster than onnxruntime-web's wasm build, and webgl/webgpu use the GPU.
 */
export type EngineRequest = 'auto' | EngineName;

/** Which engine a classifier runs on, and why (as @dirac/core's `useBackend` reports backends). */
export interface EngineInfo {
  name: EngineName;
  /**
   * tfjs: the backend ('wasm', 'webgl', 'tensorflow', …); onnxruntime: the execution provider ('cpu' for
   * onnxruntime-node, 'wasm' for onnxruntime-web).
   */
  backend: string;
  /** Human-readable reason for the choice, including what was tried and failed. */
  reason: string;
  /** Engines tried before this one, with why each was rejected. */
  rejected: { name: EngineName; why: string }[];
}

/** A compiled network: NHWC float32 batch in, logits `[N, classes]` out. */
export interface Engine {
  readonly info: EngineInfo;
  /** Runs the network; the input stays the caller's, the logits are the caller's to dispose. */
  run(x: tf.Tensor4D): Promise<tf.Tensor2D>;
  /** Frees what the engine holds (tfjs tensors, ONNX Runtime session). */
  dispose(): Promise<void>;
}

/** The part of an ONNX Runtime tensor the engine uses. */
export interface OrtTensorLike {
  readonly data: unknown;
  readonly dims: readonly number[];
  dispose?(): void;
}

/** The part of an ONNX Runtime `InferenceSession` the engine uses. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/**
 * The part of the `onnxruntime-node` / `onnxruntime-web` module the engine uses: `import * as ort from
 * 'onnxruntime-web'` fits it.
 */
export interface OnnxruntimeModule {
  InferenceSession: {
    // biome-ignore lint/suspicious/noExplicitAny: session options differ between onnxruntime-node and -web
    create(model: Uint8Array, options?: any): Promise<OrtSessionLike>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensorLike;
}

/**
 * How the onnxruntime engine gets ONNX Runtime: the module itself, or a function that imports it (so that
 * a bundler puts it into a chunk loaded only when the engine is used), e.g.
 * `() => import('onnxruntime-web')`.
 */
export type OnnxruntimeSource =
  | OnnxruntimeModule
  | (() => Promise<OnnxruntimeModule | { default: OnnxruntimeModule }>);

/** Options of the onnxruntime engine. */
export interface OnnxruntimeOptions {
  /**
   * Session options passed to `InferenceSession.create` (merged over the defaults: `executionProviders`
   * ['cpu'] in Node, ['wasm'] in browsers; `graphOptimizationLevel` 'all').
   */
  sessionOptions?: Record<string, unknown>;
}
