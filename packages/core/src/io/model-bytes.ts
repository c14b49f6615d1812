import * as tf from '@tensorflow/tfjs-core';
import { SpecError } from '../errors';
import { checkTensors } from '../spec-tensors';
import type { Model, ModelSpec, TensorMap } from '../types';
import { parseSafetensors, serializeSafetensors, toFloat32 } from './safetensors';

/** Storage precision of serialized weights. */
export type WeightsDtype = 'float32' | 'float16';

/** A model as bytes: the JSON spec and one safetensors weights file. */
export interface SerializedModel {
  spec: ModelSpec;
  weights: Uint8Array;
}

/** Tensors to safetensors bytes (F32 or F16), in tfjs layout, with optional string metadata. */
export function tensorsToSafetensors(
  tensors: TensorMap,
  dtype: WeightsDtype = 'float32',
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => [
      name,
      {
        dtype: dtype === 'float16' ? ('F16' as const) : ('F32' as const),
        shape: t.shape,
        data: t.dataSync() as Float32Array,
      },
    ]),
  );
  return serializeSafetensors(entries, metadata);
}

/** Safetensors bytes to float32 tf tensors (F16/BF16/F64 are converted). The caller owns the tensors. */
export function safetensorsToTensors(bytes: Uint8Array): TensorMap {
  return toTfTensors(parseSafetensors(bytes).tensors);
}

function toTfTensors(tensors: ReturnType<typeof parseSafetensors>['tensors']): TensorMap {
  const out: TensorMap = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = tf.tensor(toFloat32(t), t.shape, 'float32');
  return out;
}

/** Checks a parsed JSON value is a model spec this version can read. */
export function checkSpec(value: unknown): ModelSpec {
  const spec = value as Partial<ModelSpec> | null;
  if (!spec || typeof spec !== 'object' || spec.format !== 'dirac-model') {
    throw new SpecError('not a DiracNet model spec (model.json must have "format": "dirac-model")');
  }
  if (spec.formatVersion !== 1) {
    throw new SpecError(
      `unsupported model format version ${String(spec.formatVersion)} (this library reads version 1)`,
    );
  }
  if (!Array.isArray(spec.layers) || (spec.form !== 'training' && spec.form !== 'folded')) {
    throw new SpecError('model spec needs a layers array and form "training" or "folded"');
  }
  return spec as ModelSpec;
}

/** A model to bytes. */
export function serializeModel(model: Model, dtype: WeightsDtype = 'float32'): SerializedModel {
  return {
    spec: structuredClone(model.spec),
    weights: tensorsToSafetensors(model.tensors, dtype, { format: 'dirac-model', form: model.spec.form }),
  };
}

/**
 * Bytes to a model, checking that the weights hold exactly the tensors the spec needs with the right
 * shapes before any tf tensor is created. The caller owns the returned tensors.
 */
export function deserializeModel(specJson: unknown, weights: Uint8Array): Model {
  const spec = checkSpec(specJson);
  const { tensors } = parseSafetensors(weights);
  checkTensors(spec, Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.shape])));
  return { spec, tensors: toTfTensors(tensors) };
}
