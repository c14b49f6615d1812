import { describe, expect, it } from 'vitest';
import { SafetensorsError, ShapeError, UsageError } from '../errors';
import {
  decodeSafetensorsTensor,
  float16ToFloat32,
  float32ToFloat16,
  parseSafetensors,
  readSafetensorsHeader,
  readSafetensorsHeaderLength,
  type SafetensorsTensor,
  serializeSafetensors,
  toFloat32,
} from './safetensors';

const enc = new TextEncoder();

/** Builds a file by hand: u64 LE header length, the header text as given (no padding added), then data. */
function build(header: string, data: ArrayLike<number> = [], declaredLength?: number): Uint8Array {
  const h = enc.encode(header);
  const n = declaredLength ?? h.length;
  const out = new Uint8Array(8 + h.length + data.length);
  for (let i = 0; i < 8; i++) out[i] = Math.floor(n / 256 ** i) % 256;
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}

function expectReason(fn: () => unknown, reason: SafetensorsError['reason'], message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  const err = caught as SafetensorsError;
  expect(err.reason).toBe(reason);
  expect(err.code).toBe(`E_SAFETENSORS_${reason.toUpperCase().replaceAll('-', '_')}`);
  if (message) expect(err.message).toMatch(message);
}

function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0]!;
}

function entry(dtype: string, shape: number[], begin: number, end: number): string {
  return JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
}

describe('compatibility with the reference format', () => {
  it('parses a file built byte by byte', () => {
    // Two tensors, metadata, header padded with spaces, offsets relative to the data buffer.
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]},' +
      '"h":{"dtype":"F16","shape":[1,2],"data_offsets":[16,20]},' +
      '"b":{"dtype":"BF16","shape":[1],"data_offsets":[20,22]},' +
      '"u":{"dtype":"U8","shape":[2],"data_offsets":[22,24]}}   ';
    const data = [
      // w: 1.0f, -2.5f
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0,
      // n: -3 as i64
      0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      // h: half 1.0 (0x3c00), half -2.0 (0xc000)
      0x00, 0x3c, 0x00, 0xc0,
      // b: bf16 0.5 (0x3f00)
      0x00, 0x3f,
      // u: 7, 255
      0x07, 0xff,
    ];
    const file = build(header, data);
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual(['b', 'h', 'n', 'u', 'w']);
    expect(tensors.w).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2.5]) });
    expect(tensors.n?.dtype).toBe('I64');
    expect(tensors.n?.shape).toEqual([]);
    expect(Array.from(tensors.n!.data as BigInt64Array)).toEqual([-3n]);
    expect(Array.from(toFloat32(tensors.n!))).toEqual([-3]);
    expect(Array.from(tensors.h!.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(Array.from(toFloat32(tensors.h!))).toEqual([1, -2]);
    expect(Array.from(toFloat32(tensors.b!))).toEqual([0.5]);
    expect(tensors.u).toEqual({ dtype: 'U8', shape: [2], data: new Uint8Array([7, 255]) });

    const hdr = readSafetensorsHeader(file);
    expect(hdr.dataOffset).toBe(8 + header.length);
    expect(hdr.dataLength).toBe(24);
    expect(hdr.tensors.h).toEqual({ dtype: 'F16', shape: [1, 2], dataOffsets: [16, 20] });
  });

  it('writes exactly the bytes of the reference writer for a simple file', () => {
    // Reference: save({"test": zeros((2, 2), float32)}) ==
    // b'@\0\0\0\0\0\0\0{"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}    ' + 16 zero bytes
    const json = '{"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}    ';
    expect(json.length).toBe(64);
    const expected = new Uint8Array(8 + 64 + 16);
    expected[0] = 64;
    expected.set(enc.encode(json), 8);
    const out = serializeSafetensors({ test: { shape: [2, 2], data: new Float32Array(4) } });
    expect(out).toEqual(expected);
  });

  it('parses a reference file whose header is not padded to 8 bytes (copying misaligned data)', () => {
    const header =
      '{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    const data = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
    const file = build(`${header}       `, data);
    expect((8 + header.length + 7) % 4).not.toBe(0);
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({ framework: 'pt' });
    expect(tensors.test1).toEqual({ dtype: 'I32', shape: [2, 2], data: new Int32Array([1, 2, 3, -1]) });
  });

  it('accepts a null __metadata__ and an empty file', () => {
    expect(parseSafetensors(build('{"__metadata__":null}'))).toEqual({ tensors: {}, metadata: {} });
    expect(parseSafetensors(build('{}'))).toEqual({ tensors: {}, metadata: {} });
  });
});

describe('round trips', () => {
  const special = [
    0,
    -0,
    1,
    -1,
    0.5,
    65504, // max half
    -65504,
    2 ** -14, // min normal half
    2 ** -24, // min subnormal half
    -(2 ** -24),
    3 * 2 ** -24,
    1023 * 2 ** -24, // max subnormal half
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
    0.333251953125, // exactly representable in half
  ];

  it('round-trips F32 bit-exactly, with metadata', () => {
    const values = new Float32Array([...special, Math.PI, 1e-40, 3.4028234663852886e38]);
    const file = serializeSafetensors(
      {
        a: { shape: [values.length], data: values },
        'b.c': { shape: [2, 1], data: new Float32Array([7, 8]) },
      },
      { format: 'pt', note: 'ünïcødé "quoted"' },
    );
    expect(readSafetensorsHeader(file).dataOffset % 8).toBe(0);
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcødé "quoted"' });
    expect(tensors.a?.dtype).toBe('F32');
    expect(new Uint32Array((tensors.a!.data as Float32Array).slice().buffer)).toEqual(
      new Uint32Array(values.buffer),
    );
    expect(tensors['b.c']).toEqual({ dtype: 'F32', shape: [2, 1], data: new Float32Array([7, 8]) });
  });

  it('round-trips F16 from Float32Array (exactly representable values incl. subnormals, inf, nan, -0)', () => {
    const values = new Float32Array(special);
    const file = serializeSafetensors({ h: { dtype: 'F16', shape: [values.length], data: values } });
    const t = parseSafetensors(file).tensors.h!;
    expect(t.dtype).toBe('F16');
    const back = toFloat32(t);
    expect(Array.from(back)).toEqual(Array.from(values)); // toEqual distinguishes -0 and treats NaN as equal
    expect(Object.is(back[1], -0)).toBe(true);
  });

  it('round-trips F16 from already-encoded Uint16Array bits', () => {
    const bits = new Uint16Array([
      0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00,
    ]);
    const file = serializeSafetensors({ h: { shape: [2, 5], data: bits } });
    expect(parseSafetensors(file).tensors.h).toEqual({ dtype: 'F16', shape: [2, 5], data: bits });
  });

  it('round-trips every dtype through parse -> serialize -> parse', () => {
    const tensors: Record<string, SafetensorsTensor> = {
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
      bf16: { dtype: 'BF16', shape: [1], data: new Uint16Array([0x4049]) },
      i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 5n]) },
      u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      i32: { dtype: 'I32', shape: [3], data: new Int32Array([-1, 2, 2 ** 31 - 1]) },
      u32: { dtype: 'U32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
      i16: { dtype: 'I16', shape: [3], data: new Int16Array([-32768, 1, 3]) },
      u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
      i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
      u8: { dtype: 'U8', shape: [1], data: new Uint8Array([200]) },
      bool: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    };
    const once = serializeSafetensors(tensors, { k: 'v' });
    const parsed = parseSafetensors(once);
    expect(parsed.tensors).toEqual(tensors);
    expect(serializeSafetensors(parsed.tensors, parsed.metadata)).toEqual(once);
    // Every tensor is aligned to its item size, so parsing is zero-copy.
    for (const t of Object.values(parsed.tensors)) expect(t.data.buffer).toBe(once.buffer);
    expect(Array.from(toFloat32(parsed.tensors.bf16!))).toEqual([3.140625]);
    expect(Array.from(toFloat32(parsed.tensors.i8!))).toEqual([-128, 0, 127]);
    expect(Array.from(toFloat32(parsed.tensors.bool!))).toEqual([1, 0]);
    expect(toFloat32(parsed.tensors.f64!)[0]).toBe(Math.fround(Math.PI));
  });

  it('handles 0-d scalars and zero-size tensors', () => {
    const file = serializeSafetensors({
      s: { shape: [], data: new Float32Array([42]) },
      e: { shape: [0], data: new Float32Array(0) },
      e2: { shape: [3, 0, 2], dtype: 'F16', data: new Float32Array(0) },
      t: { shape: [1], data: new Float32Array([1]) },
    });
    const { tensors } = parseSafetensors(file);
    expect(tensors.s).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([42]) });
    expect(tensors.e).toEqual({ dtype: 'F32', shape: [0], data: new Float32Array(0) });
    expect(tensors.e2).toEqual({ dtype: 'F16', shape: [3, 0, 2], data: new Uint16Array(0) });
    expect(tensors.t).toEqual({ dtype: 'F32', shape: [1], data: new Float32Array([1]) });
  });

  it('writes deterministic bytes: sorted names and metadata keys, independent of insertion order', () => {
    const a = serializeSafetensors(
      {
        z: { shape: [1], data: new Float32Array([1]) },
        '10': { shape: [1], dtype: 'F16', data: new Float32Array([2]) },
        '2': { shape: [1], data: new Float32Array([3]) },
        a: { shape: [3], dtype: 'F16', data: new Float32Array([4, 5, 6]) },
      },
      { y: '1', b: '2' },
    );
    const b = serializeSafetensors(
      {
        a: { shape: [3], dtype: 'F16', data: new Float32Array([4, 5, 6]) },
        '2': { shape: [1], data: new Float32Array([3]) },
        z: { shape: [1], data: new Float32Array([1]) },
        '10': { shape: [1], dtype: 'F16', data: new Float32Array([2]) },
      },
      { b: '2', y: '1' },
    );
    expect(a).toEqual(b);
    const n = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const text = new TextDecoder().decode(a.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"b":"2","y":"1"},' +
        '"10":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},' +
        '"2":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
        '"a":{"dtype":"F16","shape":[3],"data_offsets":[10,16]},' +
        '"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
  });

  it('copies when asked and shares memory otherwise', () => {
    const file = serializeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) } });
    expect(parseSafetensors(file).tensors.a!.data.buffer).toBe(file.buffer);
    const copied = parseSafetensors(file, { copy: true }).tensors.a!;
    expect(copied.data.buffer).not.toBe(file.buffer);
    expect(copied.data).toEqual(new Float32Array([1, 2]));
  });

  it('parses from a Uint8Array at an odd offset into a larger buffer', () => {
    const file = serializeSafetensors({ a: { shape: [2], data: new Float32Array([1, 2]) } });
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    expect(parseSafetensors(big.subarray(3)).tensors.a!.data).toEqual(new Float32Array([1, 2]));
  });

  it('supports partial reads: header length, header from a prefix, then one tensor by offset', () => {
    const file = serializeSafetensors({
      a: { shape: [2], data: new Float32Array([1, 2]) },
      b: { shape: [3], data: new Float32Array([3, 4, 5]) },
    });
    const prefixLength = readSafetensorsHeaderLength(file.subarray(0, 8));
    const header = readSafetensorsHeader(file.slice(0, prefixLength), { fileSize: file.length });
    expect(header.dataOffset).toBe(prefixLength);
    const [begin, end] = header.tensors.b!.dataOffsets;
    const slice = file.slice(header.dataOffset + begin, header.dataOffset + end);
    expect(decodeSafetensorsTensor(header.tensors.b!, slice)).toEqual({
      dtype: 'F32',
      shape: [3],
      data: new Float32Array([3, 4, 5]),
    });
    expectReason(() => decodeSafetensorsTensor(header.tensors.b!, slice.subarray(1)), 'truncated');
  });

  it('keeps names such as __proto__ as own properties', () => {
    const file = serializeSafetensors({
      ['__proto__']: { shape: [1], data: new Float32Array([9]) },
    } as Record<string, { shape: number[]; data: Float32Array }>);
    const { tensors } = parseSafetensors(file);
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });
});

describe('float16 conversion', () => {
  it('encodes known bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400],
      [2 ** -24, 0x0001],
      [1023 * 2 ** -24, 0x03ff],
      [0.333251953125, 0x3555],
      [1 / 3, 0x3555],
      [Math.PI, 0x4248],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [65520, 0x7c00], // halfway between max half and 2^16: ties to even -> overflow to inf
      [65519.99, 0x7bff],
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [1 + 2 ** -11, 0x3c00], // tie, even stays
      [1 + 3 * 2 ** -11, 0x3c02], // tie, odd rounds up
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above tie
      [2 ** -25, 0x0000], // half of min subnormal: tie -> even 0
      [2 ** -25 + 2 ** -40, 0x0001], // just above
      [-(2 ** -26), 0x8000], // underflow keeps sign
      [3 * 2 ** -25, 0x0002], // 1.5 * min subnormal: tie -> even 2
      [5 * 2 ** -25, 0x0002], // 2.5 * min subnormal: tie -> even 2
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up from max subnormal into min normal
      [1e-30, 0x0000],
    ];
    const bits = float32ToFloat16(new Float32Array(cases.map(([v]) => v)));
    cases.forEach(([v, b], i) => {
      expect([v, bits[i]!.toString(16)]).toEqual([v, b.toString(16)]);
    });
  });

  it('encodes NaN as NaN, keeping the sign and the top payload bits', () => {
    const f = new Float32Array(3);
    const u = new Uint32Array(f.buffer);
    u[0] = 0x7fc00000; // canonical quiet NaN
    u[1] = 0xffc00000; // negative quiet NaN
    u[2] = 0x7f800001; // signalling NaN with payload only in low bits: must not become infinity
    const h = float32ToFloat16(f);
    expect(Array.from(h, (x) => x.toString(16))).toEqual(['7e00', 'fe00', '7e00']);
    expect(Number.isNaN(float16ToFloat32(h)[2])).toBe(true);
  });

  it('decodes every half bit pattern consistently (round trip through float32 is the identity)', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = float16ToFloat32(all);
    const back = float32ToFloat16(f);
    for (let i = 0; i < 65536; i++) {
      const exp = (i >>> 10) & 0x1f;
      const mant = i & 0x3ff;
      if (exp === 31 && mant !== 0) {
        expect(Number.isNaN(f[i])).toBe(true);
        if (back[i] !== (i | 0x200)) expect(back[i]).toBe(i | 0x200); // quiet bit set, payload kept
        continue;
      }
      if (back[i] !== i) expect(back[i]).toBe(i);
      // Value check against the formula.
      const sign = i & 0x8000 ? -1 : 1;
      const value =
        exp === 0
          ? sign * mant * 2 ** -24
          : exp === 31
            ? sign * Infinity
            : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      if (!Object.is(f[i], value)) expect(f[i]).toBe(value);
    }
  });

  it('rounds float32 values to the nearest half, ties to even (checked against a slow reference)', () => {
    // Slow reference: pick the nearest of the two neighbouring halves by exact arithmetic.
    const halves = float16ToFloat32(Uint16Array.from({ length: 0x7c01 }, (_, i) => i)); // +0 .. +inf
    const slow = (x: number): number => {
      const ax = Math.abs(x);
      let lo = 0;
      let hi = 0x7c00;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (halves[mid]! <= ax) lo = mid;
        else hi = mid;
      }
      const dLo = ax - halves[lo]!;
      // Beyond max half, the "next" value is 2^16 for rounding purposes.
      const hiValue = hi === 0x7c00 ? 65536 : halves[hi]!;
      const dHi = hiValue - ax;
      const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | pick;
    };
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const inputs = new Float32Array(20000);
    const u = new Uint32Array(inputs.buffer);
    for (let i = 0; i < inputs.length; i++) {
      // Exponents concentrated around the half range (float32 exponents 100..150).
      const exp = 100 + (rand() % 51);
      u[i] = ((rand() & 1) << 31) | (exp << 23) | (rand() & 0x7fffff);
    }
    const fast = float32ToFloat16(inputs);
    for (let i = 0; i < inputs.length; i++) {
      const want = slow(inputs[i]!);
      if (fast[i] !== want) expect([inputs[i], fast[i]]).toEqual([inputs[i], want]);
    }
  });

  it('works on views at an offset', () => {
    const buf = new Float32Array([9, 1, 2]);
    expect(float32ToFloat16(buf.subarray(1))).toEqual(new Uint16Array([0x3c00, 0x4000]));
    const hb = new Uint16Array([0, 0x3c00, 0x4000]);
    expect(float16ToFloat32(hb.subarray(1))).toEqual(new Float32Array([1, 2]));
  });

  it('toFloat32 returns F32 data itself', () => {
    const data = new Float32Array([1]);
    expect(toFloat32({ dtype: 'F32', shape: [1], data })).toBe(data);
    expect(f32Bits(toFloat32({ dtype: 'F16', shape: [1], data: new Uint16Array([0x8000]) })[0]!)).toBe(
      0x80000000,
    );
  });
});

describe('malformed files', () => {
  const ok = (name = 'a') => `"${name}":${entry('F32', [1], 0, 4)}`;

  it('truncated: shorter than 8 bytes', () => {
    expectReason(() => parseSafetensors(new Uint8Array(0)), 'truncated', /0 bytes/);
    expectReason(() => parseSafetensors(new Uint8Array([2, 0, 0, 0, 0, 0, 0])), 'truncated', /7 bytes/);
    expectReason(() => readSafetensorsHeaderLength(new Uint8Array(3)), 'truncated');
  });

  it('truncated: header shorter than declared', () => {
    const file = build(`{${ok()}}`, [0, 0, 0, 0], 1000);
    expectReason(() => parseSafetensors(file), 'truncated', /1000/);
    expectReason(() => readSafetensorsHeader(file.subarray(0, 20)), 'truncated');
    const whole = build(`{${ok()}}`, [0, 0, 0, 0]);
    expectReason(() => readSafetensorsHeader(whole, { fileSize: 12 }), 'truncated', /12 bytes/);
  });

  it('header-too-large: checked before reading the header', () => {
    // Declares 2^40 bytes; the file is tiny, so only the limit check can fire first.
    const file = new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0x7b, 0x7d]);
    expectReason(() => parseSafetensors(file), 'header-too-large');
    const max = new Uint8Array(8).fill(0xff);
    expectReason(() => parseSafetensors(max), 'header-too-large');
    // A custom limit.
    const small = build(`{${ok()}}`, [0, 0, 0, 0]);
    expectReason(() => parseSafetensors(small, { maxHeaderBytes: 10 }), 'header-too-large', /limit of 10/);
    expect(() => parseSafetensors(small, { maxHeaderBytes: small.length - 12 })).not.toThrow();
    // Just above the default limit of 100 MiB.
    const big = new Uint8Array(8);
    new DataView(big.buffer).setUint32(0, 100 * 1024 * 1024 + 1, true);
    expectReason(() => readSafetensorsHeaderLength(big), 'header-too-large', /104857601/);
  });

  it('bad-header: not JSON, not UTF-8, not an object', () => {
    expectReason(() => parseSafetensors(build('{"a":')), 'bad-header', /JSON/);
    expectReason(() => parseSafetensors(build('[]')), 'bad-header', /object/);
    expectReason(() => parseSafetensors(build('null')), 'bad-header', /object/);
    expectReason(() => parseSafetensors(build('42')), 'bad-header');
    const invalidUtf8 = build('{"a":1}');
    invalidUtf8[10] = 0xff;
    expectReason(() => parseSafetensors(invalidUtf8), 'bad-header', /UTF-8/);
    // A leading byte-order mark is not allowed.
    expectReason(() => parseSafetensors(build('\uFEFF{}')), 'bad-header');
  });

  it('bad-header: entries missing fields or with bad shapes', () => {
    expectReason(() => parseSafetensors(build('{"a":[]}')), 'bad-header', /'a'/);
    expectReason(() => parseSafetensors(build('{"a":1}')), 'bad-header', /'a'/);
    expectReason(
      () => parseSafetensors(build('{"a":{"shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      'bad-header',
      /'a'.*dtype/,
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"F32","data_offsets":[0,4]}}', [0, 0, 0, 0])),
      'bad-header',
      /shape/,
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"F32","shape":[1]}}', [0, 0, 0, 0])),
      'bad-header',
      /data_offsets/,
    );
    for (const shape of ['[-1]', '[1.5]', '["1"]', '[null]', '[1e300]']) {
      expectReason(
        () =>
          parseSafetensors(
            build(`{"a":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`, [0, 0, 0, 0]),
          ),
        'bad-header',
        /'a'.*shape/,
      );
    }
  });

  it('bad-header: metadata not a string map', () => {
    expectReason(() => parseSafetensors(build('{"__metadata__":{"k":1}}')), 'bad-header', /'k'.*number/);
    expectReason(() => parseSafetensors(build('{"__metadata__":{"k":null}}')), 'bad-header', /'k'/);
    expectReason(() => parseSafetensors(build('{"__metadata__":"x"}')), 'bad-header', /__metadata__/);
    expectReason(() => parseSafetensors(build('{"__metadata__":["x"]}')), 'bad-header', /__metadata__/);
  });

  it('unknown-dtype', () => {
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F8_E4M3', [1], 0, 1)}}`, [0])),
      'unknown-dtype',
      /'a'.*F8_E4M3/,
    );
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('f32', [1], 0, 4)}}`, [0, 0, 0, 0])),
      'unknown-dtype',
    );
  });

  it('bad-offsets: begin > end, non-integers, wrong size, wrong arity', () => {
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F32', [0], 4, 0)}}`, [0, 0, 0, 0])),
      'bad-offsets',
      /'a'.*\[4, 0\]/,
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0.5,1.5]}}', [0, 0])),
      'bad-offsets',
      /'a'/,
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', [0])),
      'bad-offsets',
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":["0","1"]}}', [0])),
      'bad-offsets',
    );
    expectReason(
      () => parseSafetensors(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', [0])),
      'bad-offsets',
    );
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F32', [2, 3], 0, 20)}}`, new Array(20).fill(0))),
      'bad-offsets',
      /'a'.*20 bytes.*\[2,3\].*24 bytes/,
    );
  });

  it('bad-offsets: gaps between tensors, before the first, and trailing bytes', () => {
    expectReason(
      () =>
        parseSafetensors(
          build(`{"a":${entry('F32', [1], 0, 4)},"b":${entry('F32', [1], 8, 12)}}`, new Array(12).fill(0)),
        ),
      'bad-offsets',
      /gap \[4, 8\).*'b'/,
    );
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F32', [1], 4, 8)}}`, new Array(8).fill(0))),
      'bad-offsets',
      /gap \[0, 4\)/,
    );
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F32', [1], 0, 4)}}`, new Array(6).fill(0))),
      'bad-offsets',
      /2 trailing bytes/,
    );
    expectReason(() => parseSafetensors(build('{}', [0])), 'bad-offsets', /1 trailing byte/);
  });

  it('overlap', () => {
    expectReason(
      () =>
        parseSafetensors(
          build(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [1], 4, 8)}}`, new Array(8).fill(0)),
        ),
      'overlap',
      /'b' \[4, 8\).*'a' \[0, 8\)/,
    );
    // Identical ranges.
    expectReason(
      () =>
        parseSafetensors(
          build(`{"a":${entry('F32', [1], 0, 4)},"b":${entry('I32', [1], 0, 4)}}`, new Array(4).fill(0)),
        ),
      'overlap',
    );
    // Header-only reads detect it too.
    const file = build(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [1], 4, 8)}}`);
    expectReason(() => readSafetensorsHeader(file), 'overlap');
  });

  it('zero-size tensors may sit at a tensor boundary but not inside another tensor', () => {
    const good = build(
      `{"a":${entry('F32', [1], 0, 4)},"z":${entry('F32', [0], 4, 4)},"y":${entry('F32', [0, 2], 0, 0)}}`,
      [0, 0, 0, 0],
    );
    expect(Object.keys(parseSafetensors(good).tensors)).toEqual(['a', 'z', 'y']);
    const bad = build(
      `{"a":${entry('F32', [2], 0, 8)},"z":${entry('F32', [0], 4, 4)}}`,
      new Array(8).fill(0),
    );
    expectReason(() => parseSafetensors(bad), 'overlap', /'z'/);
  });

  it('out-of-range: a tensor ends beyond the data buffer', () => {
    expectReason(
      () => parseSafetensors(build(`{"a":${entry('F32', [2], 0, 8)}}`, [0, 0, 0, 0])),
      'out-of-range',
      /'a' \[0, 8\).*4 bytes/,
    );
    expectReason(
      () =>
        parseSafetensors(
          build(`{"a":${entry('F32', [1], 0, 4)},"b":${entry('F32', [1], 40, 44)}}`, [0, 0, 0, 0]),
        ),
      'out-of-range',
      /'b'/,
    );
    // With only a prefix, the check needs fileSize.
    const prefix = build(`{"a":${entry('F32', [2], 0, 8)}}`);
    expect(readSafetensorsHeader(prefix).dataLength).toBe(8);
    expectReason(() => readSafetensorsHeader(prefix, { fileSize: prefix.length + 4 }), 'out-of-range');
  });
});

describe('serializeSafetensors input validation', () => {
  it('rejects a shape that does not match the data', () => {
    expect(() => serializeSafetensors({ a: { shape: [3], data: new Float32Array(2) } })).toThrow(ShapeError);
    expect(() => serializeSafetensors({ a: { shape: [-1], data: new Float32Array(0) } })).toThrow(ShapeError);
    expect(() => serializeSafetensors({ a: { shape: [1.5], data: new Float32Array(1) } })).toThrow(
      ShapeError,
    );
  });

  it('rejects reserved names, mismatched arrays and non-string metadata', () => {
    expect(() => serializeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } })).toThrow(
      UsageError,
    );
    expect(() =>
      serializeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Uint16Array(1) } as never }),
    ).toThrow(UsageError);
    expect(() =>
      serializeSafetensors({ a: { dtype: 'X', shape: [1], data: new Float32Array(1) } as never }),
    ).toThrow(UsageError);
    expect(() =>
      serializeSafetensors({ a: { shape: [1], data: new Float32Array(1) } }, { k: 1 } as never),
    ).toThrow(UsageError);
  });
});
