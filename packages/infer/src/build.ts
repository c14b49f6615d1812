import {
  type BackendInfo,
  DataError,
  deserializeModel,
  MissingTensorError,
  type Model,
  SafetensorsError,
  ShapeError,
  SpecError,
} from '@dirac/core';
import { DiracClassifier, type PixelReader } from './classifier';
import type { LoadOptions, ResolvedModel } from './load';

/** Options of {@link createClassifier}. */
export interface CreateClassifierOptions {
  /** The tfjs backend in use (for reports). */
  backend: string;
  /** How the backend was chosen. */
  backendInfo?: BackendInfo;
  /** Extra input reader (the Node entry's files and encoded bytes). */
  readPixels?: PixelReader;
  /** Run the network once before returning (default true). */
  warmup?: boolean;
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
  let clf: DiracClassifier<I>;
  try {
    clf = new DiracClassifier<I>({
      spec: model.spec,
      tensors: model.tensors,
      backend: options.backend,
      backendInfo: options.backendInfo,
      readPixels: options.readPixels,
    });
  } catch (e) {
    for (const t of Object.values(model.tensors)) t.dispose();
    throw explain(e, `model '${model.spec.name}'`);
  }
  if (options.warmup ?? true) await clf.warmup();
  options.onProgress?.({ status: 'ready', name: model.spec.name, file: model.spec.name });
  return clf;
}
