/**
 * A safe, data-only interpreter for Python pickles, as used inside PyTorch checkpoints.
 *
 * It implements the opcodes of pickle protocols 0-5 that plain data needs, and never runs code: GLOBAL,
 * STACK_GLOBAL and INST resolve names only through the caller's `resolveGlobal`, whose default refuses
 * every name; REDUCE / NEWOBJ / OBJ may only call {@link PyCallable} objects that the resolver handed out.
 * Extension-registry opcodes (EXT1/2/4) and out-of-band buffers (NEXT_BUFFER) are refused.
 *
 * Python values become:
 * - `None` → `null`; `True`/`False` → `boolean`; `float` → `number`;
 * - `int` → `number` when it is a safe integer, otherwise `bigint`;
 * - `str` → `string`; `bytes` / `bytearray` → `Uint8Array`; protocol-0/1/2 `str` (BINSTRING, STRING) is
 *   decoded as UTF-8 (as `torch.load` does), falling back to Latin-1 when it is not valid UTF-8;
 * - `list` → `unknown[]`; `tuple` → a frozen `readonly unknown[]` (tell them apart with `Object.isFrozen`);
 * - `dict` → `Map<unknown, unknown>` (insertion order kept; int keys stay numbers);
 * - `set` / `frozenset` → `Set<unknown>`;
 * - anything else → whatever the resolver's callables return.
 *
 * Shared references and cycles in the pickle become shared references and cycles in the result.
 * The state given to BUILD is recorded per object; read it with {@link getPyState}.
 *
 * Limits (see {@link UnpickleLimits}) bound the stack, the number of MARKs, the memo and the length of
 * integers, so that a hostile input fails with a `DataError` rather than exhausting memory or time.
 */
import { DataError } from '@dirac/core';

/** A callable that the resolver allows the pickle to call (via REDUCE, NEWOBJ, NEWOBJ_EX, OBJ or INST). */
export class PyCallable {
  constructor(
    /** `module.name`, for messages. */
    readonly qualifiedName: string,
    /** Called with the positional arguments; must validate them and throw `DataError` when they are bad. */
    readonly invoke: (args: readonly unknown[]) => unknown,
  ) {}
}

/**
 * A Python global that may appear as a value (e.g. a storage class or `torch.float32`) but must not be
 * called. Resolvers may return these, or any value of their own.
 */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleLimits {
  /** Most values on the stack at once (all MARK frames together). Default 4,000,000. */
  maxStack?: number;
  /** Most nested MARKs. Default 100,000. */
  maxMarks?: number;
  /** Most memo entries. Default 4,000,000. */
  maxMemo?: number;
  /** Longest LONG1/LONG4/LONG integer, in bytes. Default 4096. */
  maxLongBytes?: number;
}

export interface UnpickleOptions extends UnpickleLimits {
  /**
   * Turns `module.name` into a value. Throw to refuse (the default refuses everything with
   * {@link refuseGlobal}'s message).
   */
  resolveGlobal?: (module: string, name: string) => unknown;
  /** Handles PERSID / BINPERSID. The default refuses persistent ids. */
  persistentLoad?: (pid: unknown) => unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode: where a following pickle (if any) starts. */
  end: number;
}

/** The error every refused global gets. */
export function refuseGlobal(module: string, name: string): DataError {
  return new DataError(`refusing to load ${module}.${name}: a checkpoint may only rebuild tensors`);
}

const pyStates = new WeakMap<object, unknown>();

/** The state a pickle gave `obj` through BUILD (e.g. the `_metadata` of a `state_dict`), if any. */
export function getPyState(obj: object): unknown {
  return pyStates.get(obj);
}

/** Builds a Python tuple: a frozen array. */
export function pyTuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

/** True for a value that came from a Python tuple. */
export function isPyTuple(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && Object.isFrozen(value);
}

/** A short description of a Python value, for error messages. */
export function describePy(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof PyCallable || value instanceof PyGlobalRef) return value.qualifiedName;
  if (isPyTuple(value)) return `tuple(len ${value.length})`;
  if (Array.isArray(value)) return `list(len ${value.length})`;
  if (value instanceof Map) return `dict(len ${value.size})`;
  if (value instanceof Set) return `set(len ${value.size})`;
  if (value instanceof Uint8Array) return `bytes(len ${value.length})`;
  if (typeof value === 'string')
    return `str ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `${Number.isInteger(value) ? 'int' : 'float'} ${value}`;
  if (typeof value === 'bigint') return `int ${value}`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch (cause) {
    throw new DataError(`pickle: ${what} is not valid UTF-8`, { cause });
  }
}

function decodePy2Str(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    // Python 2 str holding non-UTF-8 bytes: keep each byte as one code unit.
    let s = '';
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function decodeLongBytes(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if ((bytes[bytes.length - 1]! & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  return normalizeInt(v);
}

function parseDecimalInt(text: string, what: string): number | bigint {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t))
    throw new DataError(`pickle: bad ${what} literal ${JSON.stringify(t.slice(0, 40))}`);
  return normalizeInt(BigInt(t));
}

function parseFloatText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === 'nan' || t === '-nan') return Number.NaN;
  if (t === 'inf' || t === '+inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) {
    throw new DataError(`pickle: bad FLOAT literal ${JSON.stringify(t.slice(0, 40))}`);
  }
  return Number(t);
}

/** Decodes a protocol-0 STRING argument: a Python repr of a byte string, with its quotes. */
function decodeStringRepr(text: string): string {
  const q = text[0];
  if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) {
    throw new DataError('pickle: STRING argument is not quoted');
  }
  const body = text.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c !== 0x5c) {
      out.push(c & 0xff);
      continue;
    }
    const e = body[++i];
    switch (e) {
      case 'n':
        out.push(10);
        break;
      case 'r':
        out.push(13);
        break;
      case 't':
        out.push(9);
        break;
      case '0':
        out.push(0);
        break;
      case '\\':
      case "'":
      case '"':
        out.push(e.charCodeAt(0));
        break;
      case 'x': {
        const hex = body.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new DataError('pickle: bad \\x escape in STRING');
        out.push(Number.parseInt(hex, 16));
        i += 2;
        break;
      }
      default:
        throw new DataError('pickle: unsupported escape in STRING');
    }
  }
  return decodePy2Str(Uint8Array.from(out));
}

/** Decodes a protocol-0 UNICODE argument (raw-unicode-escape). */
function decodeRawUnicodeEscape(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c && (bytes[i + 1] === 0x75 || bytes[i + 1] === 0x55)) {
      const n = bytes[i + 1] === 0x75 ? 4 : 8;
      const hex = latin1.decode(bytes.subarray(i + 2, i + 2 + n));
      if (hex.length === n && /^[0-9a-fA-F]+$/.test(hex)) {
        const cp = Number.parseInt(hex, 16);
        if (cp > 0x10ffff) throw new DataError('pickle: bad code point in UNICODE');
        s += String.fromCodePoint(cp);
        i += 1 + n;
        continue;
      }
    }
    s += String.fromCharCode(b);
  }
  return s;
}

/**
 * Runs one pickle starting at `offset` and returns its value and where it ended.
 * Throws `DataError` on malformed or truncated input, on any refused global, and on exceeded limits.
 */
export function unpickle(bytes: Uint8Array, offset = 0, options: UnpickleOptions = {}): UnpickleResult {
  const maxStack = options.maxStack ?? 4_000_000;
  const maxMarks = options.maxMarks ?? 100_000;
  const maxMemo = options.maxMemo ?? 4_000_000;
  const maxLongBytes = options.maxLongBytes ?? 4096;
  const resolveGlobal =
    options.resolveGlobal ??
    ((module: string, name: string): unknown => {
      throw refuseGlobal(module, name);
    });
  const persistentLoad =
    options.persistentLoad ??
    ((): unknown => {
      throw new DataError('pickle: persistent ids are not allowed here');
    });

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = offset;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  let depth = 0; // values held in earlier MARK frames
  const memo = new Map<number, unknown>();

  const need = (n: number, what: string): void => {
    if (n < 0 || pos + n > end) {
      throw new DataError(`pickle: truncated input while reading ${what} at offset ${pos}`);
    }
  };
  const u8 = (): number => {
    need(1, 'a byte');
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2, 'a 2-byte integer');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4, 'a 4-byte integer');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8, what);
    const lo = view.getUint32(pos, true);
    const hi = view.getUint32(pos + 4, true);
    pos += 8;
    if (hi > 0x1fffff) throw new DataError(`pickle: ${what} length too large`);
    return hi * 0x1_0000_0000 + lo;
  };
  const take = (n: number, what: string): Uint8Array => {
    need(n, what);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (what: string): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) throw new DataError(`pickle: truncated input while reading ${what} at offset ${pos}`);
    const text = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };

  const push = (v: unknown): void => {
    if (stack.length + depth >= maxStack) throw new DataError(`pickle: stack exceeds ${maxStack} values`);
    stack.push(v);
  };
  const pop = (what: string): unknown => {
    if (stack.length === 0) throw new DataError(`pickle: stack underflow in ${what}`);
    return stack.pop();
  };
  const top = (what: string): unknown => {
    if (stack.length === 0) throw new DataError(`pickle: stack underflow in ${what}`);
    return stack[stack.length - 1];
  };
  const popMark = (what: string): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) throw new DataError(`pickle: ${what} without MARK`);
    depth -= prev.length;
    stack = prev;
    return items;
  };
  const memoPut = (idx: number, value: unknown): void => {
    if (!memo.has(idx) && memo.size >= maxMemo)
      throw new DataError(`pickle: memo exceeds ${maxMemo} entries`);
    memo.set(idx, value);
  };
  const memoGet = (idx: number): unknown => {
    if (!memo.has(idx)) throw new DataError(`pickle: memo key ${idx} is not defined`);
    return memo.get(idx);
  };
  const findGlobal = (module: string, name: string): unknown => {
    if (!IDENTIFIER.test(module) || !IDENTIFIER.test(name)) {
      throw new DataError(
        `pickle: bad global name ${JSON.stringify(`${module.slice(0, 60)}.${name.slice(0, 60)}`)}`,
      );
    }
    return resolveGlobal(module, name);
  };
  const call = (fn: unknown, args: unknown, what: string): unknown => {
    if (!(fn instanceof PyCallable))
      throw new DataError(`pickle: ${what} of ${describePy(fn)} is not allowed`);
    if (!Array.isArray(args))
      throw new DataError(`pickle: ${what} arguments of ${fn.qualifiedName} are not a tuple`);
    return fn.invoke(args);
  };
  const asList = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v) || Object.isFrozen(v)) throw new DataError(`pickle: ${what} target is not a list`);
    return v;
  };
  const asDict = (v: unknown, what: string): Map<unknown, unknown> => {
    if (!(v instanceof Map)) throw new DataError(`pickle: ${what} target is not a dict`);
    return v;
  };
  const asSet = (v: unknown, what: string): Set<unknown> => {
    if (!(v instanceof Set)) throw new DataError(`pickle: ${what} target is not a set`);
    return v;
  };
  const setItems = (dict: Map<unknown, unknown>, items: unknown[]): void => {
    if (items.length % 2 !== 0) throw new DataError('pickle: SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };

  if (pos >= end) throw new DataError('pickle: empty input');

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const proto = u8();
        if (proto > 5) throw new DataError(`pickle: unsupported protocol ${proto}`);
        break;
      }
      case 0x95: // FRAME: the length is only a hint for buffering.
        u64('FRAME');
        break;
      case 0x2e: {
        // STOP
        if (marks.length !== 0) throw new DataError('pickle: STOP inside an open MARK');
        if (stack.length !== 1) throw new DataError(`pickle: STOP with ${stack.length} values on the stack`);
        return { value: stack[0], end: pos };
      }
      case 0x28: // MARK
        if (marks.length >= maxMarks) throw new DataError(`pickle: more than ${maxMarks} nested MARKs`);
        marks.push(stack);
        depth += stack.length;
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark('POP');
        else stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark('POP_MARK');
        break;
      case 0x32: // DUP
        push(top('DUP'));
        break;

      // --- constants and numbers ---
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        need(4, 'BININT');
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: {
        // LONG1
        const n = u8();
        if (n > maxLongBytes) throw new DataError(`pickle: integer longer than ${maxLongBytes} bytes`);
        push(decodeLongBytes(take(n, 'LONG1')));
        break;
      }
      case 0x8b: {
        // LONG4
        need(4, 'LONG4');
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) throw new DataError('pickle: negative LONG4 length');
        if (n > maxLongBytes) throw new DataError(`pickle: integer longer than ${maxLongBytes} bytes`);
        push(decodeLongBytes(take(n, 'LONG4')));
        break;
      }
      case 0x49: {
        // INT (also protocol-0 True/False)
        const t = line('INT');
        if (t === '00') push(false);
        else if (t === '01') push(true);
        else {
          if (t.length > maxLongBytes * 3) throw new DataError('pickle: INT literal too long');
          push(parseDecimalInt(t, 'INT'));
        }
        break;
      }
      case 0x4c: {
        // LONG
        let t = line('LONG');
        if (t.length > maxLongBytes * 3) throw new DataError('pickle: LONG literal too long');
        if (t.endsWith('L')) t = t.slice(0, -1);
        push(parseDecimalInt(t, 'LONG'));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8, 'BINFLOAT');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT
        push(parseFloatText(line('FLOAT')));
        break;

      // --- strings and bytes ---
      case 0x58: // BINUNICODE
        push(decodeUtf8(take(u32(), 'BINUNICODE'), 'BINUNICODE'));
        break;
      case 0x8d: // BINUNICODE8
        push(decodeUtf8(take(u64('BINUNICODE8'), 'BINUNICODE8'), 'BINUNICODE8'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(decodeUtf8(take(u8(), 'SHORT_BINUNICODE'), 'SHORT_BINUNICODE'));
        break;
      case 0x56: {
        // UNICODE
        const nl = bytes.indexOf(0x0a, pos);
        if (nl < 0) throw new DataError('pickle: truncated input while reading UNICODE');
        push(decodeRawUnicodeEscape(bytes.subarray(pos, nl)));
        pos = nl + 1;
        break;
      }
      case 0x54: {
        // BINSTRING
        need(4, 'BINSTRING');
        const n = view.getInt32(pos, true);
        pos += 4;
        if (n < 0) throw new DataError('pickle: negative BINSTRING length');
        push(decodePy2Str(take(n, 'BINSTRING')));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(decodePy2Str(take(u8(), 'SHORT_BINSTRING')));
        break;
      case 0x53: // STRING
        push(decodeStringRepr(line('STRING')));
        break;
      case 0x42: // BINBYTES
        push(take(u32(), 'BINBYTES').slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x8e: // BINBYTES8
        push(take(u64('BINBYTES8'), 'BINBYTES8').slice());
        break;
      case 0x96: // BYTEARRAY8
        push(take(u64('BYTEARRAY8'), 'BYTEARRAY8').slice());
        break;
      case 0x97: // NEXT_BUFFER
        throw new DataError('pickle: out-of-band buffers are not supported');
      case 0x98: // READONLY_BUFFER
        top('READONLY_BUFFER');
        break;

      // --- containers ---
      case 0x29: // EMPTY_TUPLE
        push(pyTuple([]));
        break;
      case 0x85: // TUPLE1
        push(pyTuple([pop('TUPLE1')]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop('TUPLE2');
        const a = pop('TUPLE2');
        push(pyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop('TUPLE3');
        const b = pop('TUPLE3');
        const a = pop('TUPLE3');
        push(pyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        push(pyTuple(popMark('TUPLE')));
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark('LIST'));
        break;
      case 0x61: {
        // APPEND
        const v = pop('APPEND');
        asList(top('APPEND'), 'APPEND').push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark('APPENDS');
        const list = asList(top('APPENDS'), 'APPENDS');
        for (const item of items) list.push(item);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark('DICT');
        const dict = new Map<unknown, unknown>();
        setItems(dict, items);
        push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop('SETITEM');
        const k = pop('SETITEM');
        asDict(top('SETITEM'), 'SETITEM').set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark('SETITEMS');
        setItems(asDict(top('SETITEMS'), 'SETITEMS'), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark('ADDITEMS');
        const set = asSet(top('ADDITEMS'), 'ADDITEMS');
        for (const item of items) set.add(item);
        break;
      }
      case 0x91: // FROZENSET
        push(new Set(popMark('FROZENSET')));
        break;

      // --- memo ---
      case 0x71: // BINPUT
        memoPut(u8(), top('BINPUT'));
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32(), top('LONG_BINPUT'));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top('MEMOIZE'));
        break;
      case 0x70: {
        // PUT
        const idx = parseDecimalInt(line('PUT'), 'PUT');
        if (typeof idx !== 'number' || idx < 0) throw new DataError('pickle: bad PUT index');
        memoPut(idx, top('PUT'));
        break;
      }
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x67: {
        // GET
        const idx = parseDecimalInt(line('GET'), 'GET');
        if (typeof idx !== 'number') throw new DataError('pickle: bad GET index');
        push(memoGet(idx));
        break;
      }

      // --- globals and object construction (allowlisted only) ---
      case 0x63: {
        // GLOBAL
        const module = line('GLOBAL module');
        const name = line('GLOBAL name');
        push(findGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new DataError('pickle: STACK_GLOBAL operands are not strings');
        }
        push(findGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop('REDUCE');
        const fn = pop('REDUCE');
        push(call(fn, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop('NEWOBJ');
        const cls = pop('NEWOBJ');
        push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop('NEWOBJ_EX');
        const args = pop('NEWOBJ_EX');
        const cls = pop('NEWOBJ_EX');
        if (!(kwargs instanceof Map) || kwargs.size !== 0) {
          throw new DataError(
            `pickle: NEWOBJ_EX of ${describePy(cls)} with keyword arguments is not allowed`,
          );
        }
        push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark('OBJ');
        if (items.length === 0) throw new DataError('pickle: OBJ without a class');
        push(call(items[0], items.slice(1), 'OBJ'));
        break;
      }
      case 0x69: {
        // INST
        const module = line('INST module');
        const name = line('INST name');
        const cls = findGlobal(module, name);
        push(call(cls, popMark('INST'), 'INST'));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop('BUILD');
        const obj = top('BUILD');
        if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) {
          throw new DataError(`pickle: BUILD on ${describePy(obj)}`);
        }
        pyStates.set(obj, state);
        break;
      }
      case 0x51: // BINPERSID
        push(persistentLoad(pop('BINPERSID')));
        break;
      case 0x50: // PERSID
        push(persistentLoad(line('PERSID')));
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        throw new DataError('pickle: extension-registry opcodes (EXT1/EXT2/EXT4) are not allowed');
      default:
        throw new DataError(
          `pickle: unknown opcode 0x${op.toString(16).padStart(2, '0')} at offset ${pos - 1} (not a pickle, or a corrupt one)`,
        );
    }
  }
}
