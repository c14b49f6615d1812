import {
  BackendError,
  type BackendInfo,
  DataError,
  deserializeModel,
  MissingTensorError,
  type Model,
  SafetensorsError,
  ShapeError,
  SpecError,
  UsageError,
} from '@dirac/core';
import type { CalibrationTable } from '@dirac/core/onnx';
import { DiracClassifier, type PixelReader } from './classifier';
import type {
  Engine,
  EngineInfo,
  EngineRequest,
  OnnxruntimeOptions,
  OnnxruntimeSource,
} from './engines/engine';
import { createTfjsEngine } from './engines/tfjs';
import type { LoadOptions, ResolvedModel } from './load';

/** Options of {@link createClassifier}. */
export interface CreateClassifierOptions {
  /** The tfjs backend in use (for reports). */
  backend: string;
  /** How the backend was chosen. */
  backendInfo?: BackendInfo;
  /** Extra input reader (the Node entry's files and encoded bytes). */
  readPixels?: PixelReader;
  /** The engine to run on (default 'auto'; see {@link EngineRequest}). */
  engine?: EngineRequest;
  /** ONNX Runtime for the onnxruntime engine: the module, or a function importing it. */
  onnxruntime?: OnnxruntimeSource;
  /** Options of the onnxruntime engine. */
  onnxruntimeOptions?: OnnxruntimeOptions;
  /**
   * Facts of the platform for the engine choice: the ONNX Runtime package's name (for messages), its
   * execution provider ('cpu' for onnxruntime-node, 'wasm' for onnxruntime-web), and the 'auto' policy
   * (see {@link EngineRequest}): 'node' prefers ONNX Runtime unless tfjs runs on a GPU; 'browser' prefers
   * tfjs unless its backend is the plain-JavaScript 'cpu' one.
   */
  platform?: { onnxruntime: string; provider: string; auto: 'node' | 'browser' };
  /** Run the network once before returning (default true). */
  warmup?: boolean;
  /** 'int8': run the int8 (QDQ) network on ONNX Runtime with the ranges in model.json (see LoadOptions). */
  dtype?: LoadOptions['dtype'];
  /** Progress reports: 'ready' is sent once the model is warmed up. */
  onProgress?: LoadOptions['onProgress'];
}

function explain(e: unknown, where: string): unknown {
  const fix = 'the weights and model.json belong to different models or were edited; export the model again';
  if (e instanceof SafetensorsError) {
    return new SafetensorsError(
      e.reason,
      `${where}: ${e.message}. The weights file is corrupt or truncated: download or copy it again`,
    );
  }
  if (e instanceof MissingTensorError) return new MissingTensorError(e.tensorName, `(${where}): ${fix}`);
  if (e instanceof ShapeError) return new ShapeError(`${where}: ${e.message}; ${fix}`);
  if (e instanceof SpecError) return new SpecError(`${where}: ${e.message}; ${fix}`);
  if (e instanceof RangeError) return new DataError(`${where}: cannot read the weights (${e.message})`);
  return e;
}

/**
 * Builds a classifier from a resolved (verified) spec and weights: parses the safetensors, checks every
 * tensor against the spec, compiles the folded network and warms it up.
 *
 * @throws SafetensorsError for corrupt or truncated weights; MissingTensorError, ShapeError or SpecError
 *   when the tensors disagree with model.json; TrainingFormError for training-form layers
 */
export async function createClassifier<I>(
  resolved: ResolvedModel,
  options: CreateClassifierOptions,
): Promise<DiracClassifier<I>> {
  let model: Model;
  try {
    model = deserializeModel(resolved.spec, resolved.weights);
  } catch (e) {
    throw explain(e, `weights ${resolved.weightsSource}`);
  }
  let engine: Engine;
  try {
    engine = await chooseEngine(model, options);
  } catch (e) {
    for (const t of Object.values(model.tensors)) t.dispose();
    throw explain(e, `model '${model.spec.name}'`);
  }
  let clf: DiracClassifier<I>;
  try {
    clf = new DiracClassifier<I>({
      spec: model.spec,
      tensors: engine.info.name === 'tfjs' ? model.tensors : {},
      backend: options.backend,
      backendInfo: options.backendInfo,
      readPixels: options.readPixels,
      engine,
    });
  } catch (e) {
    await engine.dispose();
    throw explain(e, `model '${model.spec.name}'`);
  }
  if (options.warmup ?? true) await clf.warmup();
  options.onProgress?.({ status: 'ready', name: model.spec.name, file: model.spec.name });
  return clf;
}

const GPU_BACKENDS = new Set(['webgl', 'webgpu']);

/**
 * Picks and builds the engine (see {@link EngineRequest}). On the onnxruntime engine the model's tfjs
 * tensors are freed once the session exists; on the tfjs engine they are the engine's.
 */
/** The int8 activation ranges in model.json, or a UsageError saying how to get them. */
function int8Calibration(model: Model): CalibrationTable {
  const q = (model.spec.metadata?.quantization as { int8?: CalibrationTable } | undefined)?.int8;
  if (!q || typeof q !== 'object' || !q.ranges) {
    throw new UsageError(
      `dtype 'int8': model '${model.spec.name}' has no int8 activation ranges (metadata.quantization.int8 in model.json); zoo models get them from \`dirac zoo add\`, other models run int8 via \`dirac export --quantize int8 --calibration <data>\``,
    );
  }
  return q;
}

async function chooseEngine(model: Model, options: CreateClassifierOptions): Promise<Engine> {
  const request = options.engine ?? 'auto';
  if (request !== 'auto' && request !== 'tfjs' && request !== 'onnxruntime') {
    throw new UsageError(`engine must be 'auto', 'tfjs' or 'onnxruntime'; got '${String(request)}'`);
  }
  if (options.dtype === 'int8') return int8Engine(model, request, options);
  const platform = options.platform ?? { onnxruntime: 'onnxruntime-web', provider: 'wasm', auto: 'browser' };
  const gpu = options.backendInfo?.gpu ?? GPU_BACKENDS.has(options.backend);
  const rejected: EngineInfo['rejected'] = [];
  const tfjs = (reason: string) =>
    createTfjsEngine(model.spec.layers, model.tensors, { backend: options.backend, reason, rejected });
  if (request === 'tfjs') return tfjs("asked for engine 'tfjs'");
  if (request === 'auto' && gpu) {
    rejected.push({
      name: 'onnxruntime',
      why: `tfjs runs on the GPU (${options.backend}), faster than ${platform.onnxruntime} on the CPU`,
    });
    return tfjs(`'auto': the tfjs backend '${options.backend}' uses the GPU`);
  }
  if (request === 'auto' && platform.auto === 'browser' && options.backend !== 'cpu') {
    rejected.push({
      name: 'onnxruntime',
      why: `in browsers tfjs' ${options.backend} backend is faster than ${platform.onnxruntime} (wasm): 1.8–5.8x for DiracNet-34-1 in Chromium`,
    });
    return tfjs(`'auto' in a browser: tfjs (${options.backend})`);
  }
  if (!options.onnxruntime) {
    if (request === 'onnxruntime') {
      throw new BackendError(
        `engine 'onnxruntime' needs ONNX Runtime: pass it, e.g. load(source, { engine: 'onnxruntime', onnxruntime: () => import('${platform.onnxruntime}') })`,
      );
    }
    rejected.push({ name: 'onnxruntime', why: `${platform.onnxruntime} was not given (option onnxruntime)` });
    return tfjs(`'auto': no ONNX Runtime available, so tfjs (${options.backend})`);
  }
  try {
    return await onnxruntimeEngine(model, options.onnxruntime, options, {
      reason:
        request === 'onnxruntime'
          ? "asked for engine 'onnxruntime'"
          : `'auto': ${platform.onnxruntime} is available (${platform.provider} execution provider)`,
      rejected,
    });
  } catch (e) {
    if (request === 'onnxruntime') throw e;
    rejected.push({ name: 'onnxruntime', why: (e as Error).message });
    return tfjs(`'auto': ONNX Runtime failed, so tfjs (${options.backend})`);
  }
}

/** dtype 'int8': ONNX Runtime with the int8 QDQ graph (tfjs has no int8 kernels). */
async function int8Engine(
  model: Model,
  request: EngineRequest,
  options: CreateClassifierOptions,
): Promise<Engine> {
  const platform = options.platform ?? { onnxruntime: 'onnxruntime-web', provider: 'wasm', auto: 'browser' };
  if (request === 'tfjs') {
    throw new UsageError("dtype 'int8' runs on ONNX Runtime only: use engine 'onnxruntime' (or 'auto')");
  }
  const calibration = int8Calibration(model);
  if (!options.onnxruntime) {
    throw new BackendError(
      `dtype 'int8' needs ONNX Runtime: pass it, e.g. load(source, { dtype: 'int8', onnxruntime: () => import('${platform.onnxruntime}') })`,
    );
  }
  return onnxruntimeEngine(
    model,
    options.onnxruntime,
    options,
    { reason: "dtype 'int8': ONNX Runtime runs the int8 (QDQ) network", rejected: [] },
    { quantize: 'int8', calibration },
  );
}

/**
 * Builds the onnxruntime engine (imported only here) and frees the model's tfjs tensors, which the ONNX
 * Runtime session no longer needs.
 */
async function onnxruntimeEngine(
  model: Model,
  source: OnnxruntimeSource,
  options: CreateClassifierOptions,
  info: { reason: string; rejected: EngineInfo['rejected'] },
  quantization?: { quantize: 'int8'; calibration: CalibrationTable },
): Promise<Engine> {
  const platform = options.platform ?? { onnxruntime: 'onnxruntime-web', provider: 'wasm', auto: 'browser' };
  const { createOnnxruntimeEngine, resolveOnnxruntime } = await import('./engines/onnxruntime');
  const ort = await resolveOnnxruntime(source, platform.onnxruntime);
  const engine = await createOnnxruntimeEngine(
    model,
    ort,
    { backend: platform.provider, ...info },
    options.onnxruntimeOptions,
    quantization,
  );
  for (const t of Object.values(model.tensors)) t.dispose();
  return engine;
}
