import * as tf from '@tensorflow/tfjs-core';

interface WasmHeapBackend {
  refCount(dataId: tf.DataId): number;
  typedArrayFromHeap(info: tf.TensorInfo): ArrayBufferView;
}

function wasmBackend(): WasmHeapBackend | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as Partial<WasmHeapBackend>;
  return typeof b.typedArrayFromHeap === 'function' && typeof b.refCount === 'function'
    ? (b as WasmHeapBackend)
    : null;
}

/**
 * Live float32 views of tensors' data in the wasm heap, for element-wise updates in place (an optimizer step
 * touches every parameter once, and a JavaScript loop over the heap costs far less than a dozen tfjs ops
 * per parameter). Returns null unless the active backend is wasm, every tensor is float32, and each
 * tensor in `exclusive` is the only holder of its data (writing would otherwise change other tensors).
 * Views are invalidated by any later tensor allocation (the heap may grow): take them, use them, drop them.
 */
export function wasmHeapViews(tensors: tf.Tensor[], exclusive: tf.Tensor[] = tensors): Float32Array[] | null {
  const b = wasmBackend();
  if (!b) return null;
  if (tensors.some((t) => t.dtype !== 'float32' || t.isDisposed)) return null;
  if (exclusive.some((t) => b.refCount(t.dataId) !== 1)) return null;
  return tensors.map((t) => b.typedArrayFromHeap(t) as Float32Array);
}
