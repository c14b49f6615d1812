/**
 * The onnxruntime engine: the folded model is turned into ONNX bytes in memory (@dirac/core/onnx, loaded
 * only here, with an NHWC input so that preprocessed batches go in as they are) and run by an ONNX Runtime
 * `InferenceSession`. Works for every model source: no model.onnx file is needed.
 */
import { BackendError, type Model } from '@dirac/core';
import type { CalibrationTable } from '@dirac/core/onnx';
import * as tf from '@tensorflow/tfjs-core';
import type {
  Engine,
  EngineInfo,
  OnnxruntimeModule,
  OnnxruntimeOptions,
  OnnxruntimeSource,
  OrtSessionLike,
} from './engine';

const GPU_BACKENDS = new Set(['webgl', 'webgpu']);

function isModule(m: unknown): m is OnnxruntimeModule {
  const o = m as Partial<OnnxruntimeModule> | undefined;
  return typeof o?.InferenceSession?.create === 'function' && typeof o?.Tensor === 'function';
}

/**
 * Resolves an {@link OnnxruntimeSource} to the module (a function is called and awaited; an ES module
 * namespace with only a `default` export is unwrapped).
 *
 * @throws BackendError when it cannot be imported or is not ONNX Runtime
 */
export async function resolveOnnxruntime(
  source: OnnxruntimeSource,
  what: string,
): Promise<OnnxruntimeModule> {
  let m: unknown;
  try {
    m = typeof source === 'function' ? await source() : source;
  } catch (e) {
    throw new BackendError(
      `${what} cannot be imported (${(e as Error).message}): install it (it is an optional peer dependency of @dirac/infer) or use engine 'tfjs'`,
      { cause: e },
    );
  }
  if (!isModule(m)) m = (m as { default?: unknown } | undefined)?.default;
  if (!isModule(m)) {
    throw new BackendError(`${what} is not ONNX Runtime (no InferenceSession.create / Tensor)`);
  }
  return m;
}

/**
 * Builds the onnxruntime engine for a folded model. The model's tfjs tensors are only read (the caller may
 * dispose them once this resolves).
 *
 * @throws BackendError when the session cannot be created
 */
export async function createOnnxruntimeEngine(
  model: Model,
  ort: OnnxruntimeModule,
  info: Omit<EngineInfo, 'name'>,
  options: OnnxruntimeOptions = {},
  quantization?: { quantize: 'int8'; calibration: CalibrationTable },
): Promise<Engine> {
  const { exportOnnx } = await import('@dirac/core/onnx');
  const bytes = exportOnnx(model, {
    inputLayout: 'NHWC',
    inputName: 'input',
    outputName: 'logits',
    ...quantization,
  });
  let session: OrtSessionLike | undefined;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [info.backend],
      graphOptimizationLevel: 'all',
      ...options.sessionOptions,
    });
  } catch (e) {
    throw new BackendError(
      `ONNX Runtime cannot run '${model.spec.name}' (${(e as Error).message}); use engine 'tfjs'`,
      { cause: e },
    );
  }
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const s = session;
  return {
    info: { name: 'onnxruntime', ...info },
    async run(x) {
      // CPU backends read synchronously at a third of the cost of data(); GPU backends must not block.
      const data = (GPU_BACKENDS.has(tf.getBackend()) ? await x.data() : x.dataSync()) as Float32Array;
      const input = new ort.Tensor('float32', data, x.shape);
      let out: Awaited<ReturnType<OrtSessionLike['run']>>;
      try {
        out = await s.run({ [inputName!]: input });
      } finally {
        input.dispose?.();
      }
      const y = out[outputName!]!;
      try {
        const [n, k] = y.dims as [number, number];
        // A copy: the session may reuse or free its output buffer.
        return tf.tensor2d((y.data as Float32Array).slice(), [n, k]);
      } finally {
        for (const t of Object.values(out)) t.dispose?.();
      }
    },
    async dispose() {
      await s.release();
    },
  };
}
