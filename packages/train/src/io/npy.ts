import { DataError } from '@dirac/core';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** A float32 array with its shape, as stored in a .npy file. */
export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

function headerField(header: string, key: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*([^,}]+)`).exec(header);
  if (!m) throw new DataError(`.npy header has no '${key}' field`);
  return m[1]!.trim();
}

/** Parses a little-endian float32 (or float64, converted) C-order .npy file. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new DataError('not a .npy file (bad magic number)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new DataError('.npy file is truncated inside its header');
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = headerField(header, 'descr').replace(/['"]/g, '');
  if (headerField(header, 'fortran_order') !== 'False')
    throw new DataError('.npy arrays in Fortran order are not supported; save with np.ascontiguousarray');
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) throw new DataError(".npy header has no 'shape' tuple");
  const shapeText = shapeMatch[1]!;
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = shape.reduce((a, d) => a * d, 1);
  const itemSize = descr === '<f4' ? 4 : descr === '<f8' ? 8 : 0;
  if (!itemSize) throw new DataError(`.npy dtype '${descr}' is not supported; use float32 ('<f4')`);
  const offset = start + headerLen;
  if (bytes.length - offset < n * itemSize)
    throw new DataError(
      `.npy data is truncated: shape [${shape}] needs ${n * itemSize} bytes, found ${bytes.length - offset}`,
    );
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++)
    data[i] = itemSize === 4 ? view.getFloat32(offset + 4 * i, true) : view.getFloat64(offset + 8 * i, true);
  return { shape, data };
}

/** Serializes a float32 array as a version 1.0 .npy file. */
export function serializeNpy(array: NpyArray): Uint8Array {
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header}${' '.repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length + array.data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < array.data.length; i++) dv.setFloat32(4 * i, array.data[i]!, true);
  return out;
}
