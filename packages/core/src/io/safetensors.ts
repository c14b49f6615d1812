/**
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors).
 *
 * Layout: an 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON header (possibly padded with
 * trailing spaces), then the raw little-endian data buffer. The header maps each tensor name to
 * `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the start of the data buffer) and
 * may hold a `"__metadata__"` object of string values.
 *
 * Browser-safe: works on `Uint8Array`s only, uses no Node built-ins and does not depend on tfjs.
 *
 * @module
 */

import { SafetensorsError, ShapeError, UsageError } from '../errors';

/** The typed array that holds the elements of each supported safetensors dtype. */
export interface SafetensorsDataTypes {
  /** 64-bit IEEE float. */
  F64: Float64Array;
  /** 32-bit IEEE float. */
  F32: Float32Array;
  /** 16-bit IEEE half float, kept as raw bit patterns (decode with {@link float16ToFloat32} or {@link toFloat32}). */
  F16: Uint16Array;
  /** bfloat16, kept as raw bit patterns (the high 16 bits of a float32; decode with {@link toFloat32}). */
  BF16: Uint16Array;
  /** Signed 64-bit integer. */
  I64: BigInt64Array;
  /** Signed 32-bit integer. */
  I32: Int32Array;
  /** Signed 16-bit integer. */
  I16: Int16Array;
  /** Signed 8-bit integer. */
  I8: Int8Array;
  /** Unsigned 64-bit integer. */
  U64: BigUint64Array;
  /** Unsigned 32-bit integer. */
  U32: Uint32Array;
  /** Unsigned 16-bit integer. */
  U16: Uint16Array;
  /** Unsigned 8-bit integer. */
  U8: Uint8Array;
  /** Boolean, one byte per element (0 or 1). */
  BOOL: Uint8Array;
}

/** A safetensors element type supported by this module. Other dtypes are rejected with `'unknown-dtype'`. */
export type SafetensorsDtype = keyof SafetensorsDataTypes;

/** A tensor read from (or to be written to) a safetensors file; `data.length` equals the product of `shape`. */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: {
    /** Element type. */
    dtype: D;
    /** Dimensions; `[]` for a 0-d scalar (one element). */
    shape: number[];
    /** Elements in row-major order. */
    data: SafetensorsDataTypes[D];
  };
}[SafetensorsDtype];

/** Where a tensor lives in a safetensors file, as read from its header without touching its data. */
export interface SafetensorsTensorInfo {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions; `[]` for a 0-d scalar. */
  shape: number[];
  /** `[begin, end)` byte range relative to the start of the data buffer (add `dataOffset` for file offsets). */
  dataOffsets: [number, number];
}

/** The parsed header of a safetensors file. */
export interface SafetensorsHeader {
  /** Tensor entries by name. */
  tensors: Record<string, SafetensorsTensorInfo>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
  /** Absolute byte offset of the data buffer in the file, i.e. `8 + N`. */
  dataOffset: number;
  /** Size in bytes the data buffer must have (the largest `end` over all tensors; 0 when there are none). */
  dataLength: number;
}

/** Options of {@link readSafetensorsHeader}. */
export interface ReadSafetensorsHeaderOptions {
  /** Reject files whose declared header length exceeds this many bytes (checked before decoding). Default 100 MiB. */
  maxHeaderBytes?: number;
  /**
   * Total size of the file in bytes, when `bytes` is only a prefix of it. When given, each tensor's range is
   * checked against the data buffer (`'out-of-range'`) and the buffer must hold no bytes past the last tensor.
   */
  fileSize?: number;
}

/** Options of {@link parseSafetensors}. */
export interface ParseSafetensorsOptions {
  /** Reject files whose declared header length exceeds this many bytes (checked before decoding). Default 100 MiB. */
  maxHeaderBytes?: number;
  /** Always copy tensor data instead of returning views into `bytes` where alignment allows. Default false. */
  copy?: boolean;
}

/** The content of a safetensors file. */
export interface ParsedSafetensors {
  /** Tensors by name. Unless `copy` was set, their data may be views into the parsed bytes. */
  tensors: Record<string, SafetensorsTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** A tensor to write with {@link serializeSafetensors}. */
export type SafetensorsTensorInput =
  | SafetensorsTensor
  | {
      /**
       * `'F32'` (needs a `Float32Array`) or `'F16'` (a `Float32Array` is converted with round-to-nearest-even;
       * a `Uint16Array` is taken as already-encoded half bits). Default: `'F32'` for a `Float32Array`,
       * `'F16'` for a `Uint16Array`.
       */
      dtype?: 'F32' | 'F16';
      /** Dimensions; `[]` for a 0-d scalar. */
      shape: readonly number[];
      /** Elements in row-major order. */
      data: Float32Array | Uint16Array;
    };

/** Default limit on the declared header length: 100 MiB. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100 * 1024 * 1024;

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** The `Symbol.toStringTag` of the typed array that holds each dtype (realm-independent type check). */
const ARRAY_TAG: Record<SafetensorsDtype, string> = {
  F64: 'Float64Array',
  F32: 'Float32Array',
  F16: 'Uint16Array',
  BF16: 'Uint16Array',
  I64: 'BigInt64Array',
  I32: 'Int32Array',
  I16: 'Int16Array',
  I8: 'Int8Array',
  U64: 'BigUint64Array',
  U32: 'Uint32Array',
  U16: 'Uint16Array',
  U8: 'Uint8Array',
  BOOL: 'Uint8Array',
};

type AnyTypedArray = SafetensorsDataTypes[SafetensorsDtype];

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: string): s is SafetensorsDtype {
  return Object.hasOwn(ITEM_SIZE, s);
}

/** Defines an own enumerable property (safe for names such as `__proto__`). */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reverses the bytes of each `itemSize`-byte element in place (only used on big-endian hosts). */
function swapBytes(u8: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i < u8.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = u8[a]!;
      u8[a] = u8[b]!;
      u8[b] = t;
    }
  }
}

/** Constructs a typed array of `dtype` over `buffer` (which must be suitably aligned). */
function makeView(
  dtype: SafetensorsDtype,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): AnyTypedArray {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, length);
    case 'F32':
      return new Float32Array(buffer, byteOffset, length);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buffer, byteOffset, length);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, length);
    case 'I32':
      return new Int32Array(buffer, byteOffset, length);
    case 'I16':
      return new Int16Array(buffer, byteOffset, length);
    case 'I8':
      return new Int8Array(buffer, byteOffset, length);
    case 'U64':
      return new BigUint64Array(buffer, byteOffset, length);
    case 'U32':
      return new Uint32Array(buffer, byteOffset, length);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, length);
  }
}

function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Reads the 8-byte header-length prefix of a safetensors file and returns the number of bytes the file's
 * prefix must have for {@link readSafetensorsHeader}, i.e. `8 + N`. Useful for partial reads: fetch the first
 * 8 bytes, call this, then fetch that many bytes.
 *
 * @throws {SafetensorsError} `'truncated'` if `bytes` is shorter than 8; `'header-too-large'` if `N` exceeds
 *   `maxHeaderBytes` (default 100 MiB).
 */
export function readSafetensorsHeaderLength(
  bytes: Uint8Array,
  options: { maxHeaderBytes?: number } = {},
): number {
  const maxHeaderBytes = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  if (bytes.length < 8) {
    throw new SafetensorsError(
      'truncated',
      `safetensors file is ${bytes.length} bytes long, shorter than the 8-byte header length`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // may be inexact above 2^53, but then it is far above any limit
  if (n > maxHeaderBytes) {
    throw new SafetensorsError(
      'header-too-large',
      `safetensors header declares ${hi === 0 ? n : `${hi} * 2^32 + ${lo}`} bytes, above the limit of ${maxHeaderBytes}`,
    );
  }
  return 8 + n;
}

/**
 * Parses and validates the header of a safetensors file without touching the tensor data. `bytes` may be
 * the whole file or just a prefix of at least `8 + N` bytes (see {@link readSafetensorsHeaderLength}).
 *
 * Checks that every entry is well-formed, that each range's size is `product(shape) * itemsize`, and that
 * the ranges cover `[0, dataLength)` contiguously without overlaps or gaps (as the reference implementation
 * requires). With `fileSize`, also checks that the ranges fit the data buffer and fill it exactly.
 *
 * @throws {SafetensorsError} with `reason` `'truncated'`, `'header-too-large'`, `'bad-header'`,
 *   `'unknown-dtype'`, `'bad-offsets'`, `'overlap'` or `'out-of-range'`.
 */
export function readSafetensorsHeader(
  bytes: Uint8Array,
  options: ReadSafetensorsHeaderOptions = {},
): SafetensorsHeader {
  const dataOffset = readSafetensorsHeaderLength(bytes, options);
  if (bytes.length < dataOffset) {
    throw new SafetensorsError(
      'truncated',
      `safetensors header declares ${dataOffset - 8} bytes but only ${bytes.length - 8} follow the length prefix`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataOffset));
  } catch (e) {
    throw new SafetensorsError('bad-header', `safetensors header is not valid UTF-8: ${String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError('bad-header', `safetensors header is not valid JSON: ${String(e)}`);
  }
  if (!isPlainObject(json)) {
    throw new SafetensorsError('bad-header', 'safetensors header is not a JSON object');
  }

  const tensors: Record<string, SafetensorsTensorInfo> = {};
  const metadata: Record<string, string> = {};
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (entry === null) continue;
      if (!isPlainObject(entry)) {
        throw new SafetensorsError('bad-header', 'safetensors __metadata__ is not an object');
      }
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(
            'bad-header',
            `safetensors __metadata__ value for '${k}' is ${v === null ? 'null' : typeof v}, not a string`,
          );
        }
        setOwn(metadata, k, v);
      }
      continue;
    }
    const info = parseEntry(name, entry);
    setOwn(tensors, name, info);
    ranges.push({ name, begin: info.dataOffsets[0], end: info.dataOffsets[1] });
  }

  if (options.fileSize !== undefined) {
    const available = options.fileSize - dataOffset;
    if (available < 0) {
      throw new SafetensorsError(
        'truncated',
        `safetensors file of ${options.fileSize} bytes is shorter than its ${dataOffset}-byte header`,
      );
    }
    for (const r of ranges) {
      if (r.end > available) {
        throw new SafetensorsError(
          'out-of-range',
          `safetensors tensor '${r.name}' [${r.begin}, ${r.end}) ends beyond the data buffer, which holds ${available} bytes`,
        );
      }
    }
  }

  // Ranges must tile [0, dataLength) exactly. Zero-size ranges sort before others starting at the same offset.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: { name: string; begin: number; end: number } | undefined;
  for (const r of ranges) {
    if (r.begin < cursor) {
      throw new SafetensorsError(
        'overlap',
        `safetensors tensor '${r.name}' [${r.begin}, ${r.end}) overlaps tensor '${prev!.name}' [${prev!.begin}, ${prev!.end})`,
      );
    }
    if (r.begin > cursor) {
      throw new SafetensorsError(
        'bad-offsets',
        `safetensors data buffer has a gap [${cursor}, ${r.begin}) before tensor '${r.name}' (tensors must be contiguous)`,
      );
    }
    cursor = r.end;
    prev = r;
  }
  const dataLength = cursor;

  if (options.fileSize !== undefined && dataLength < options.fileSize - dataOffset) {
    const available = options.fileSize - dataOffset;
    throw new SafetensorsError(
      'bad-offsets',
      `safetensors data buffer has ${available - dataLength} trailing bytes [${dataLength}, ${available}) not covered by any tensor`,
    );
  }
  return { tensors, metadata, dataOffset, dataLength };
}

function parseEntry(name: string, entry: unknown): SafetensorsTensorInfo {
  if (!isPlainObject(entry)) {
    throw new SafetensorsError('bad-header', `safetensors entry for tensor '${name}' is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') {
    throw new SafetensorsError('bad-header', `safetensors tensor '${name}' has no string 'dtype'`);
  }
  if (!Array.isArray(shape)) {
    throw new SafetensorsError('bad-header', `safetensors tensor '${name}' has no 'shape' array`);
  }
  if (!Array.isArray(offsets)) {
    throw new SafetensorsError('bad-header', `safetensors tensor '${name}' has no 'data_offsets' array`);
  }
  if (!isDtype(dtype)) {
    throw new SafetensorsError(
      'unknown-dtype',
      `safetensors tensor '${name}' has unsupported dtype '${dtype}'`,
    );
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(
        'bad-header',
        `safetensors tensor '${name}' has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`,
      );
    }
  }
  if (offsets.length !== 2) {
    throw new SafetensorsError(
      'bad-offsets',
      `safetensors tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`,
    );
  }
  const [begin, end] = offsets as [unknown, unknown];
  if (
    typeof begin !== 'number' ||
    typeof end !== 'number' ||
    !Number.isSafeInteger(begin) ||
    !Number.isSafeInteger(end) ||
    begin < 0
  ) {
    throw new SafetensorsError(
      'bad-offsets',
      `safetensors tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; expected non-negative integers`,
    );
  }
  if (begin > end) {
    throw new SafetensorsError(
      'bad-offsets',
      `safetensors tensor '${name}' has data_offsets [${begin}, ${end}] with begin > end`,
    );
  }
  const dims = shape as number[];
  const expected = numElements(dims) * ITEM_SIZE[dtype];
  if (end - begin !== expected) {
    throw new SafetensorsError(
      'bad-offsets',
      `safetensors tensor '${name}' spans ${end - begin} bytes [${begin}, ${end}) but shape ${JSON.stringify(dims)} ` +
        `of ${dtype} needs ${expected} bytes`,
    );
  }
  return { dtype, shape: [...dims], dataOffsets: [begin, end] };
}

/**
 * Builds a tensor from its data bytes (e.g. fetched by offset after {@link readSafetensorsHeader}; the range
 * is `[header.dataOffset + begin, header.dataOffset + end)` of the file). Returns a view into `bytes` when it
 * is suitably aligned (and the host is little-endian), a copy otherwise or when `copy` is true.
 *
 * @throws {SafetensorsError} `'truncated'` if `bytes.length` differs from the entry's byte size.
 */
export function decodeSafetensorsTensor(
  info: Pick<SafetensorsTensorInfo, 'dtype' | 'shape'>,
  bytes: Uint8Array,
  copy = false,
): SafetensorsTensor {
  const itemSize = ITEM_SIZE[info.dtype];
  const length = numElements(info.shape);
  if (bytes.length !== length * itemSize) {
    throw new SafetensorsError(
      'truncated',
      `safetensors ${info.dtype} tensor of shape ${JSON.stringify(info.shape)} needs ${length * itemSize} bytes, got ${bytes.length}`,
    );
  }
  let src = bytes;
  if (copy || !LITTLE_ENDIAN_HOST || bytes.byteOffset % itemSize !== 0) {
    src = bytes.slice();
    if (!LITTLE_ENDIAN_HOST) swapBytes(src, itemSize);
  }
  const data = makeView(info.dtype, src.buffer, src.byteOffset, length);
  return { dtype: info.dtype, shape: [...info.shape], data } as SafetensorsTensor;
}

/**
 * Parses a whole safetensors file. Validates it as {@link readSafetensorsHeader} does with
 * `fileSize: bytes.length`. Tensor data are views into `bytes` where alignment allows (so they share memory
 * with it), copies otherwise; set `copy` to always copy. F16 and BF16 come back as raw `Uint16Array` bits.
 *
 * @throws {SafetensorsError} with `reason` `'truncated'`, `'header-too-large'`, `'bad-header'`,
 *   `'unknown-dtype'`, `'bad-offsets'`, `'overlap'` or `'out-of-range'`.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): ParsedSafetensors {
  const header = readSafetensorsHeader(bytes, {
    maxHeaderBytes: options.maxHeaderBytes,
    fileSize: bytes.length,
  });
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, info] of Object.entries(header.tensors)) {
    const [begin, end] = info.dataOffsets;
    const slice = bytes.subarray(header.dataOffset + begin, header.dataOffset + end);
    setOwn(tensors, name, decodeSafetensorsTensor(info, slice, options.copy ?? false));
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Decodes a tensor to float32: F32 is returned as-is (the same array, not a copy); F16, BF16 and F64 are
 * converted (F64 rounds to nearest float32); integers and BOOL are converted by value (64-bit integers and
 * integers above 2^24 in magnitude round to the nearest float32).
 */
export function toFloat32(t: SafetensorsTensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data;
    case 'F16':
      return float16ToFloat32(t.data);
    case 'BF16': {
      const out = new Float32Array(t.data.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < t.data.length; i++) bits[i] = t.data[i]! << 16;
      return out;
    }
    case 'I64':
    case 'U64': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]!);
      return out;
    }
    default:
      return Float32Array.from(t.data);
  }
}

/**
 * Converts float32 values to IEEE half-precision bit patterns, rounding to nearest, ties to even.
 * Values too large become ±Infinity, tiny values become half subnormals or ±0, the sign of zero is kept,
 * and NaN stays NaN (quiet, with the top payload bits kept).
 */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return out;
}

function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Infinity, or NaN: keep the top payload bits and set the quiet bit so it cannot become Infinity.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal (or zero): value in units of 2^-24 is m * 2^(e - 14), with the implicit bit in m.
    if (e < -10) return sign; // below half the smallest subnormal (2^-25): rounds to ±0
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    return sign | half; // a carry into bit 10 correctly yields the smallest normal
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++; // a carry may round up to Infinity: correct
  return sign | half;
}

/** Converts IEEE half-precision bit patterns to float32 values (exact: every half is a float32). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = f16BitsToF32(bits[i]!);
  return out;
}

function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalise. value = mant * 2^-24 = 1.f * 2^(e) with e = -15 - (shifts - 1).
  let e = -14;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * Serializes tensors to safetensors bytes. Output is deterministic: header entries and `__metadata__` keys are
 * written in sorted (code-unit) order, `__metadata__` first; the header is padded with spaces so the data
 * buffer starts at a multiple of 8; in the data buffer tensors are laid out by decreasing item size, then name
 * (as the reference writer does), so that every tensor is aligned to its item size.
 *
 * F32 is written from a `Float32Array`; F16 from a `Float32Array` (converted with {@link float32ToFloat16}) or
 * from a `Uint16Array` of half bits. Any other dtype is written from its {@link SafetensorsDataTypes} array,
 * so the output of {@link parseSafetensors} can be written back as is.
 *
 * @throws {ShapeError} if a shape is not non-negative integers or `data.length` is not its product.
 * @throws {UsageError} if a name is `__metadata__`, a dtype is unsupported, the data array does not fit the
 *   dtype, or a metadata value is not a string.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsTensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; bytes: Uint8Array }[] = [];
  for (const name of Object.keys(tensors)) {
    const t = tensors[name]!;
    if (name === '__metadata__') {
      throw new UsageError(`safetensors tensor name '__metadata__' is reserved`);
    }
    const tag = ArrayBuffer.isView(t.data) ? (t.data as AnyTypedArray)[Symbol.toStringTag] : typeof t.data;
    let dtype: string | undefined = t.dtype;
    if (dtype === undefined) {
      if (tag === 'Float32Array') dtype = 'F32';
      else if (tag === 'Uint16Array') dtype = 'F16';
      else throw new UsageError(`safetensors tensor '${name}': give a dtype for data of type ${tag}`);
    }
    if (!isDtype(dtype)) throw new UsageError(`safetensors tensor '${name}': unsupported dtype '${dtype}'`);
    let data = t.data as AnyTypedArray;
    if (dtype === 'F16' && tag === 'Float32Array') data = float32ToFloat16(data as Float32Array);
    else if (tag !== ARRAY_TAG[dtype]) {
      throw new UsageError(
        `safetensors tensor '${name}': ${dtype} data must be a ${ARRAY_TAG[dtype]}, got ${tag}`,
      );
    }
    const shape = [...t.shape];
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw new ShapeError(
          `safetensors tensor '${name}' has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`,
        );
      }
    }
    if (numElements(shape) !== data.length) {
      throw new ShapeError(
        `safetensors tensor '${name}' has shape ${JSON.stringify(shape)} (${numElements(shape)} elements) ` +
          `but ${data.length} data elements`,
      );
    }
    entries.push({
      name,
      dtype,
      shape,
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
  }

  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const layout = [...entries].sort(
    (a, b) => ITEM_SIZE[b.dtype] - ITEM_SIZE[a.dtype] || byName(a.name, b.name),
  );
  const offsets = new Map<string, [number, number]>();
  let dataLength = 0;
  for (const e of layout) {
    offsets.set(e.name, [dataLength, dataLength + e.bytes.length]);
    dataLength += e.bytes.length;
  }

  // Build the JSON by hand: object key order in JS puts integer-like names first, which would break sorting.
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    const meta: string[] = [];
    for (const k of Object.keys(metadata).sort(byName)) {
      const v = metadata[k];
      if (typeof v !== 'string')
        throw new UsageError(`safetensors metadata value for '${k}' is not a string`);
      meta.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  for (const e of [...entries].sort((a, b) => byName(a.name, b.name))) {
    const [begin, end] = offsets.get(e.name)!;
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":${JSON.stringify(e.dtype)},"shape":${JSON.stringify(e.shape)},` +
        `"data_offsets":[${begin},${end}]}`,
    );
  }
  const headerUtf8 = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(headerUtf8.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + dataLength);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLength, true);
  dv.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(headerUtf8, 8);
  out.fill(0x20, 8 + headerUtf8.length, 8 + headerLength);
  const base = 8 + headerLength;
  for (const e of layout) {
    const [begin, end] = offsets.get(e.name)!;
    out.set(e.bytes, base + begin);
    if (!LITTLE_ENDIAN_HOST) swapBytes(out.subarray(base + begin, base + end), ITEM_SIZE[e.dtype]);
  }
  return out;
}
