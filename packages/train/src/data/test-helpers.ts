/**
 * Test-only helpers of the data layer (not exported by the package).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding the workspace's package.json). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * The shared read-only data folder next to the repository root (`../shared/data`), or `null` when absent
 * (tests then skip with a message saying so).
 */
export function sharedDataDir(): string | null {
  const dir = resolve(repoRoot, '../shared/data');
  return existsSync(dir) ? dir : null;
}

/** Message used when the shared data folder is missing. */
export const NO_SHARED_DATA = `shared data folder ${resolve(repoRoot, '../shared/data')} not found: skipping tests on real data`;

/** A member for {@link makeTar}. */
export interface TarMember {
  name: string;
  data?: Uint8Array;
  type?: '0' | '5' | '2';
  /** Emit the name through a GNU 'L' long-name record. */
  gnuLongName?: boolean;
  /** Emit the name through a pax 'x' extended header. */
  paxPath?: boolean;
}

function header(name: string, size: number, type: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number, len: number) => {
    const b = Buffer.from(s, 'utf8');
    h.set(b.subarray(0, len), off);
  };
  const oct = (v: number, len: number) => `${v.toString(8).padStart(len - 1, '0')}\0`;
  put(name, 0, 100);
  put(oct(0o644, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(0, 12), 136, 12);
  put('        ', 148, 8);
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i] as number;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/** Builds a tar archive in memory (ustar, optionally GNU long names / pax paths). Test helper. */
export function makeTar(members: TarMember[], { endBlocks = 2 } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);
  for (const m of members) {
    const data = m.data ?? new Uint8Array(0);
    let name = m.name;
    if (m.gnuLongName) {
      const ln = Buffer.from(`${m.name}\0`);
      parts.push(header('././@LongLink', ln.length, 'L'), ln, pad(ln.length));
      name = m.name.slice(0, 99);
    }
    if (m.paxPath) {
      let rec = ` path=${m.name}\n`;
      let len = rec.length + 2;
      while (`${len}${rec}`.length !== len) len = `${len}${rec}`.length;
      rec = `${len}${rec}`;
      const b = Buffer.from(rec);
      parts.push(header('PaxHeader', b.length, 'x'), b, pad(b.length));
      name = 'short-name-overridden';
    }
    parts.push(header(name, m.type === '5' ? 0 : data.length, m.type ?? '0'));
    if (m.type !== '5') parts.push(data, pad(data.length));
  }
  for (let i = 0; i < endBlocks; i++) parts.push(new Uint8Array(512));
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * Synthetic CIFAR records: even image i has every pixel of channel c equal to (i * 7 + c * 50) % 256,
 * odd images carry (p + c + i) % 256 at plane index p; label i % classes (CIFAR-100: coarse i % 20).
 */
export function makeCifarRecords(count: number, labelBytes: 1 | 2, classes: number, start = 0): Uint8Array {
  const rs = labelBytes + 3072;
  const out = new Uint8Array(count * rs);
  for (let r = 0; r < count; r++) {
    const i = start + r;
    const o = r * rs;
    if (labelBytes === 2) {
      out[o] = i % 20;
      out[o + 1] = i % classes;
    } else out[o] = i % classes;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        out[o + labelBytes + c * 1024 + p] = i % 2 === 1 ? (p + c + i) % 256 : (i * 7 + c * 50) % 256;
      }
    }
  }
  return out;
}

/** Expected HWC value of {@link makeCifarRecords} image `i` at pixel `p` (= y * 32 + x), channel `c`. */
export function cifarPixel(i: number, p: number, c: number): number {
  return i % 2 === 1 ? (p + c + i) % 256 : (i * 7 + c * 50) % 256;
}

/** Fast byte-wise equality of two typed arrays (vitest's deep equality is slow on large arrays). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}
