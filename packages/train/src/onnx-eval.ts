/**
 * Evaluation on ONNX Runtime: an exported .onnx file (float32, fp16 or int8) or a folded model turned into
 * ONNX in memory, run by onnxruntime-node (an optional peer dependency, imported only here).
 */
import { BackendError, DataError, type Model, UsageError } from '@dirac/core';
import { exportOnnx, readOnnxMetadata } from '@dirac/core/onnx';
import { type Batch, type EvalResult, EvalTally } from './evaluate';

type Ort = typeof import('onnxruntime-node');

/** An ONNX model ready to evaluate. */
export interface OnnxEvalModel {
  /** The model's name (metadata `name`, else the file). */
  name: string;
  numClasses: number;
  /** Input layout of the graph (metadata `inputLayout`; NCHW when absent). */
  layout: 'NCHW' | 'NHWC';
  /** `metadata_props` of the model. */
  metadata: Record<string, string>;
  /** Logits `[n, classes]` of a normalized NHWC batch. */
  run(x: Float32Array, n: number, h: number, w: number, c: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Imports onnxruntime-node, or says how to get it. */
export async function importOnnxruntime(): Promise<Ort> {
  try {
    const m = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    return m.InferenceSession ? m : m.default!;
  } catch (e) {
    throw new BackendError(
      `onnxruntime-node cannot be imported (${(e as Error).message}): install it (npm i onnxruntime-node) to use --engine onnxruntime`,
      { cause: e },
    );
  }
}

function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const base = b * hw * c;
    for (let p = 0; p < hw; p++) {
      for (let k = 0; k < c; k++) out[base + k * hw + p] = x[base + p * c + k]!;
    }
  }
  return out;
}

/**
 * Opens ONNX bytes (a file's, or {@link exportOnnx}'s) in onnxruntime-node for evaluation.
 *
 * @throws DataError when the bytes are not a model ONNX Runtime can load
 */
export async function openOnnxModel(bytes: Uint8Array, where: string, ort?: Ort): Promise<OnnxEvalModel> {
  const rt = ort ?? (await importOnnxruntime());
  const metadata = readOnnxMetadata(bytes);
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>>;
  try {
    session = await rt.InferenceSession.create(bytes);
  } catch (e) {
    throw new DataError(`${where}: ONNX Runtime cannot load it (${(e as Error).message})`, { cause: e });
  }
  const layout = metadata.inputLayout === 'NHWC' ? 'NHWC' : 'NCHW';
  const numClasses = Number(metadata.numClasses);
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  return {
    name: metadata.name ?? where,
    numClasses: Number.isInteger(numClasses) && numClasses > 0 ? numClasses : 0,
    layout,
    metadata,
    async run(x, n, h, w, c) {
      const data = layout === 'NHWC' ? x : nhwcToNchw(x, n, h, w, c);
      const input = new rt.Tensor('float32', data, layout === 'NHWC' ? [n, h, w, c] : [n, c, h, w]);
      const out = await session.run({ [inputName!]: input });
      const y = out[outputName!]!;
      const logits = (y.data as Float32Array).slice();
      for (const t of Object.values(out)) t.dispose();
      input.dispose();
      return logits;
    },
    release: () => session.release(),
  };
}

/** A folded model as an in-memory ONNX model (NHWC input) on onnxruntime-node. */
export function onnxFromModel(model: Model, ort?: Ort): Promise<OnnxEvalModel> {
  return openOnnxModel(exportOnnx(model, { inputLayout: 'NHWC' }), model.spec.name, ort);
}

/**
 * Top-1/top-5, mean cross-entropy and per-class top-1 of an ONNX model over normalized NHWC batches,
 * computed in float64 from its logits (the same numbers `evaluate()` reports on tfjs). Images are square
 * with `channels` channels.
 */
export async function evaluateOnnx(
  model: OnnxEvalModel,
  batches: Iterable<Batch> | AsyncIterable<Batch>,
  onBatch?: (seen: number) => void,
  channels = 3,
): Promise<EvalResult> {
  let k = model.numClasses;
  let tally: EvalTally | undefined;
  for await (const b of batches) {
    // Square images (CIFAR 32x32, centre crops of image folders).
    const side = Math.round(Math.sqrt(b.x.length / (b.n * channels)));
    const logits = await model.run(b.x, b.n, side, side, channels);
    if (!k) k = logits.length / b.n;
    tally ??= new EvalTally(k);
    if (logits.length !== b.n * k) {
      throw new UsageError(`the model gives ${logits.length / b.n} logits per image; expected ${k}`);
    }
    for (let i = 0; i < b.n; i++) {
      const row = logits.subarray(i * k, (i + 1) * k);
      const label = b.y[i]!;
      let max = Number.NEGATIVE_INFINITY;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      tally.addLoss(Math.log(sum) + max - row[label]!);
      // Rank of the label: how many classes score higher (ties broken by index, as topk does).
      let rank = 0;
      for (let j = 0; j < k; j++) {
        if (row[j]! > row[label]! || (row[j] === row[label] && j < label)) rank++;
      }
      tally.add(label, rank);
    }
    onBatch?.(tally.n);
  }
  return (tally ?? new EvalTally(k)).result();
}
