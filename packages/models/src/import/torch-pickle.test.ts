import { DataError } from '@dirac/core';
import { describe, expect, it } from 'vitest';
import { getPyState, isPyTuple, PyCallable, unpickle } from './torch-pickle';

/**
 * `pickle.dumps(o, protocol=p)` by CPython 3.11 for p = 0..5, where o is a dict of None, bools, ints
 * (small, negative, -2^31, ±2^70, 2^53-1), floats, a non-ASCII str, list, nested tuple, int-keyed dict,
 * a list shared twice, a self-containing list and empty containers; plus bytes (p >= 3), set and
 * frozenset (p >= 4) and bytearray (p = 5).
 */
const VECTORS: Record<number, string> = {
  0: 'KGRwMApWbm9uZQpwMQpOc1Z0CnAyCkkwMQpzVmYKcDMKSTAwCnNWc21hbGwKcDQKSTcKc1ZuZWcKcDUKSS0zMDAKc1ZpMzIKcDYKSS0yMTQ3NDgzNjQ4CnNWYmlnCnA3CkwxMTgwNTkxNjIwNzE3NDExMzAzNDI0TApzVm5iaWcKcDgKTC0xMTgwNTkxNjIwNzE3NDExMzAzNDI0TApzVnNhZmUKcDkKTDkwMDcxOTkyNTQ3NDA5OTFMCnNWZmwKcDEwCkYxLjUKc1ZuZmwKcDExCkYtMC4yNQpzVmluZgpwMTIKRmluZgpzVnMKcDEzClZo6WxsbyBcdTI2MDMgXFUwMDAxZjYwMApwMTQKc1Zsc3QKcDE1CihscDE2CkkxCmFWYQpwMTcKYU5hc1Z0dXAKcDE4CihJMQooSTIKSTMKdHAxOQp0cDIwCnNWZApwMjEKKGRwMjIKSTEKVm9uZQpwMjMKc0kyClZ0d28KcDI0CnNzVnNoCnAyNQooKGxwMjYKSTEKYUkyCmFnMjYKdHAyNwpzVnJlYwpwMjgKKGxwMjkKZzI5CmFzVmVtcHR5CnAzMAooKHQobHAzMQooZHAzMgp0cDMzCnMu',
  1: 'fXEAKFgEAAAAbm9uZXEBTlgBAAAAdHECSTAxClgBAAAAZnEDSTAwClgFAAAAc21hbGxxBEsHWAMAAABuZWdxBUrU/v//WAMAAABpMzJxBkoAAACAWAMAAABiaWdxB0wxMTgwNTkxNjIwNzE3NDExMzAzNDI0TApYBAAAAG5iaWdxCEwtMTE4MDU5MTYyMDcxNzQxMTMwMzQyNEwKWAQAAABzYWZlcQlMOTAwNzE5OTI1NDc0MDk5MUwKWAIAAABmbHEKRz/4AAAAAAAAWAMAAABuZmxxC0e/0AAAAAAAAFgDAAAAaW5mcQxHf/AAAAAAAABYAQAAAHNxDVgPAAAAaMOpbGxvIOKYgyDwn5iAcQ5YAwAAAGxzdHEPXXEQKEsBWAEAAABhcRFOZVgDAAAAdHVwcRIoSwEoSwJLA3RxE3RxFFgBAAAAZHEVfXEWKEsBWAMAAABvbmVxF0sCWAMAAAB0d29xGHVYAgAAAHNocRkoXXEaKEsBSwJlaBp0cRtYAwAAAHJlY3EcXXEdaB1hWAUAAABlbXB0eXEeKCldcR99cSB0cSF1Lg==',
  2: 'gAJ9cQAoWAQAAABub25lcQFOWAEAAAB0cQKIWAEAAABmcQOJWAUAAABzbWFsbHEESwdYAwAAAG5lZ3EFStT+//9YAwAAAGkzMnEGSgAAAIBYAwAAAGJpZ3EHigkAAAAAAAAAAEBYBAAAAG5iaWdxCIoJAAAAAAAAAADAWAQAAABzYWZlcQmKB////////x9YAgAAAGZscQpHP/gAAAAAAABYAwAAAG5mbHELR7/QAAAAAAAAWAMAAABpbmZxDEd/8AAAAAAAAFgBAAAAc3ENWA8AAABow6lsbG8g4piDIPCfmIBxDlgDAAAAbHN0cQ9dcRAoSwFYAQAAAGFxEU5lWAMAAAB0dXBxEksBSwJLA4ZxE4ZxFFgBAAAAZHEVfXEWKEsBWAMAAABvbmVxF0sCWAMAAAB0d29xGHVYAgAAAHNocRldcRooSwFLAmVoGoZxG1gDAAAAcmVjcRxdcR1oHWFYBQAAAGVtcHR5cR4pXXEffXEgh3EhdS4=',
  3: 'gAN9cQAoWAQAAABub25lcQFOWAEAAAB0cQKIWAEAAABmcQOJWAUAAABzbWFsbHEESwdYAwAAAG5lZ3EFStT+//9YAwAAAGkzMnEGSgAAAIBYAwAAAGJpZ3EHigkAAAAAAAAAAEBYBAAAAG5iaWdxCIoJAAAAAAAAAADAWAQAAABzYWZlcQmKB////////x9YAgAAAGZscQpHP/gAAAAAAABYAwAAAG5mbHELR7/QAAAAAAAAWAMAAABpbmZxDEd/8AAAAAAAAFgBAAAAc3ENWA8AAABow6lsbG8g4piDIPCfmIBxDlgDAAAAbHN0cQ9dcRAoSwFYAQAAAGFxEU5lWAMAAAB0dXBxEksBSwJLA4ZxE4ZxFFgBAAAAZHEVfXEWKEsBWAMAAABvbmVxF0sCWAMAAAB0d29xGHVYAgAAAHNocRldcRooSwFLAmVoGoZxG1gDAAAAcmVjcRxdcR1oHWFYBQAAAGVtcHR5cR4pXXEffXEgh3EhWAUAAABieXRlc3EiQwQA/2FicSN1Lg==',
  4: 'gASVOQEAAAAAAAB9lCiMBG5vbmWUTowBdJSIjAFmlImMBXNtYWxslEsHjANuZWeUStT+//+MA2kzMpRKAAAAgIwDYmlnlIoJAAAAAAAAAABAjARuYmlnlIoJAAAAAAAAAADAjARzYWZllIoH////////H4wCZmyURz/4AAAAAAAAjANuZmyUR7/QAAAAAAAAjANpbmaUR3/wAAAAAAAAjAFzlIwPaMOpbGxvIOKYgyDwn5iAlIwDbHN0lF2UKEsBjAFhlE5ljAN0dXCUSwFLAksDhpSGlIwBZJR9lChLAYwDb25llEsCjAN0d2+UdYwCc2iUXZQoSwFLAmVoGoaUjANyZWOUXZRoHWGMBWVtcHR5lCldlH2Uh5SMBWJ5dGVzlEMEAP9hYpSMA3NldJSPlChLAUsCkIwEZnNldJQoSwORlHUu',
  5: 'gAWVSgEAAAAAAAB9lCiMBG5vbmWUTowBdJSIjAFmlImMBXNtYWxslEsHjANuZWeUStT+//+MA2kzMpRKAAAAgIwDYmlnlIoJAAAAAAAAAABAjARuYmlnlIoJAAAAAAAAAADAjARzYWZllIoH////////H4wCZmyURz/4AAAAAAAAjANuZmyUR7/QAAAAAAAAjANpbmaUR3/wAAAAAAAAjAFzlIwPaMOpbGxvIOKYgyDwn5iAlIwDbHN0lF2UKEsBjAFhlE5ljAN0dXCUSwFLAksDhpSGlIwBZJR9lChLAYwDb25llEsCjAN0d2+UdYwCc2iUXZQoSwFLAmVoGoaUjANyZWOUXZRoHWGMBWVtcHR5lCldlH2Uh5SMBWJ5dGVzlEMEAP9hYpSMA3NldJSPlChLAUsCkIwEZnNldJQoSwORlIwCYmGUlgIAAAAAAAAAeHmUdS4=',
};

const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

function expectDataError(f: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DataError);
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('unpickle: CPython pickles of protocols 0-5', () => {
  for (const [proto, b64] of Object.entries(VECTORS)) {
    it(`protocol ${proto}`, () => {
      const bytes = bytesOf(b64);
      const { value, end } = unpickle(bytes);
      expect(end).toBe(bytes.length);
      expect(value).toBeInstanceOf(Map);
      const d = value as Map<string, unknown>;
      expect(d.get('none')).toBeNull();
      expect(d.get('t')).toBe(true);
      expect(d.get('f')).toBe(false);
      expect(d.get('small')).toBe(7);
      expect(d.get('neg')).toBe(-300);
      expect(d.get('i32')).toBe(-(2 ** 31));
      expect(d.get('big')).toBe(2n ** 70n);
      expect(d.get('nbig')).toBe(-(2n ** 70n));
      expect(d.get('safe')).toBe(Number.MAX_SAFE_INTEGER);
      expect(d.get('fl')).toBe(1.5);
      expect(d.get('nfl')).toBe(-0.25);
      expect(d.get('inf')).toBe(Number.POSITIVE_INFINITY);
      expect(d.get('s')).toBe('h\u00e9llo \u2603 \u{1F600}');
      expect(d.get('lst')).toEqual([1, 'a', null]);
      expect(isPyTuple(d.get('lst'))).toBe(false);
      const tup = d.get('tup') as readonly unknown[];
      expect(isPyTuple(tup)).toBe(true);
      expect(tup).toEqual([1, [2, 3]]);
      expect(isPyTuple(tup[1])).toBe(true);
      expect(d.get('d')).toEqual(
        new Map<unknown, unknown>([
          [1, 'one'],
          [2, 'two'],
        ]),
      );
      const sh = d.get('sh') as unknown[][];
      expect(sh[0]).toEqual([1, 2]);
      expect(sh[0]).toBe(sh[1]); // shared reference kept
      const rec = d.get('rec') as unknown[];
      expect(rec[0]).toBe(rec); // cycle kept
      const empty = d.get('empty') as unknown[];
      expect(empty[0]).toEqual([]);
      expect(isPyTuple(empty[0])).toBe(true);
      expect(empty[1]).toEqual([]);
      expect(empty[2]).toEqual(new Map());
      if (Number(proto) >= 3) expect(d.get('bytes')).toEqual(new Uint8Array([0, 255, 97, 98]));
      if (Number(proto) >= 4) {
        expect(d.get('set')).toEqual(new Set([1, 2]));
        expect(d.get('fset')).toEqual(new Set([3]));
      }
      if (Number(proto) >= 5) expect(d.get('ba')).toEqual(new Uint8Array([120, 121]));
    });
  }

  it('reads protocol-0 STRING and returns where the pickle ended', () => {
    const bytes = ascii("S'a\\n\\x41\\'b'\np0\n.trailing");
    const { value, end } = unpickle(bytes);
    expect(value).toBe("a\nA'b");
    expect(end).toBe(bytes.length - 'trailing'.length);
  });

  it('records BUILD state', () => {
    const resolveGlobal = () => new PyCallable('collections.OrderedDict', () => new Map());
    // OrderedDict() then BUILD {'_metadata': 1}
    const bytes = ascii('\x80\x02ccollections\nOrderedDict\n)R}X\x09\x00\x00\x00_metadataK\x01sb.');
    const { value } = unpickle(bytes, 0, { resolveGlobal });
    expect(getPyState(value as object)).toEqual(new Map([['_metadata', 1]]));
  });
});

describe('unpickle: refuses code', () => {
  const cases: [string, string][] = [
    ['os.system', "cos\nsystem\n(S'touch /tmp/x'\ntR."],
    ['posix.system', '\x80\x02cposix\nsystem\nX\x01\x00\x00\x00x\x85R.'],
    ['builtins.eval', '\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.'],
    ['__builtin__.getattr', 'c__builtin__\ngetattr\n.'],
    ['subprocess.Popen', '\x80\x02csubprocess\nPopen\n.'],
    ['builtins.exec', '(cbuiltins\nexec\nS"1"\no.'],
    ['os.system', "(S'ls'\nios\nsystem\n."],
  ];
  for (const [name, src] of cases) {
    it(`refuses ${name}`, () => {
      expectDataError(
        () => unpickle(ascii(src)),
        new RegExp(`^refusing to load ${name.replace('.', '\\.')}: a checkpoint may only rebuild tensors$`),
      );
    });
  }

  it('refuses to call values that are not allowlisted callables', () => {
    expectDataError(() => unpickle(ascii('\x80\x02K\x01)R.')), /REDUCE of int 1 is not allowed/);
    expectDataError(() => unpickle(ascii('\x80\x02])\x81.')), /NEWOBJ of list/);
  });

  it('refuses extension opcodes, out-of-band buffers and malformed global names', () => {
    expectDataError(() => unpickle(ascii('\x80\x02\x82\x01.')), /extension-registry/);
    expectDataError(() => unpickle(ascii('\x80\x05\x97.')), /out-of-band/);
    const resolveGlobal = () => {
      throw new Error('must not be asked');
    };
    expectDataError(
      () => unpickle(ascii('\x80\x04\x8c\x04os;x\x8c\x01y\x93.'), 0, { resolveGlobal }),
      /bad global name/,
    );
  });
});

describe('unpickle: malformed and hostile input', () => {
  it('every truncation of a valid pickle is a DataError', () => {
    for (const b64 of Object.values(VECTORS)) {
      const bytes = bytesOf(b64);
      for (let n = 0; n < bytes.length; n++) expectDataError(() => unpickle(bytes.subarray(0, n)));
    }
  });

  it('random mutations give a value or a DataError, never another error', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (const b64 of Object.values(VECTORS)) {
      const original = bytesOf(b64);
      for (let trial = 0; trial < 300; trial++) {
        const bytes = original.slice();
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        try {
          unpickle(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DataError);
        }
      }
    }
  });

  it('bounds the stack, the marks, the memo and integer length', () => {
    expectDataError(() => unpickle(ascii(`${'N'.repeat(50)}.`), 0, { maxStack: 10 }), /stack exceeds 10/);
    expectDataError(
      () => unpickle(ascii(`${'('.repeat(50)}.`), 0, { maxMarks: 10 }),
      /more than 10 nested MARKs/,
    );
    let memo = '\x80\x02N';
    for (let i = 0; i < 20; i++) memo += `q${String.fromCharCode(i)}`;
    expectDataError(() => unpickle(ascii(`${memo}.`), 0, { maxMemo: 10 }), /memo exceeds 10/);
    expectDataError(() => unpickle(ascii('\x80\x02\x8b\xff\xff\xff\x7f')), /integer longer than/);
    // A declared length far beyond the input is caught before reading.
    expectDataError(() => unpickle(ascii('\x80\x02X\xff\xff\xff\xff')), /truncated/);
    expectDataError(() => unpickle(ascii('\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\xff')), /too large/);
  });

  it('rejects structural errors', () => {
    expectDataError(() => unpickle(ascii('')), /empty/);
    expectDataError(() => unpickle(ascii('\x80\x02.')), /STOP with 0 values/);
    expectDataError(() => unpickle(ascii('\x80\x02NN.')), /STOP with 2 values/);
    expectDataError(() => unpickle(ascii('\x80\x02h\x05.')), /memo key 5/);
    expectDataError(() => unpickle(ascii('\x80\x02t.')), /without MARK/);
    expectDataError(() => unpickle(ascii('\x80\x02)Na.')), /not a list/);
    expectDataError(() => unpickle(ascii('\x80\x02]NNs.')), /not a dict/);
    expectDataError(() => unpickle(ascii('\x80\x02NN\x81.')), /NEWOBJ/);
    expectDataError(() => unpickle(ascii('\x80\x02N}b.')), /BUILD on None/);
    expectDataError(() => unpickle(ascii('\x80\x02NQ.')), /persistent ids are not allowed/);
    expectDataError(() => unpickle(ascii('\x80\x09N.')), /unsupported protocol/);
    expectDataError(() => unpickle(ascii('\xffN.')), /unknown opcode 0xff/);
    expectDataError(() => unpickle(ascii('X\x02\x00\x00\x00\xff\xfe.')), /not valid UTF-8/);
  });
});
