import { DataError } from '@dirac/core';
import type protobuf from 'protobufjs/light.js';
import { ModelProto } from './proto';

interface DecodedMetadata {
  metadataProps?: { key: string; value: string }[];
}

function decode(bytes: Uint8Array): protobuf.Message & DecodedMetadata {
  try {
    return ModelProto.decode(bytes) as protobuf.Message & DecodedMetadata;
  } catch (e) {
    throw new DataError(`not an ONNX model (${(e as Error).message})`, { cause: e });
  }
}

/** The `metadata_props` of an ONNX model as a plain object. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = decode(bytes);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value]));
}

/**
 * An ONNX model written by {@link exportOnnx} with `metadata_props` entries added or replaced (the rest of
 * the model unchanged). Fields this package does not write are not kept: use it on its own exports.
 */
export function withOnnxMetadata(bytes: Uint8Array, entries: Record<string, string>): Uint8Array {
  const m = decode(bytes);
  const props = new Map((m.metadataProps ?? []).map((p) => [p.key, p.value]));
  for (const [k, v] of Object.entries(entries)) props.set(k, v);
  m.metadataProps = [...props].map(([key, value]) => ({ key, value }));
  return ModelProto.encode(m).finish();
}
