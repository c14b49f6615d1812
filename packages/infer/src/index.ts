/**
 * @dirac/infer — the folded DiracNet runtime. This is the browser-safe entry (no Node built-ins, no
 * native modules); Node apps import `@dirac/infer/node`, which re-exports all of this and adds local files,
 * the download cache and image decoding.
 *
 * ```ts
 * import '@tensorflow/tfjs-backend-webgl';
 * import { load } from '@dirac/infer';
 * const model = await load('https://example.com/models/diracnet-34-1/');
 * const top5 = await model.classify(document.querySelector('img')!);
 * ```
 *
 * @packageDocumentation
 */
import { BackendError, ZOO_URL } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { createClassifier } from './build';
import type { DiracClassifier } from './classifier';
import type { EngineRequest, OnnxruntimeOptions, OnnxruntimeSource } from './engines/engine';
import { type LoadOptions, type ModelSource, resolveModel } from './load';
import type { ImageInput } from './preprocess';

/** The shared types of @dirac/core that the runtime's API mentions. */
export type { BackendInfo, ModelSpec, Preprocessing, TensorMap, WeightsFile } from '@dirac/core';
/** The shared error classes of @dirac/core, re-exported so that apps can branch on them with one import. */
export {
  BackendError,
  DataError,
  DiracError,
  MissingTensorError,
  SafetensorsError,
  ShapeError,
  SpecError,
  UsageError,
  ZOO_URL,
} from '@dirac/core';
export { type CreateClassifierOptions, createClassifier } from './build';
export {
  type ClassifierInit,
  type ClassifyOptions,
  DiracClassifier,
  type PixelReader,
  type Prediction,
  topK,
} from './classifier';
export type {
  Engine,
  EngineInfo,
  EngineName,
  EngineRequest,
  OnnxruntimeModule,
  OnnxruntimeOptions,
  OnnxruntimeSource,
  OrtSessionLike,
  OrtTensorLike,
} from './engines/engine';
export { compileFolded, createTfjsEngine } from './engines/tfjs';
export { DownloadError, ImageError, IntegrityError, TrainingFormError } from './errors';
export {
  checkFoldedSpec,
  type DownloadCache,
  type LoaderHost,
  type LoadOptions,
  type ModelBytes,
  type ModelSource,
  type ProgressInfo,
  pickWeightsFile,
  type ResolvedModel,
  resolveModel,
  sha256Hex,
  type ZooIndex,
  type ZooIndexEntry,
} from './load';
export {
  type ImageInput,
  preprocessBatch,
  preprocessInto,
  type RawImage,
  type RgbPixels,
  rawToRgb,
  tensorToRgb,
  toRgb,
} from './preprocess';

/** Options of the browser entry's {@link load}. */
export interface BrowserLoadOptions extends LoadOptions {
  /**
   * The tfjs backend to run on ('webgl', 'webgpu', 'wasm', 'cpu'); the app must have imported its package.
   * Default: whatever tfjs picked (the highest-priority registered backend).
   */
  backend?: string;
  /** Run the network once before resolving (default true), as tfjs-models do. */
  warmup?: boolean;
  /**
   * The engine that runs the network: 'tfjs', 'onnxruntime' or 'auto' (default). In browsers ONNX Runtime
   * comes from the app (`onnxruntime`); 'auto' uses it only when tfjs is on its plain-JavaScript 'cpu'
   * backend (tfjs' wasm, webgl and webgpu backends are faster). The classifier's `engine` field says what
   * was chosen and why.
   */
  engine?: EngineRequest;
  /**
   * ONNX Runtime for the onnxruntime engine: in browsers `() => import('onnxruntime-web')` (a separate
   * chunk, fetched only when used; set `ort.env.wasm.wasmPaths` to where its .wasm files are served). In
   * Node the default is `import('onnxruntime-node')`.
   */
  onnxruntime?: OnnxruntimeSource;
  /** Options of the onnxruntime engine (session options). */
  onnxruntimeOptions?: OnnxruntimeOptions;
}

/**
 * Loads a folded DiracNet and warms it up. `source` is the URL of a model directory (or of its
 * model.json; relative URLs resolve against the page), a zoo name (looked up in the published zoo on
 * jsDelivr, {@link ZOO_URL}, or in the `zooIndex` option), or `{ spec, weights }` bytes.
 * Every weights file is checked against the sha256 in model.json.
 *
 * @throws TrainingFormError, IntegrityError, DownloadError, SafetensorsError, ShapeError, SpecError,
 *   MissingTensorError, BackendError (all subclasses of DiracError, with messages that say what to do)
 */
export async function load(
  source: ModelSource,
  options: BrowserLoadOptions = {},
): Promise<DiracClassifier<ImageInput>> {
  if (options.backend) {
    let ok = false;
    try {
      ok = await tf.setBackend(options.backend);
    } catch (e) {
      throw new BackendError(
        `tfjs backend '${options.backend}' is not registered: import '@tensorflow/tfjs-backend-${options.backend}' first`,
        { cause: e },
      );
    }
    if (!ok) throw new BackendError(`tfjs backend '${options.backend}' failed to initialise in this browser`);
  }
  await tf.ready();
  const resolved = await resolveModel(source, options, {
    baseUrl: (globalThis as { location?: { href: string } }).location?.href,
    remoteZooIndex: ZOO_URL,
  });
  return createClassifier<ImageInput>(resolved, {
    backend: tf.getBackend(),
    warmup: options.warmup,
    onProgress: options.onProgress,
    engine: options.engine,
    onnxruntime: options.onnxruntime,
    onnxruntimeOptions: options.onnxruntimeOptions,
    dtype: options.dtype,
    platform: { onnxruntime: 'onnxruntime-web', provider: 'wasm', auto: 'browser' },
  });
}
