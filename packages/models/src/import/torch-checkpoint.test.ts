import { existsSync, readFileSync } from 'node:fs';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DataError } from '@dirac/core';
import { describe, expect, it } from 'vitest';
import {
  isTorchTensor,
  readTorchCheckpoint,
  type TorchCheckpoint,
  type TorchTensor,
  torchTensorToFloat32,
} from './torch-checkpoint';
import { isPyTuple } from './torch-pickle';

const FIXTURES = new URL('../../test/fixtures/torch/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, FIXTURES)));
const json = (name: string) => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));

interface Summary {
  dtype: string;
  shape: number[];
  sum: number;
  sumAbs: number;
  samples: [number, number][];
}

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectDataError(f: () => unknown, message?: RegExp): void {
  const e = errorOf(f);
  expect(e).toBeInstanceOf(DataError);
  if (message) expect((e as Error).message).toMatch(message);
}

function expectSummary(t: TorchTensor | undefined, s: Summary, name: string): void {
  expect(t, name).toBeDefined();
  const tensor = t!;
  expect(tensor.dtype, name).toBe(s.dtype);
  expect(tensor.shape, name).toEqual(s.shape);
  const data = torchTensorToFloat32(tensor);
  expect(data.length).toBe(s.shape.reduce((a, b) => a * b, 1));
  for (const [i, v] of s.samples) expect(data[i], `${name}[${i}]`).toBe(v);
  let sum = 0;
  let sumAbs = 0;
  for (const v of data) {
    sum += v;
    sumAbs += Math.abs(v);
  }
  expect(Math.abs(sum - s.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, s.sumAbs));
  expect(Math.abs(sumAbs - s.sumAbs)).toBeLessThanOrEqual(1e-9 * Math.max(1, s.sumAbs));
}

// ---------------------------------------------------------------------------------------------------
// Tiny writers for hand-made (hostile) checkpoints.

const concat = (...parts: (Uint8Array | string)[]): Uint8Array => {
  const arrays = parts.map((p) => (typeof p === 'string' ? new Uint8Array(Buffer.from(p, 'latin1')) : p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
};
const u32le = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u16le = (n: number) => new Uint8Array([n & 0xff, n >> 8]);
const u64le = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

const P = {
  str: (s: string) => concat('X', u32le(Buffer.byteLength(s)), new Uint8Array(Buffer.from(s, 'utf8'))),
  int: (n: number): Uint8Array => {
    if (n >= 0 && n < 256) return concat('K', new Uint8Array([n]));
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, n, true);
      return concat('J', b);
    }
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
    return concat('\x8a\x08', b);
  },
  tuple: (...items: Uint8Array[]) => concat('(', ...items, 't'),
  global: (module: string, name: string) => `c${module}\n${name}\n`,
};

interface FakeTensor {
  name: string;
  storage: string; // e.g. 'FloatStorage'
  key: string;
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
}

/** A torch-like main pickle: {name: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}. */
function statePickle(tensors: FakeTensor[], legacy: boolean): Uint8Array {
  const items = tensors.map((t) => {
    const pid = P.tuple(
      P.str('storage'),
      concat(P.global('torch', t.storage)),
      P.str(t.key),
      P.str('cpu'),
      P.int(t.numel),
      ...(legacy ? [concat('N')] : []),
    );
    return concat(
      P.str(t.name),
      P.global('torch._utils', '_rebuild_tensor_v2'),
      '(',
      pid,
      'Q',
      P.int(t.offset),
      P.tuple(...t.size.map(P.int)),
      P.tuple(...t.stride.map(P.int)),
      '\x89',
      P.global('collections', 'OrderedDict'),
      ')R',
      't',
      'R',
    );
  });
  return concat('\x80\x02}(', ...items, 'u.');
}

let crcTable: number[] | undefined;
function crc32(b: Uint8Array): number {
  crcTable ??= Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function makeZip(entries: { name: string; data: Uint8Array; deflate?: boolean }[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new Uint8Array(Buffer.from(e.name));
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = crc32(e.data);
    const method = e.deflate ? 8 : 0;
    const common = concat(
      u16le(20),
      u16le(0),
      u16le(method),
      u16le(0),
      u16le(0),
      u32le(crc),
      u32le(body.length),
      u32le(e.data.length),
      u16le(name.length),
    );
    const local = concat(u32le(0x04034b50), common, u16le(0), name, body);
    centrals.push(
      concat(
        u32le(0x02014b50),
        u16le(20),
        common,
        u16le(0),
        u16le(0),
        u16le(0),
        u16le(0),
        u32le(0),
        u32le(offset),
        name,
      ),
    );
    locals.push(local);
    offset += local.length;
  }
  const cd = concat(...centrals);
  const eocd = concat(
    u32le(0x06054b50),
    u16le(0),
    u16le(0),
    u16le(entries.length),
    u16le(entries.length),
    u32le(cd.length),
    u32le(offset),
    u16le(0),
  );
  return concat(...locals, cd, eocd);
}

/** Re-packs a torch zip checkpoint with our writer (optionally deflating every entry). */
function repackZip(bytes: Uint8Array, deflate: boolean): Uint8Array {
  // torch writes sizes in data descriptors, so read them from the central directory.
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const count = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const entries: { name: string; data: Uint8Array; deflate: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const size = dv.getUint32(p + 20, true);
    const nameLen = dv.getUint16(p + 28, true);
    const skip = nameLen + dv.getUint16(p + 30, true) + dv.getUint16(p + 32, true);
    const local = dv.getUint32(p + 42, true);
    const name = Buffer.from(bytes.subarray(p + 46, p + 46 + nameLen)).toString();
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    entries.push({ name, data: bytes.slice(start, start + size), deflate });
    p += 46 + skip;
  }
  return makeZip(entries);
}

const LEGACY_HEADER = concat(
  '\x80\x02\x8a\x0a',
  new Uint8Array([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]),
  '.',
  '\x80\x02M\xe9\x03.',
  '\x80\x02}(',
  P.str('little_endian'),
  '\x88u.',
);

function makeLegacy(
  main: Uint8Array,
  storages: { key: string; count: number; bytes: Uint8Array }[],
): Uint8Array {
  const keys = concat('\x80\x02](', ...storages.map((s) => P.str(s.key)), 'e.');
  return concat(LEGACY_HEADER, main, keys, ...storages.flatMap((s) => [u64le(s.count), s.bytes]));
}

const floats = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);

// ---------------------------------------------------------------------------------------------------

describe('readTorchCheckpoint: upstream CIFAR training checkpoint', () => {
  const expected = json('cifar-diracnet10-w0.25.json');
  for (const file of expected.files as string[]) {
    it(`reads ${file}`, () => {
      const ckpt = readTorchCheckpoint(fixture(file));
      expect(ckpt.format).toBe(file.endsWith('.legacy.pt') ? 'legacy' : 'zip');
      expect(Object.keys(ckpt.tensors)).toEqual(expected.paramKeys);
      for (const [name, s] of Object.entries(expected.params as Record<string, Summary>)) {
        expectSummary(ckpt.tensors[name], s, name);
      }
      expect(ckpt.tensors.conv!.requiresGrad).toBe(true);
      expect(ckpt.tensors['bn.running_mean']!.requiresGrad).toBe(false);
      expect(ckpt.tensors.eye4_4_3_3!.requiresGrad).toBe(false);
      expect(Object.keys(ckpt.extras).sort()).toEqual(['epoch', 'optimizer']);
      expect(ckpt.extras.epoch).toBe(expected.epoch);
      const opt = ckpt.extras.optimizer as Map<string, unknown>;
      expect(opt).toBeInstanceOf(Map);
      const groups = opt.get('param_groups') as Map<string, unknown>[];
      expect(groups.length).toBe(expected.optimizer.numParamGroups);
      expect(groups.map((g) => (g.get('params') as unknown[]).length)).toEqual(
        expected.optimizer.paramGroupSizes,
      );
      expect(groups[0]!.get('weight_decay')).toBe(0.0005);
      expect(groups[0]!.get('momentum')).toBe(0.9);
      const state = opt.get('state') as Map<number, Map<string, unknown>>;
      expect([...state.keys()].sort((a, b) => a - b)).toEqual(expected.optimizer.stateKeys);
      expectSummary(
        state.get(0)!.get('momentum_buffer') as TorchTensor,
        expected.optimizer.momentum0,
        'momentum0',
      );
      // The root holds the same tensor objects.
      const root = ckpt.root as Map<string, unknown>;
      expect((root.get('params') as Map<string, unknown>).get('conv')).toBe(ckpt.tensors.conv);
      expect(isTorchTensor(ckpt.tensors.conv)).toBe(true);
    });
  }

  it('the zip and legacy files give identical tensors', () => {
    const [a, b] = (expected.files as string[]).map((f) => readTorchCheckpoint(fixture(f)));
    for (const name of expected.paramKeys as string[])
      expect(a!.tensors[name]!.data).toEqual(b!.tensors[name]!.data);
  });
});

describe('readTorchCheckpoint: folded ImageNet DiracNet state_dict', () => {
  const expected = json('imagenet-diracnet18-tiny-folded.json');
  for (const file of expected.files as string[]) {
    it(`reads ${file}`, () => {
      const ckpt = readTorchCheckpoint(fixture(file));
      expect(Object.keys(ckpt.tensors)).toEqual(expected.keys);
      expect(ckpt.tensors['features.conv.weight']!.shape).toEqual([4, 3, 7, 7]);
      expect(ckpt.tensors['features.group3.block3.conv.weight']!.shape).toEqual([32, 32, 3, 3]);
      expect(ckpt.tensors['fc.weight']!.shape).toEqual([1000, 32]);
      for (const [name, s] of Object.entries(expected.tensors as Record<string, Summary>)) {
        expectSummary(ckpt.tensors[name], s, name);
      }
      expect(Object.keys(ckpt.extras)).toEqual([]);
      expect(ckpt.root).toBeInstanceOf(Map);
    });
  }
});

describe('readTorchCheckpoint: views, strides, dtypes, nesting', () => {
  const expected = json('views.json');
  type Expect = { dtype: string; shape: number[]; values: (number | string | null)[] };
  for (const file of expected.files as string[]) {
    it(`reads ${file}`, () => {
      const ckpt = readTorchCheckpoint(fixture(file));
      const names = Object.keys(expected.tensors);
      expect(Object.keys(ckpt.tensors)).toEqual(names);
      for (const [name, e] of Object.entries(expected.tensors as Record<string, Expect>)) {
        const t = ckpt.tensors[name]!;
        expect(t.dtype, name).toBe(e.dtype);
        expect(t.shape, name).toEqual(e.shape);
        const want = e.values.map((v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number)));
        const got = Array.from(t.data as ArrayLike<number>);
        if (t.data instanceof Float32Array) expect(got, name).toEqual(want.map(Math.fround));
        else expect(got, name).toEqual(want);
      }
      expect(Object.is(ckpt.tensors.float16!.data[5], -0)).toBe(true);
      expect(ckpt.tensors.int64!.data).toBeInstanceOf(Float64Array);
      expect(ckpt.tensors.bool!.data).toBeInstanceOf(Uint8Array);
      expect(ckpt.tensors.param!.requiresGrad).toBe(true);
      expect(ckpt.tensors.requires_grad!.requiresGrad).toBe(true);
      expect(ckpt.tensors.contiguous!.requiresGrad).toBe(false);
      expect(ckpt.extras.epoch).toBe(3);
      const meta = ckpt.extras.meta as Map<string, unknown>;
      expect(meta.get('name')).toBe('views');
      expect(meta.get('lr')).toBe(0.125);
      expect(meta.get('big')).toBe(2n ** 70n);
      const flags = meta.get('flags') as unknown[];
      expect(flags.slice(0, 2)).toEqual([true, null]);
      expect(isPyTuple(flags[2])).toBe(true);
      expect(flags[2]).toEqual([1, 'two']);
    });
  }

  it('flattens nested dicts with dots and keeps non-tensor entries as extras when the root is the state dict', () => {
    const main = concat(
      '\x80\x02}(',
      P.str('top'),
      P.int(5),
      P.str('enc'),
      statePickle(
        [{ name: 'w', storage: 'FloatStorage', key: '0', numel: 2, offset: 0, size: [2], stride: [1] }],
        false,
      ).subarray(2, -1),
      'u.',
    );
    const ckpt = readTorchCheckpoint(
      makeZip([
        { name: 'x/data.pkl', data: main },
        { name: 'x/data/0', data: floats(1, 2) },
      ]),
    );
    expect(Object.keys(ckpt.tensors)).toEqual(['enc.w']);
    expect(Array.from(ckpt.tensors['enc.w']!.data)).toEqual([1, 2]);
    expect({ ...ckpt.extras }).toEqual({ top: 5 });
  });
});

describe('readTorchCheckpoint: zip details', () => {
  it('reads deflated entries with an injected inflate, and explains when none is given', () => {
    const packed = repackZip(fixture('views.pt'), true);
    const ckpt = readTorchCheckpoint(packed, { inflateRaw: (b) => new Uint8Array(inflateRawSync(b)) });
    const plain = readTorchCheckpoint(fixture('views.pt'));
    expect(Object.keys(ckpt.tensors)).toEqual(Object.keys(plain.tensors));
    expect(ckpt.tensors.transposed!.data).toEqual(plain.tensors.transposed!.data);
    expectDataError(() => readTorchCheckpoint(packed), /deflate-compressed; pass options\.inflateRaw/);
  });

  it('finds data.pkl whatever the top folder is called, and reads big-endian storages', () => {
    const main = statePickle(
      [{ name: 'w', storage: 'FloatStorage', key: '0', numel: 3, offset: 1, size: [2], stride: [1] }],
      false,
    );
    const be = new Uint8Array(12);
    for (const [i, v] of [1.5, -2, 3.25].entries()) new DataView(be.buffer).setFloat32(i * 4, v, false);
    const ckpt = readTorchCheckpoint(
      makeZip([
        { name: 'my model v2/data.pkl', data: main },
        { name: 'my model v2/byteorder', data: new Uint8Array(Buffer.from('big')) },
        { name: 'my model v2/data/0', data: be },
      ]),
    );
    expect(Array.from(ckpt.tensors.w!.data)).toEqual([-2, 3.25]);
  });

  it('detects corruption through the CRC', () => {
    const bytes = fixture('views.pt');
    const ckpt = readTorchCheckpoint(bytes); // sanity
    expect(ckpt.format).toBe('zip');
    const corrupt = bytes.slice();
    // Flip the first data byte of the first storage (its local header carries alignment padding).
    const localStart = Buffer.from(corrupt).indexOf('views/data/0') - 30;
    const dv = new DataView(corrupt.buffer);
    expect(dv.getUint32(localStart, true)).toBe(0x04034b50);
    const dataStart =
      localStart + 30 + dv.getUint16(localStart + 26, true) + dv.getUint16(localStart + 28, true);
    corrupt[dataStart] = corrupt[dataStart]! ^ 0xff;
    expectDataError(() => readTorchCheckpoint(corrupt), /CRC mismatch in entry 'views\/data\/0'/);
    expect(readTorchCheckpoint(corrupt, { verifyChecksums: false }).format).toBe('zip');
  });

  it('refuses a zip without */data.pkl, or with a missing storage', () => {
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/other.txt', data: new Uint8Array(3) }])),
      /no <name>\/data\.pkl/,
    );
    const main = statePickle(
      [{ name: 'w', storage: 'FloatStorage', key: '7', numel: 1, offset: 0, size: [1], stride: [1] }],
      false,
    );
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: main }])),
      /storage '7' is missing/,
    );
  });
});

describe('readTorchCheckpoint: other torch encodings', () => {
  it('reads Python-2-era legacy pickles: BINSTRING keys, torch.cuda storages, _rebuild_tensor v1', () => {
    const s = (t: string) => concat('U', new Uint8Array([t.length]), t); // SHORT_BINSTRING
    const main = concat(
      '\x80\x02',
      P.global('collections', 'OrderedDict'),
      ')R(',
      s('conv.weight'),
      P.global('torch._utils', '_rebuild_tensor'),
      '(',
      P.tuple(
        s('storage'),
        concat(P.global('torch.cuda', 'HalfStorage')),
        s('140'),
        s('cuda:0'),
        P.int(3),
        concat('N'),
      ),
      'Q',
      P.int(0),
      P.tuple(P.int(3)),
      P.tuple(P.int(1)),
      'tR',
      'u.',
    );
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555]).buffer); // 1, -2, ~0.333
    const ckpt = readTorchCheckpoint(makeLegacy(main, [{ key: '140', count: 3, bytes: half }]));
    expect(ckpt.tensors['conv.weight']!.dtype).toBe('float16');
    expect(Array.from(ckpt.tensors['conv.weight']!.data)).toEqual([1, -2, Math.fround(0.333251953125)]);
  });

  it('reads legacy storage views (view_metadata)', () => {
    const pid = (viewKey: string, offset: number, size: number) =>
      P.tuple(
        P.str('storage'),
        concat(P.global('torch', 'FloatStorage')),
        P.str('0'),
        P.str('cpu'),
        P.int(6),
        P.tuple(P.str(viewKey), P.int(offset), P.int(size)),
      );
    const tensor = (name: string, p: Uint8Array, n: number) =>
      concat(
        P.str(name),
        P.global('torch._utils', '_rebuild_tensor_v2'),
        '(',
        p,
        'Q',
        P.int(1),
        P.tuple(P.int(n)),
        P.tuple(P.int(1)),
        '\x89}t',
        'R',
      );
    const main = concat('\x80\x02}(', tensor('a', pid('v1', 2, 3), 2), tensor('b', pid('v2', 0, 6), 5), 'u.');
    const ckpt = readTorchCheckpoint(
      makeLegacy(main, [{ key: '0', count: 6, bytes: floats(0, 1, 2, 3, 4, 5) }]),
    );
    expect(Array.from(ckpt.tensors.a!.data)).toEqual([3, 4]);
    expect(Array.from(ckpt.tensors.b!.data)).toEqual([1, 2, 3, 4, 5]);
    const tooBig = concat('\x80\x02}(', tensor('a', pid('v1', 4, 3), 1), 'u.');
    expectDataError(
      () =>
        readTorchCheckpoint(makeLegacy(tooBig, [{ key: '0', count: 6, bytes: floats(0, 1, 2, 3, 4, 5) }])),
      /does not fit/,
    );
  });

  it('reads UntypedStorage + _rebuild_tensor_v3, _rebuild_from_type_v2, dtypes, torch.device and torch.Size', () => {
    const pid = P.tuple(
      P.str('storage'),
      concat(P.global('torch', 'UntypedStorage')),
      P.str('0'),
      P.str('cpu'),
      P.int(12),
    );
    const v3 = concat(
      P.global('torch._utils', '_rebuild_tensor_v3'),
      '(',
      pid,
      'Q',
      P.int(1),
      P.tuple(P.int(2)),
      P.tuple(P.int(1)),
      '\x88}',
      P.global('torch', 'float32'),
      't',
      'R',
    );
    const main = concat(
      '\x80\x02}(',
      P.str('state_dict'),
      '}(',
      P.str('w'),
      P.global('torch._tensor', '_rebuild_from_type_v2'),
      '(',
      P.global('torch._utils', '_rebuild_parameter'),
      P.global('torch.nn.parameter', 'Parameter'),
      '(',
      v3,
      '\x88}t',
      '}t',
      'R',
      'u',
      P.str('dtype'),
      P.global('torch', 'bfloat16'),
      P.str('device'),
      P.global('torch', 'device'),
      P.tuple(P.str('cuda'), P.int(1)),
      'R',
      P.str('size'),
      P.global('torch', 'Size'),
      P.tuple(P.tuple(P.int(2), P.int(3))),
      'R',
      'u.',
    );
    const ckpt = readTorchCheckpoint(
      makeZip([
        { name: 'archive/data.pkl', data: main },
        { name: 'archive/data/0', data: floats(9, 1.5, -2.5) },
      ]),
    );
    const w = ckpt.tensors.w!;
    expect(w.dtype).toBe('float32');
    expect(w.requiresGrad).toBe(true);
    expect(Array.from(w.data)).toEqual([1.5, -2.5]);
    expect(ckpt.extras.dtype).toMatchObject({ dtype: 'bfloat16', qualifiedName: 'torch.bfloat16' });
    expect(ckpt.extras.device).toBe('cuda:1');
    expect(ckpt.extras.size).toEqual([2, 3]);
    // _rebuild_from_type_v2 only rebuilds into torch.Tensor / Parameter.
    const evil = concat(
      '\x80\x02',
      P.global('torch._tensor', '_rebuild_from_type_v2'),
      '(',
      P.global('torch._utils', '_rebuild_parameter'),
      P.global('collections', 'OrderedDict'),
      ')}t',
      'R.',
    );
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: evil }])),
      /is not allowed/,
    );
  });
});

describe('readTorchCheckpoint: refuses code', () => {
  const PWNED = '/tmp/dirac-torch-fixture-pwned';
  const cases: [string, RegExp][] = [
    ['malicious.pt', /^refusing to load posix\.system: a checkpoint may only rebuild tensors$/],
    ['malicious-stack-global.pt', /^refusing to load builtins\.eval: a checkpoint may only rebuild tensors$/],
    ['malicious.legacy.pt', /^refusing to load posix\.system: a checkpoint may only rebuild tensors$/],
  ];
  for (const [file, message] of cases) {
    it(`refuses ${file}`, () => {
      expect(existsSync(PWNED)).toBe(false);
      expectDataError(() => readTorchCheckpoint(fixture(file)), message);
      expect(existsSync(PWNED)).toBe(false);
    });
  }

  it('refuses pickled modules and other classes', () => {
    const main = concat('\x80\x02', P.global('torchvision.models.resnet', 'ResNet'), ')\x81.');
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: main }])),
      /^refusing to load torchvision\.models\.resnet\.ResNet: a checkpoint may only rebuild tensors$/,
    );
    const ns = concat('\x80\x02', P.global('argparse', 'Namespace'), ').');
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: ns }])),
      /argparse\.Namespace/,
    );
  });
});

describe('readTorchCheckpoint: malformed, truncated and absurd input', () => {
  it('rejects random bytes, text, empty and tiny inputs', () => {
    let seed = 42;
    const random = new Uint8Array(4096).map(() => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed >>> 24;
    });
    expectDataError(() => readTorchCheckpoint(random), /not a PyTorch checkpoint/);
    expectDataError(
      () => readTorchCheckpoint(new Uint8Array(Buffer.from('just some text\n'.repeat(20)))),
      /not a PyTorch checkpoint/,
    );
    expectDataError(() => readTorchCheckpoint(new Uint8Array(0)), /not a PyTorch checkpoint/);
    expectDataError(() => readTorchCheckpoint(new Uint8Array([0x80, 0x02, 0x4e, 0x2e])), /magic number/);
    expectDataError(() => readTorchCheckpoint(concat('PK\x03\x04', random)), /end of central directory/);
  });

  it('every truncation of each fixture is a DataError', () => {
    for (const file of [
      'views.pt',
      'views.legacy.pt',
      'cifar-diracnet10-w0.25.pt',
      'cifar-diracnet10-w0.25.legacy.pt',
    ]) {
      const bytes = fixture(file);
      const cuts = [1, 2, 3, 10, 31, 64, 100, 300, 1000, 2000];
      for (let i = 1; i < 40; i++) cuts.push(Math.floor((bytes.length * i) / 40));
      cuts.push(bytes.length - 1);
      for (const n of cuts) {
        if (n >= bytes.length) continue;
        expectDataError(() => readTorchCheckpoint(bytes.subarray(0, n)));
      }
    }
  });

  it('random corruption gives a checkpoint or a DataError, never another error', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const file of ['views.pt', 'views.legacy.pt']) {
      const original = fixture(file);
      for (let trial = 0; trial < 400; trial++) {
        const bytes = original.slice();
        const flips = 1 + Math.floor(rand() * 4);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        const e = errorOf(() =>
          readTorchCheckpoint(bytes, { verifyChecksums: false, maxTensorBytes: 1 << 20 }),
        );
        if (e !== undefined) expect(e).toBeInstanceOf(DataError);
      }
    }
  });

  const zipWith = (tensors: FakeTensor[], storages: Record<string, Uint8Array>) =>
    makeZip([
      { name: 'archive/data.pkl', data: statePickle(tensors, false) },
      ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    ]);
  const one = (over: Partial<FakeTensor>): FakeTensor => ({
    name: 'w',
    storage: 'FloatStorage',
    key: '0',
    numel: 4,
    offset: 0,
    size: [4],
    stride: [1],
    ...over,
  });

  it('refuses an absurd declared storage size before allocating', () => {
    expectDataError(
      () =>
        readTorchCheckpoint(zipWith([one({ numel: 2 ** 50, size: [2 ** 50] })], { 0: floats(1, 2, 3, 4) })),
      /maxTensorBytes/,
    );
    // Plausible but larger than the bytes present.
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ numel: 1000, size: [1000] })], { 0: floats(1, 2, 3, 4) })),
      /declares 1000 float32 elements but its entry holds 16 bytes/,
    );
  });

  it('refuses views that do not fit in their storage, negative strides and absurd shapes', () => {
    const s = { 0: floats(1, 2, 3, 4) };
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [5] })], s)),
      /does not fit in its storage/,
    );
    expectDataError(() => readTorchCheckpoint(zipWith([one({ offset: 3, size: [2] })], s)), /does not fit/);
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [2, 2], stride: [1, 3] })], s)),
      /does not fit/,
    );
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [2], stride: [-1] })], s)),
      /not a non-negative integer/,
    );
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [2], stride: [1, 1] })], s)),
      /stride has 2/,
    );
    // Stride-0 broadcast of a 1-element storage to 2^40 elements: refused by the byte budget, not allocated.
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [2 ** 20, 2 ** 20], stride: [0, 0] })], s)),
      /exceeds maxTensorBytes/,
    );
    expectDataError(
      () => readTorchCheckpoint(zipWith([one({ size: [2048], stride: [0] })], s), { maxTensorBytes: 4096 }),
      /exceeds maxTensorBytes/,
    );
    // Fine within the budget: zero-size and broadcast views.
    const ok = readTorchCheckpoint(zipWith([one({ size: [3, 0], stride: [0, 0] })], s));
    expect(ok.tensors.w!.shape).toEqual([3, 0]);
    expect(ok.tensors.w!.data.length).toBe(0);
  });

  it('bounds the total decoded size', () => {
    expectDataError(
      () => readTorchCheckpoint(fixture('cifar-diracnet10-w0.25.pt'), { maxTensorBytes: 10_000 }),
      /maxTensorBytes/,
    );
  });

  it('refuses unsupported storage types and malformed persistent ids', () => {
    expectDataError(
      () =>
        readTorchCheckpoint(zipWith([one({ storage: 'ComplexFloatStorage' })], { 0: floats(1, 2, 3, 4) })),
      /unsupported storage type torch\.ComplexFloatStorage/,
    );
    const badPid = concat('\x80\x02', P.tuple(P.str('storage'), P.int(1)), 'Q.');
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: badPid }])),
      /persistent id has 2 fields/,
    );
    const modulePid = concat('\x80\x02', P.tuple(P.str('module'), P.str('x')), 'Q.');
    expectDataError(
      () => readTorchCheckpoint(makeZip([{ name: 'a/data.pkl', data: modulePid }])),
      /nn\.Module/,
    );
  });

  it('legacy: refuses a storage count beyond the file, and reads hand-made files', () => {
    const t = one({ numel: 4, size: [2, 2], stride: [1, 2] });
    const main = statePickle([t], true);
    const good = readTorchCheckpoint(makeLegacy(main, [{ key: '0', count: 4, bytes: floats(1, 2, 3, 4) }]));
    expect(good.format).toBe('legacy');
    expect(Array.from(good.tensors.w!.data)).toEqual([1, 3, 2, 4]);
    expectDataError(
      () => readTorchCheckpoint(makeLegacy(main, [{ key: '0', count: 2 ** 40, bytes: floats(1, 2, 3, 4) }])),
      /declares 1099511627776 float32 elements but only 16 bytes remain/,
    );
    expectDataError(
      () => readTorchCheckpoint(makeLegacy(main, [{ key: '0', count: 2, bytes: floats(1, 2) }])),
      /declares 4 float32 elements \(16 bytes\) but only 8 bytes are present/,
    );
    expectDataError(
      () => readTorchCheckpoint(makeLegacy(main, [{ key: '9', count: 4, bytes: floats(1, 2, 3, 4) }])),
      /storage '9' is listed but never used/,
    );
  });
});

// Keep the type export exercised.
export type { TorchCheckpoint };
