/**
 * Reads PyTorch checkpoints (`torch.save` files) as data only, with no Python.
 *
 * Formats:
 * - `zip`: PyTorch >= 1.6 (`<top>/data.pkl`, `<top>/data/<key>`, `<top>/version`, optional
 *   `<top>/byteorder`; the top folder name varies). Stored entries are read in place; deflated entries
 *   need `options.inflateRaw` (e.g. `(b) => zlib.inflateRawSync(b)` from `node:zlib`). This module itself
 *   uses no Node built-ins, so it also runs in browsers.
 * - `legacy`: `torch.save(..., _use_new_zipfile_serialization=False)` and every torch of 2017–2019
 *   (magic number, protocol version and sys_info pickles, the main pickle, the storage-key list, then
 *   each storage as an 8-byte element count and raw data). Storages saved from CUDA
 *   (`torch.cuda.FloatStorage`, …) load the same way.
 *
 * Security: the pickles are interpreted by {@link unpickle}, which runs no code. Only these globals are
 * resolved: `collections.OrderedDict`; `torch._utils._rebuild_tensor`, `_rebuild_tensor_v2`,
 * `_rebuild_tensor_v3`, `_rebuild_parameter`, `_rebuild_parameter_with_state`;
 * `torch._tensor._rebuild_from_type_v2` (with new_type `torch.Tensor` or `torch.nn.parameter.Parameter`);
 * the storage classes `torch[.cuda].{Float,Double,Half,BFloat16,Long,Int,Byte,Char,Bool}Storage` and
 * `torch[.storage].UntypedStorage`; dtypes (`torch.float32`, `torch.float`, …); `torch.device` (becomes a
 * string such as `'cuda:0'`) and `torch.Size` (becomes a tuple). Every other global (`os.system`,
 * `builtins.eval`, any nn.Module class, `argparse.Namespace`, …) is refused with a `DataError`
 * "refusing to load <module>.<name>: a checkpoint may only rebuild tensors". Every size, offset and
 * stride is checked against the bytes actually present before anything is allocated, and the total size
 * of the decoded tensors is bounded by `maxTensorBytes`.
 */
import { DataError } from '@dirac/core';
import {
  describePy,
  isPyTuple,
  PyCallable,
  PyGlobalRef,
  pyTuple,
  refuseGlobal,
  type UnpickleLimits,
  unpickle,
} from './torch-pickle';

export type TorchDtype =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'uint8'
  | 'int8'
  | 'bool';

export type TorchFloatDtype = 'float32' | 'float64' | 'float16' | 'bfloat16';

interface TorchTensorBase {
  /** Sizes, outermost first (`[]` for a scalar). `data` is always contiguous (row-major) in this order. */
  readonly shape: number[];
  /** The `requires_grad` flag saved with the tensor (true for `nn.Parameter`s by default). */
  readonly requiresGrad: boolean;
}

/**
 * A tensor read from a checkpoint, always materialized contiguously (views, storage offsets and strides
 * already applied). `data` by dtype:
 * - float32 / float64 / float16 / bfloat16 → `Float32Array` (float64 rounded to float32);
 * - int64 → `Float64Array` (exact for |v| <= 2^53, rounded beyond);
 * - int32 → `Int32Array`; int8 → `Int8Array`; uint8 → `Uint8Array`; bool → `Uint8Array` of 0/1.
 */
export type TorchTensor =
  | (TorchTensorBase & { readonly dtype: TorchFloatDtype; readonly data: Float32Array })
  | (TorchTensorBase & { readonly dtype: 'int64'; readonly data: Float64Array })
  | (TorchTensorBase & { readonly dtype: 'int32'; readonly data: Int32Array })
  | (TorchTensorBase & { readonly dtype: 'uint8' | 'bool'; readonly data: Uint8Array })
  | (TorchTensorBase & { readonly dtype: 'int8'; readonly data: Int8Array });

export interface TorchCheckpoint {
  format: 'zip' | 'legacy';
  /**
   * The whole unpickled object graph. Tensors are {@link TorchTensor}s (test with `isTorchTensor`);
   * `dict` and `OrderedDict` are `Map`s (key order kept, int keys stay numbers); lists are arrays; tuples
   * are frozen arrays; sets are `Set`s; `None` is `null`; ints are numbers, or bigints beyond 2^53;
   * bytes are `Uint8Array`s; dtypes are `TorchDtypeRef`s.
   */
  root: unknown;
  /**
   * The tensors of the state dict, flattened: the dict under `'state_dict'`, `'params'` or `'model'` of
   * the root when there is one (first match in that order), else the root dict itself. Keys as they
   * appear; nested dicts are joined with `'.'`. Non-tensor leaves are skipped. A null-prototype object.
   */
  tensors: Record<string, TorchTensor>;
  /**
   * The root's other string-keyed entries, as they are in `root` (e.g. `epoch: 7`, `optimizer: Map`).
   * When the root itself is the state dict, its entries that hold no tensor. A null-prototype object.
   */
  extras: Record<string, unknown>;
}

export interface ReadTorchCheckpointOptions {
  /** Most bytes that all decoded tensors (and inflated zip entries) may take together. Default 4 GiB. */
  maxTensorBytes?: number;
  /**
   * Decompresses a raw-deflate zip entry (method 8). Not needed for checkpoints written by torch, whose
   * entries are stored. In Node: `(data) => zlib.inflateRawSync(data)`.
   */
  inflateRaw?: (compressed: Uint8Array, uncompressedSize: number) => Uint8Array;
  /** Check the CRC-32 of every zip entry that is read. Default true. */
  verifyChecksums?: boolean;
  /** Limits for the pickle interpreter. */
  pickleLimits?: UnpickleLimits;
}

/** A torch dtype object (`torch.float32`, …) found in a pickle. */
export class TorchDtypeRef extends PyGlobalRef {
  constructor(
    name: string,
    readonly dtype: TorchDtype,
  ) {
    super('torch', name);
  }
}

/** A storage class (`torch.FloatStorage`, `torch.UntypedStorage`, …). `dtype` null means untyped bytes. */
class StorageClassRef extends PyGlobalRef {
  constructor(
    module: string,
    name: string,
    readonly dtype: TorchDtype | null,
  ) {
    super(module, name);
  }
}

const ITEM_SIZE: Record<TorchDtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  uint8: 1,
  int8: 1,
  bool: 1,
};

/** Bytes per element of the decoded `data` array. */
const OUT_ITEM_SIZE: Record<TorchDtype, number> = {
  float32: 4,
  float64: 4,
  float16: 4,
  bfloat16: 4,
  int64: 8,
  int32: 4,
  uint8: 1,
  int8: 1,
  bool: 1,
};

const STORAGE_CLASSES: Record<string, TorchDtype> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ByteStorage: 'uint8',
  CharStorage: 'int8',
  BoolStorage: 'bool',
};

const DTYPE_NAMES: Record<string, TorchDtype> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  uint8: 'uint8',
  int8: 'int8',
  bool: 'bool',
};

const DEFAULT_MAX_TENSOR_BYTES = 4 * 1024 ** 3;
const MAX_FLATTEN_ENTRIES = 1_000_000;
const MAX_FLATTEN_DEPTH = 100;

const tensorObjects = new WeakSet<object>();

/** True for the tensor objects that {@link readTorchCheckpoint} puts into `root` and `tensors`. */
export function isTorchTensor(value: unknown): value is TorchTensor {
  return typeof value === 'object' && value !== null && tensorObjects.has(value);
}

/** The tensor's values as a Float32Array (the same array for float dtypes, a converted copy otherwise). */
export function torchTensorToFloat32(t: TorchTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

// --------------------------------------------------------------------------------------------------------
// Storages and tensor rebuilding

interface StorageRoot {
  key: string;
  dtype: TorchDtype;
  /** Elements declared in the pickle. */
  declaredNumel: number;
  /** Set once the storage's bytes are located. */
  bytes?: Uint8Array;
}

/** What a persistent id resolves to: a whole storage, or (legacy view_metadata) a slice of one. */
class StorageSlice {
  constructor(
    readonly root: StorageRoot,
    /** Offset of the slice in root elements. */
    readonly elementOffset: number,
    readonly numel: number,
  ) {}
}

interface MutableTensor {
  dtype: TorchDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array;
  requiresGrad: boolean;
}

interface PendingTensor {
  tensor: MutableTensor;
  slice: StorageSlice;
  /** Offset and strides in elements of the tensor's dtype, relative to the slice's start. */
  offset: number;
  stride: number[];
  numel: number;
}

interface LoadState {
  maxTensorBytes: number;
  totalBytes: number;
  pending: PendingTensor[];
  roots: Map<string, StorageRoot>;
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new DataError(`tensor ${what} is not a tuple (got ${describePy(v)})`);
  if (v.length > 64) throw new DataError(`tensor ${what} has ${v.length} dimensions`);
  return v.map((x) => {
    if (!isSafeCount(x))
      throw new DataError(`tensor ${what} holds ${describePy(x)}, not a non-negative integer`);
    return x;
  });
}

function rebuildTensor(
  state: LoadState,
  storage: unknown,
  storageOffset: unknown,
  size: unknown,
  stride: unknown,
  requiresGrad: unknown,
  dtypeOverride: TorchDtype | null,
): MutableTensor {
  if (!(storage instanceof StorageSlice)) {
    throw new DataError(`tensor storage is ${describePy(storage)}, not a storage from this checkpoint`);
  }
  if (!isSafeCount(storageOffset))
    throw new DataError(`tensor storage offset ${describePy(storageOffset)} is invalid`);
  const shape = intTuple(size, 'size');
  const strides = intTuple(stride, 'stride');
  if (strides.length !== shape.length) {
    throw new DataError(`tensor size has ${shape.length} dimensions but stride has ${strides.length}`);
  }
  const dtype = dtypeOverride ?? storage.root.dtype;
  const outItem = OUT_ITEM_SIZE[dtype];
  let numel = shape.includes(0) ? 0 : 1;
  for (const s of numel === 0 ? [] : shape) {
    numel *= s;
    if (numel * outItem > state.maxTensorBytes) {
      throw new DataError(
        `tensor of shape [${shape.join(', ')}] exceeds maxTensorBytes (${state.maxTensorBytes} bytes)`,
      );
    }
  }
  if (numel > 0) {
    let last = storageOffset;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * strides[d]!;
    const sliceBytes = storage.numel * ITEM_SIZE[storage.root.dtype];
    if ((last + 1) * ITEM_SIZE[dtype] > sliceBytes) {
      throw new DataError(
        `tensor view (offset ${storageOffset}, size [${shape.join(', ')}], stride [${strides.join(', ')}]) ` +
          `does not fit in its storage '${storage.root.key}' of ${sliceBytes} bytes`,
      );
    }
  }
  state.totalBytes += numel * outItem;
  if (state.totalBytes > state.maxTensorBytes) {
    throw new DataError(`tensors exceed maxTensorBytes (${state.maxTensorBytes} bytes) in total`);
  }
  if (typeof requiresGrad !== 'boolean') throw new DataError('tensor requires_grad is not a bool');
  const tensor: MutableTensor = { dtype, shape, data: new Float32Array(0), requiresGrad };
  tensorObjects.add(tensor);
  state.pending.push({ tensor, slice: storage, offset: storageOffset, stride: strides, numel });
  return tensor;
}

function asTensor(v: unknown, what: string): MutableTensor {
  if (!isTorchTensor(v)) throw new DataError(`${what}: expected a tensor, got ${describePy(v)}`);
  return v as unknown as MutableTensor;
}

function argsBetween(args: readonly unknown[], min: number, max: number, name: string): void {
  if (args.length < min || args.length > max) {
    throw new DataError(`${name} called with ${args.length} arguments`);
  }
}

function makeResolver(state: LoadState): (module: string, name: string) => unknown {
  const rebuildV2 = new PyCallable('torch._utils._rebuild_tensor_v2', (a) => {
    argsBetween(a, 6, 7, '_rebuild_tensor_v2');
    return rebuildTensor(state, a[0], a[1], a[2], a[3], a[4], null);
  });
  const rebuildV1 = new PyCallable('torch._utils._rebuild_tensor', (a) => {
    argsBetween(a, 4, 4, '_rebuild_tensor');
    return rebuildTensor(state, a[0], a[1], a[2], a[3], false, null);
  });
  const rebuildV3 = new PyCallable('torch._utils._rebuild_tensor_v3', (a) => {
    argsBetween(a, 7, 8, '_rebuild_tensor_v3');
    const dtype = a[6];
    if (!(dtype instanceof TorchDtypeRef))
      throw new DataError(`_rebuild_tensor_v3 dtype is ${describePy(dtype)}`);
    return rebuildTensor(state, a[0], a[1], a[2], a[3], a[4], dtype.dtype);
  });
  const rebuildParameter = (name: string, min: number, max: number) =>
    new PyCallable(`torch._utils.${name}`, (a) => {
      argsBetween(a, min, max, name);
      const t = asTensor(a[0], name);
      if (typeof a[1] !== 'boolean') throw new DataError(`${name} requires_grad is not a bool`);
      t.requiresGrad = a[1];
      return t;
    });
  const callables: Record<string, PyCallable> = {
    'torch._utils._rebuild_tensor_v2': rebuildV2,
    'torch._utils._rebuild_tensor': rebuildV1,
    'torch._utils._rebuild_tensor_v3': rebuildV3,
    'torch._utils._rebuild_parameter': rebuildParameter('_rebuild_parameter', 3, 3),
    'torch._utils._rebuild_parameter_with_state': rebuildParameter('_rebuild_parameter_with_state', 4, 4),
    'collections.OrderedDict': new PyCallable('collections.OrderedDict', (a) => {
      argsBetween(a, 0, 1, 'OrderedDict');
      const map = new Map<unknown, unknown>();
      const src = a[0];
      if (src === undefined) return map;
      if (src instanceof Map) return new Map(src);
      if (!Array.isArray(src)) throw new DataError(`OrderedDict of ${describePy(src)}`);
      for (const pair of src) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new DataError('OrderedDict item is not a pair');
        map.set(pair[0], pair[1]);
      }
      return map;
    }),
    'torch.device': new PyCallable('torch.device', (a) => {
      argsBetween(a, 1, 2, 'torch.device');
      if (typeof a[0] !== 'string') throw new DataError('torch.device type is not a string');
      if (a.length === 2 && a[1] !== null && !isSafeCount(a[1]))
        throw new DataError('torch.device index is invalid');
      return a.length === 2 && a[1] !== null ? `${a[0]}:${a[1] as number}` : a[0];
    }),
    'torch.Size': new PyCallable('torch.Size', (a) => {
      argsBetween(a, 0, 1, 'torch.Size');
      return pyTuple(a[0] === undefined ? [] : intTuple(a[0], 'torch.Size'));
    }),
  };
  const tensorTypes = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);
  callables['torch._tensor._rebuild_from_type_v2'] = new PyCallable(
    'torch._tensor._rebuild_from_type_v2',
    (a) => {
      argsBetween(a, 4, 4, '_rebuild_from_type_v2');
      const [func, newType, args] = a;
      if (!(newType instanceof PyGlobalRef) || !tensorTypes.has(newType.qualifiedName)) {
        throw new DataError(`_rebuild_from_type_v2 to ${describePy(newType)} is not allowed`);
      }
      if (!(func instanceof PyCallable) || !func.qualifiedName.startsWith('torch._utils._rebuild_')) {
        throw new DataError(`_rebuild_from_type_v2 with ${describePy(func)} is not allowed`);
      }
      if (!Array.isArray(args)) throw new DataError('_rebuild_from_type_v2 arguments are not a tuple');
      return func.invoke(args);
    },
  );

  return (module, name) => {
    const qualified = `${module}.${name}`;
    const fn = Object.hasOwn(callables, qualified) ? callables[qualified] : undefined;
    if (fn !== undefined) return fn;
    if (tensorTypes.has(qualified)) return new PyGlobalRef(module, name);
    if (
      (module === 'torch' || module === 'torch.storage') &&
      (name === 'UntypedStorage' || name === '_UntypedStorage')
    ) {
      return new StorageClassRef(module, name, null);
    }
    if (module === 'torch' || module === 'torch.cuda') {
      if (Object.hasOwn(STORAGE_CLASSES, name))
        return new StorageClassRef(module, name, STORAGE_CLASSES[name]!);
      if (module === 'torch' && Object.hasOwn(DTYPE_NAMES, name)) {
        return new TorchDtypeRef(name, DTYPE_NAMES[name]!);
      }
      if (name.endsWith('Storage')) throw new DataError(`unsupported storage type ${qualified}`);
    }
    throw refuseGlobal(module, name);
  };
}

function storageDtypeOf(storageType: unknown): TorchDtype {
  if (storageType instanceof StorageClassRef) return storageType.dtype ?? 'uint8';
  if (storageType instanceof TorchDtypeRef) return storageType.dtype;
  throw new DataError(`storage type ${describePy(storageType)} is not a torch storage class or dtype`);
}

function storageKey(v: unknown): string {
  if (typeof v === 'string' && v.length > 0 && v.length <= 256) return v;
  if (isSafeCount(v)) return String(v);
  throw new DataError(`storage key ${describePy(v)} is invalid`);
}

function getRoot(state: LoadState, key: string, dtype: TorchDtype, numel: number): StorageRoot {
  const existing = state.roots.get(key);
  if (existing !== undefined) {
    if (existing.dtype !== dtype) {
      throw new DataError(`storage '${key}' is used as both ${existing.dtype} and ${dtype}`);
    }
    existing.declaredNumel = Math.max(existing.declaredNumel, numel);
    return existing;
  }
  const root: StorageRoot = { key, dtype, declaredNumel: numel };
  state.roots.set(key, root);
  return root;
}

function persistentLoader(state: LoadState, format: 'zip' | 'legacy'): (pid: unknown) => unknown {
  const views = new Map<string, StorageSlice>();
  return (pid) => {
    if (!isPyTuple(pid) || pid.length === 0)
      throw new DataError(`persistent id ${describePy(pid)} is not a tuple`);
    const kind = pid[0];
    if (kind === 'module') {
      throw new DataError('refusing to load a pickled nn.Module (save and load its state_dict() instead)');
    }
    if (kind !== 'storage') throw new DataError(`unknown persistent id type ${describePy(kind)}`);
    const expected = format === 'zip' ? 5 : 6;
    if (pid.length !== expected) throw new DataError(`storage persistent id has ${pid.length} fields`);
    const dtype = storageDtypeOf(pid[1]);
    const key = storageKey(pid[2]);
    if (typeof pid[3] !== 'string') throw new DataError(`storage '${key}' location is not a string`);
    const numel = pid[4];
    if (!isSafeCount(numel)) throw new DataError(`storage '${key}' size ${describePy(numel)} is invalid`);
    if (numel * ITEM_SIZE[dtype] > state.maxTensorBytes) {
      throw new DataError(`storage '${key}' declares ${numel} elements, more than maxTensorBytes allows`);
    }
    const root = getRoot(state, key, dtype, numel);
    const viewMetadata = format === 'legacy' ? pid[5] : null;
    if (viewMetadata === null || viewMetadata === undefined) return new StorageSlice(root, 0, numel);
    if (!isPyTuple(viewMetadata) || viewMetadata.length !== 3)
      throw new DataError('storage view metadata is malformed');
    const viewKey = storageKey(viewMetadata[0]);
    const known = views.get(viewKey);
    if (known !== undefined) return known;
    const [, offset, size] = viewMetadata;
    if (!isSafeCount(offset) || !isSafeCount(size) || offset + size > numel) {
      throw new DataError(`storage view '${viewKey}' does not fit in storage '${key}'`);
    }
    const view = new StorageSlice(root, offset, size);
    views.set(viewKey, view);
    return view;
  };
}

// --------------------------------------------------------------------------------------------------------
// Decoding

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let halfTable: Float32Array | undefined;

type WordArray = Uint8Array | Uint16Array | Uint32Array;

function wordArray(
  bytesPerWord: number,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): WordArray {
  if (bytesPerWord === 1) return new Uint8Array(buffer, byteOffset, length);
  if (bytesPerWord === 2) return new Uint16Array(buffer, byteOffset, length);
  return new Uint32Array(buffer, byteOffset, length);
}

/**
 * Copies the strided view (`offset`, `shape`, `stride`, all in words) of `src` into `out`, contiguously.
 * Dimensions of size 1 are dropped and dimensions that are contiguous with each other are merged first,
 * so a contiguous tensor is a single copy.
 */
function gather(src: WordArray, out: WordArray, offset: number, shape: number[], stride: number[]): void {
  const dims: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    const st = stride[d]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides[last] === st * n) {
      dims[last] = dims[last]! * n;
      strides[last] = st;
    } else {
      dims.push(n);
      strides.push(st);
    }
  }
  if (dims.length === 0) {
    out[0] = src[offset]!;
    return;
  }
  const rank = dims.length;
  const n = dims[rank - 1]!;
  const s = strides[rank - 1]!;
  const total = out.length;
  const idx = new Array<number>(rank).fill(0);
  let base = offset;
  for (let o = 0; o < total; ) {
    if (s === 1 && n >= 32) {
      out.set(src.subarray(base, base + n), o);
      o += n;
    } else {
      for (let i = 0, j = base; i < n; i++, j += s) out[o++] = src[j]!;
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]! += 1;
      base += strides[d]!;
      if (idx[d]! < dims[d]!) break;
      base -= strides[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
}

/** Decodes one tensor. Typed arrays use the host's byte order, which is little-endian on every JS platform. */
function materialize(p: PendingTensor, littleEndian: boolean): void {
  const { tensor, slice, offset, stride, numel } = p;
  const bytes = slice.root.bytes;
  if (bytes === undefined) throw new DataError(`storage '${slice.root.key}' has no data in the checkpoint`);
  const dtype = tensor.dtype;
  const item = ITEM_SIZE[dtype];
  if (numel === 0) {
    tensor.data = allocate(dtype, 0);
    return;
  }
  const shape = tensor.shape;
  // Byte range of the view inside the storage (already checked to fit when the tensor was rebuilt).
  const startByte = slice.elementOffset * ITEM_SIZE[slice.root.dtype] + offset * item;
  let maxIndex = 0;
  for (let d = 0; d < shape.length; d++) maxIndex += (shape[d]! - 1) * stride[d]!;
  const spanBytes = (maxIndex + 1) * item;
  // 8-byte items move as two 4-byte words: one more dimension of 2, strides doubled.
  const word = Math.min(item, 4);
  const perItem = item / word;
  const wShape = perItem === 1 ? shape : [...shape, perItem];
  const wStride = perItem === 1 ? stride : [...stride.map((v) => v * perItem), 1];
  const src =
    (bytes.byteOffset + startByte) % word === 0
      ? wordArray(word, bytes.buffer, bytes.byteOffset + startByte, spanBytes / word)
      : wordArray(word, bytes.slice(startByte, startByte + spanBytes).buffer, 0, spanBytes / word);
  const buffer = new ArrayBuffer(numel * item);
  gather(src, wordArray(word, buffer, 0, (numel * item) / word), 0, wShape, wStride);
  if (!littleEndian && item > 1) {
    const b = new Uint8Array(buffer);
    for (let i = 0; i < b.length; i += item) b.subarray(i, i + item).reverse();
  }
  switch (dtype) {
    case 'float32':
      tensor.data = new Float32Array(buffer);
      return;
    case 'int32':
      tensor.data = new Int32Array(buffer);
      return;
    case 'uint8':
      tensor.data = new Uint8Array(buffer);
      return;
    case 'int8':
      tensor.data = new Int8Array(buffer);
      return;
    case 'bool': {
      const b = new Uint8Array(buffer);
      for (let i = 0; i < b.length; i++) b[i] = b[i] !== 0 ? 1 : 0;
      tensor.data = b;
      return;
    }
    case 'float64':
      tensor.data = new Float32Array(new Float64Array(buffer));
      return;
    case 'float16': {
      if (halfTable === undefined) {
        halfTable = new Float32Array(65536);
        for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
      }
      const table = halfTable;
      const h = new Uint16Array(buffer);
      const out = new Float32Array(numel);
      for (let i = 0; i < numel; i++) out[i] = table[h[i]!]!;
      tensor.data = out;
      return;
    }
    case 'bfloat16': {
      const h = new Uint16Array(buffer);
      const out = new Float32Array(numel);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) bits[i] = h[i]! << 16;
      tensor.data = out;
      return;
    }
    case 'int64': {
      const w = new Uint32Array(buffer);
      const out = new Float64Array(numel);
      for (let i = 0; i < numel; i++) out[i] = (w[2 * i + 1]! | 0) * 0x1_0000_0000 + w[2 * i]!;
      tensor.data = out;
      return;
    }
  }
}

function allocate(dtype: TorchDtype, n: number): MutableTensor['data'] {
  switch (dtype) {
    case 'float32':
    case 'float64':
    case 'float16':
    case 'bfloat16':
      return new Float32Array(n);
    case 'int64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'int8':
      return new Int8Array(n);
  }
}

function finish(state: LoadState, littleEndian: boolean): void {
  for (const root of state.roots.values()) {
    if (root.bytes === undefined) continue;
    const needed = root.declaredNumel * ITEM_SIZE[root.dtype];
    if (root.bytes.length < needed) {
      throw new DataError(
        `storage '${root.key}' declares ${root.declaredNumel} ${root.dtype} elements (${needed} bytes) ` +
          `but only ${root.bytes.length} bytes are present`,
      );
    }
  }
  for (const p of state.pending) {
    const root = p.slice.root;
    if (root.bytes === undefined) throw new DataError(`storage '${root.key}' has no data in the checkpoint`);
    // Re-check the slice against the bytes present (legacy storages carry their own element count).
    const sliceEnd = (p.slice.elementOffset + p.slice.numel) * ITEM_SIZE[root.dtype];
    if (sliceEnd > root.bytes.length) throw new DataError(`storage '${root.key}' is shorter than its views`);
  }
  for (const p of state.pending) materialize(p, littleEndian);
}

// --------------------------------------------------------------------------------------------------------
// Zip

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function readU64(dv: DataView, o: number, what: string): number {
  const lo = dv.getUint32(o, true);
  const hi = dv.getUint32(o + 4, true);
  if (hi > 0x1fffff) throw new DataError(`zip: ${what} is too large`);
  return hi * 0x1_0000_0000 + lo;
}

function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50 && i + 22 + dv.getUint16(i + 20, true) <= n) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DataError('zip: end of central directory not found (truncated or not a zip file)');
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new DataError('zip: zip64 locator missing');
    const rec = readU64(dv, loc + 8, 'zip64 record offset');
    if (rec + 56 > n || dv.getUint32(rec, true) !== 0x06064b50)
      throw new DataError('zip: zip64 record missing');
    count = readU64(dv, rec + 32, 'entry count');
    cdSize = readU64(dv, rec + 40, 'central directory size');
    cdOffset = readU64(dv, rec + 48, 'central directory offset');
  }
  if (cdOffset + cdSize > n) throw new DataError('zip: central directory lies outside the file (truncated?)');
  if (count > cdSize / 46) throw new DataError('zip: entry count does not fit in the central directory');
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || dv.getUint32(p, true) !== 0x02014b50) {
      throw new DataError('zip: corrupt central directory');
    }
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let uncompressedSize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    const nameStart = p + 46;
    const extraStart = nameStart + nameLen;
    const next = extraStart + extraLen + commentLen;
    if (next > cdOffset + cdSize) throw new DataError('zip: corrupt central directory entry');
    const name = decoder.decode(bytes.subarray(nameStart, extraStart));
    // zip64 extended information: the 0xffffffff fields, in this order.
    let e = extraStart;
    while (e + 4 <= extraStart + extraLen) {
      const id = dv.getUint16(e, true);
      const len = dv.getUint16(e + 2, true);
      if (e + 4 + len > extraStart + extraLen) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (what: string): number => {
          if (q + 8 > e + 4 + len) throw new DataError('zip: short zip64 extra field');
          const v = readU64(dv, q, what);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('entry size');
        if (compressedSize === 0xffffffff) compressedSize = take('entry size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('entry offset');
      }
      e += 4 + len;
    }
    if (entries.has(name)) throw new DataError(`zip: duplicate entry '${name}'`);
    entries.set(name, {
      name,
      method,
      flags,
      crc32: crc,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
    });
    p = next;
  }
  return entries;
}

function zipEntryData(
  bytes: Uint8Array,
  entry: ZipEntry,
  options: ReadTorchCheckpointOptions,
  maxBytes: number,
): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.localHeaderOffset;
  if (h + 30 > bytes.length || dv.getUint32(h, true) !== 0x04034b50) {
    throw new DataError(`zip: bad local header for '${entry.name}'`);
  }
  if (entry.flags & 1) throw new DataError(`zip: entry '${entry.name}' is encrypted`);
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + entry.compressedSize > bytes.length) {
    throw new DataError(`zip: entry '${entry.name}' extends past the end of the file (truncated?)`);
  }
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize)
      throw new DataError(`zip: stored entry '${entry.name}' sizes differ`);
    data = raw;
  } else if (entry.method === 8) {
    if (options.inflateRaw === undefined) {
      throw new DataError(
        `zip: entry '${entry.name}' is deflate-compressed; pass options.inflateRaw (e.g. zlib.inflateRawSync)`,
      );
    }
    if (entry.uncompressedSize > maxBytes) {
      throw new DataError(`zip: entry '${entry.name}' inflates to more than maxTensorBytes allows`);
    }
    data = options.inflateRaw(raw, entry.uncompressedSize);
    if (data.length !== entry.uncompressedSize)
      throw new DataError(`zip: entry '${entry.name}' inflated to the wrong size`);
  } else {
    throw new DataError(`zip: entry '${entry.name}' uses unsupported compression method ${entry.method}`);
  }
  if (options.verifyChecksums !== false && crc32(data) !== entry.crc32) {
    throw new DataError(`zip: CRC mismatch in entry '${entry.name}' (corrupt file)`);
  }
  return data;
}

function readZipCheckpoint(
  bytes: Uint8Array,
  options: ReadTorchCheckpointOptions,
  state: LoadState,
): unknown {
  const entries = readZipDirectory(bytes);
  const pickles = [...entries.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (pickles.length === 0)
    throw new DataError('zip file is not a PyTorch checkpoint: no <name>/data.pkl entry');
  if (pickles.length > 1) throw new DataError(`zip file has several data.pkl entries: ${pickles.join(', ')}`);
  const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
  const read = (entry: ZipEntry) => zipEntryData(bytes, entry, options, state.maxTensorBytes);
  let littleEndian = true;
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined) {
    const text = new TextDecoder().decode(read(byteorder)).trim();
    if (text !== 'little' && text !== 'big')
      throw new DataError(`zip: unknown byteorder '${text.slice(0, 20)}'`);
    littleEndian = text === 'little';
  }
  const pkl = read(entries.get(pickles[0]!)!);
  const { value } = unpickle(pkl, 0, {
    ...options.pickleLimits,
    resolveGlobal: makeResolver(state),
    persistentLoad: persistentLoader(state, 'zip'),
  });
  let inflated = 0;
  for (const root of state.roots.values()) {
    const entry = entries.get(`${prefix}data/${root.key}`);
    if (entry === undefined)
      throw new DataError(`zip: storage '${root.key}' is missing (no ${prefix}data/${root.key})`);
    if (entry.uncompressedSize < root.declaredNumel * ITEM_SIZE[root.dtype]) {
      throw new DataError(
        `storage '${root.key}' declares ${root.declaredNumel} ${root.dtype} elements but its entry holds ` +
          `${entry.uncompressedSize} bytes`,
      );
    }
    if (entry.method !== 0) {
      inflated += entry.uncompressedSize;
      if (inflated > state.maxTensorBytes)
        throw new DataError('zip: inflated storages exceed maxTensorBytes');
    }
    root.bytes = read(entry);
  }
  finish(state, littleEndian);
  return value;
}

// --------------------------------------------------------------------------------------------------------
// Legacy

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

function readLegacyCheckpoint(
  bytes: Uint8Array,
  options: ReadTorchCheckpointOptions,
  state: LoadState,
): unknown {
  const limits = options.pickleLimits ?? {};
  let magic: unknown;
  let pos: number;
  try {
    ({ value: magic, end: pos } = unpickle(bytes, 0, limits));
  } catch (cause) {
    throw new DataError('not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file)', {
      cause,
    });
  }
  if (magic !== LEGACY_MAGIC) {
    throw new DataError('not a PyTorch checkpoint: a pickle, but without the torch.save magic number');
  }
  const protocol = unpickle(bytes, pos, limits);
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) {
    throw new DataError(`unsupported legacy checkpoint protocol version ${describePy(protocol.value)}`);
  }
  const sysInfo = unpickle(bytes, protocol.end, limits);
  let littleEndian = true;
  if (sysInfo.value instanceof Map) {
    const le = sysInfo.value.get('little_endian');
    if (le === false) littleEndian = false;
  } else {
    throw new DataError('legacy checkpoint: sys_info is not a dict');
  }
  const main = unpickle(bytes, sysInfo.end, {
    ...limits,
    resolveGlobal: makeResolver(state),
    persistentLoad: persistentLoader(state, 'legacy'),
  });
  const keysPickle = unpickle(bytes, main.end, limits);
  const keys = keysPickle.value;
  if (!Array.isArray(keys)) throw new DataError('legacy checkpoint: the storage key list is not a list');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = keysPickle.end;
  for (const k of keys) {
    const key = storageKey(k);
    const root = state.roots.get(key);
    if (root === undefined)
      throw new DataError(`legacy checkpoint: storage '${key}' is listed but never used`);
    if (root.bytes !== undefined) throw new DataError(`legacy checkpoint: storage '${key}' is listed twice`);
    if (p + 8 > bytes.length) throw new DataError(`legacy checkpoint: truncated before storage '${key}'`);
    const lo = dv.getUint32(littleEndian ? p : p + 4, littleEndian);
    const hi = dv.getUint32(littleEndian ? p + 4 : p, littleEndian);
    p += 8;
    const numel = hi * 0x1_0000_0000 + lo;
    const byteLength = numel * ITEM_SIZE[root.dtype];
    if (hi > 0x1fffff || p + byteLength > bytes.length) {
      throw new DataError(
        `legacy checkpoint: storage '${key}' declares ${numel} ${root.dtype} elements but only ` +
          `${bytes.length - p} bytes remain (truncated or corrupt)`,
      );
    }
    root.bytes = bytes.subarray(p, p + byteLength);
    p += byteLength;
  }
  finish(state, littleEndian);
  return main.value;
}

// --------------------------------------------------------------------------------------------------------
// Flattening

function flattenInto(
  out: Record<string, TorchTensor>,
  dict: Map<unknown, unknown>,
  prefix: string,
  ancestors: Set<object>,
  counter: { n: number },
): number {
  if (ancestors.size > MAX_FLATTEN_DEPTH) throw new DataError('state dict nests too deeply');
  ancestors.add(dict);
  let found = 0;
  for (const [k, v] of dict) {
    if (++counter.n > MAX_FLATTEN_ENTRIES) throw new DataError('state dict has too many entries');
    if (typeof k !== 'string' && typeof k !== 'number') continue;
    const name = prefix + String(k);
    if (isTorchTensor(v)) {
      if (Object.hasOwn(out, name)) throw new DataError(`state dict has two tensors named '${name}'`);
      out[name] = v;
      found++;
    } else if (v instanceof Map && !ancestors.has(v)) {
      found += flattenInto(out, v, `${name}.`, ancestors, counter);
    }
  }
  ancestors.delete(dict);
  return found;
}

function splitRoot(root: unknown): { tensors: Record<string, TorchTensor>; extras: Record<string, unknown> } {
  const tensors: Record<string, TorchTensor> = Object.create(null);
  const extras: Record<string, unknown> = Object.create(null);
  if (!(root instanceof Map)) return { tensors, extras };
  const counter = { n: 0 };
  for (const key of ['state_dict', 'params', 'model']) {
    const sd = root.get(key);
    if (sd instanceof Map) {
      flattenInto(tensors, sd, '', new Set([root]), counter);
      for (const [k, v] of root) if (typeof k === 'string' && k !== key) extras[k] = v;
      return { tensors, extras };
    }
  }
  for (const [k, v] of root) {
    if (typeof k !== 'string' && typeof k !== 'number') continue;
    const name = String(k);
    if (isTorchTensor(v)) {
      tensors[name] = v;
    } else if (v instanceof Map && v !== root) {
      if (flattenInto(tensors, v, `${name}.`, new Set([root]), counter) === 0 && typeof k === 'string')
        extras[k] = v;
    } else if (typeof k === 'string') {
      extras[k] = v;
    }
  }
  return { tensors, extras };
}

// --------------------------------------------------------------------------------------------------------

/**
 * Reads a `torch.save` file. Throws `DataError` for anything that is not a well-formed PyTorch checkpoint
 * made only of tensors and plain data (see the module comment for what is allowed).
 */
export function readTorchCheckpoint(
  bytes: Uint8Array,
  options: ReadTorchCheckpointOptions = {},
): TorchCheckpoint {
  const maxTensorBytes = options.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES;
  if (!(maxTensorBytes >= 0)) throw new DataError('maxTensorBytes must be a non-negative number');
  if (bytes.length < 4) throw new DataError(`not a PyTorch checkpoint: only ${bytes.length} bytes`);
  const state: LoadState = { maxTensorBytes, totalBytes: 0, pending: [], roots: new Map() };
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  let format: 'zip' | 'legacy';
  let root: unknown;
  if (b0 === 0x50 && b1 === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    format = 'zip';
    root = readZipCheckpoint(bytes, options, state);
  } else if (b0 === 0x80) {
    format = 'legacy';
    root = readLegacyCheckpoint(bytes, options, state);
  } else if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new DataError('tar-format PyTorch checkpoints (torch < 0.1.10) are not supported');
  } else {
    throw new DataError('not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file)');
  }
  const { tensors, extras } = splitRoot(root);
  return { format, root, tensors, extras };
}
