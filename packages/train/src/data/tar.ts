/**
 * A minimal streaming tar reader (POSIX ustar, GNU long names and base-256 sizes, pax `path`/`size`
 * overrides) plus helpers to read a `.tar` / `.tar.gz` file entry by entry without extracting it.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { DataError } from '@dirac/core';

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, without a leading `./`. */
  name: string;
  /** Size of the member's data in bytes (0 for directories and links). */
  size: number;
  /** Kind of member. */
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /**
   * The member's bytes when the `select` callback of {@link readTar} returned `true` (files only), else
   * `null` (the data was skipped, or streamed to the sink `select` returned).
   */
  data: Uint8Array | null;
}

/** Options of {@link readTar}. */
export interface ReadTarOptions {
  /**
   * What to do with each file member's data: `true` buffers it into {@link TarEntry.data}, `false` skips it,
   * a function receives it chunk by chunk (views into the decompressor's buffers, valid only during the
   * call) before the entry is yielded. Default: buffer all files.
   */
  select?: (entry: { name: string; size: number }) => boolean | TarChunkSink;
  /** Name used in error messages (e.g. the archive's path). */
  source?: string;
}

/** Receives a member's bytes chunk by chunk. */
export type TarChunkSink = (chunk: Uint8Array) => void;

const BLOCK = 512;

/** Pulls exact byte counts out of an async iterable of chunks. */
class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private cur: Uint8Array = new Uint8Array(0);
  private pos = 0;
  done = false;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.cur.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      this.cur = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** Copies exactly `out.length` bytes into `out`; returns the number copied (less only at EOF). */
  async readInto(out: Uint8Array): Promise<number> {
    let off = 0;
    while (off < out.length) {
      if (!(await this.fill())) break;
      const k = Math.min(out.length - off, this.cur.length - this.pos);
      out.set(this.cur.subarray(this.pos, this.pos + k), off);
      this.pos += k;
      off += k;
    }
    return off;
  }

  /** Passes the next `n` bytes to `sink` without copying; returns the number passed (less only at EOF). */
  async pipe(n: number, sink: TarChunkSink): Promise<number> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) break;
      const k = Math.min(left, this.cur.length - this.pos);
      sink(this.cur.subarray(this.pos, this.pos + k));
      this.pos += k;
      left -= k;
    }
    return n - left;
  }

  /** Skips `n` bytes; returns the number skipped (less only at EOF). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) break;
      const k = Math.min(left, this.cur.length - this.pos);
      this.pos += k;
      left -= k;
    }
    return n - left;
  }

  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function cstr(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('utf8');
}

function parseNumeric(b: Uint8Array, off: number, len: number): number {
  const first = b[off] as number;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement, high bit is the marker.
    let v = first & 0x3f;
    if (first & 0x40) return Number.NaN; // negative
    for (let i = 1; i < len; i++) v = v * 256 + (b[off + i] as number);
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return Number.NaN;
  return Number.parseInt(s, 8);
}

function isZeroBlock(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function checksumOk(h: Uint8Array): boolean {
  const stored = parseNumeric(h, 148, 8);
  if (!Number.isFinite(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 32 : (h[i] as number);
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = Number.parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * Reads a tar stream member by member. Members accepted by `select` come with their bytes; the others are
 * skipped. Stopping the iteration early (break/return) closes the source.
 *
 * @throws DataError on a bad header checksum, an invalid size field, or a stream that ends inside a header
 *   or a member's data (truncated archive). A stream that ends cleanly at a member boundary without the
 *   two zero end blocks is accepted.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const where = options.source ?? 'tar archive';
  const select = options.select ?? (() => true);
  const reader = new ChunkReader(source);
  const header = new Uint8Array(BLOCK);
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  let offset = 0;
  try {
    for (;;) {
      const got = await reader.readInto(header);
      if (got === 0) return; // clean EOF at a member boundary
      if (got < BLOCK) {
        throw new DataError(
          `${where}: truncated tar archive (stream ends inside a header at byte ${offset + got})`,
        );
      }
      offset += BLOCK;
      if (isZeroBlock(header)) return; // end-of-archive marker
      if (!checksumOk(header)) {
        throw new DataError(
          `${where}: not a tar archive or corrupt tar header at byte ${offset - BLOCK} (checksum mismatch)`,
        );
      }
      const typeflag = String.fromCharCode(header[156] as number);
      let size = parseNumeric(header, 124, 12);
      if (pax.size !== undefined) size = Number(pax.size);
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new DataError(`${where}: corrupt tar header at byte ${offset - BLOCK} (invalid size field)`);
      }
      let name = cstr(header, 0, 100);
      const magic = cstr(header, 257, 6);
      if (magic.startsWith('ustar')) {
        const prefix = cstr(header, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== null) name = longName;
      if (pax.path !== undefined) name = pax.path;
      name = name.replace(/^(\.\/)+/, '');
      const padded = Math.ceil(size / BLOCK) * BLOCK;

      const meta = typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'g';
      const isFile = typeflag === '0' || typeflag === '\0' || typeflag === '7';
      let data: Uint8Array | null = null;
      const choice = meta ? true : isFile ? select({ name, size }) : false;
      const cut = (n: number) =>
        new DataError(
          `${where}: truncated tar archive (member '${name}' has ${n} of ${size} bytes; re-download the archive)`,
        );
      if (choice === true) {
        data = new Uint8Array(size);
        const n = await reader.readInto(data);
        if (n < size) throw cut(n);
      } else if (typeof choice === 'function') {
        const n = await reader.pipe(size, choice);
        if (n < size) throw cut(n);
      } else if ((await reader.skip(size)) < size) {
        throw new DataError(
          `${where}: truncated tar archive (member '${name}' is cut short; re-download the archive)`,
        );
      }
      if ((await reader.skip(padded - size)) < padded - size) {
        throw new DataError(`${where}: truncated tar archive (after member '${name}')`);
      }
      offset += padded;

      if (typeflag === 'L') {
        longName = cstr(data as Uint8Array, 0, size);
        continue;
      }
      if (typeflag === 'K' || typeflag === 'g') continue;
      if (typeflag === 'x') {
        pax = parsePax(data as Uint8Array);
        continue;
      }
      longName = null;
      pax = {};
      const type: TarEntry['type'] = isFile
        ? 'file'
        : typeflag === '5'
          ? 'directory'
          : typeflag === '2'
            ? 'symlink'
            : typeflag === '1'
              ? 'hardlink'
              : 'other';
      yield { name, size: isFile ? size : 0, type, data };
    }
  } finally {
    await reader.close();
  }
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * Opens a `.tar` or `.tar.gz` file (gzip is detected from the magic bytes, not the name) and iterates its
 * members with {@link readTar}, decompressing on the fly (no temporary files).
 *
 * @throws DataError on a corrupt or truncated gzip stream or tar archive, naming the file.
 */
export async function* readTarFile(
  path: string,
  options: Omit<ReadTarOptions, 'source'> = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const fs = await import('node:fs/promises');
  const fh = await fs.open(path, 'r');
  const head = new Uint8Array(2);
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  let stream: AsyncIterable<Uint8Array> = file;
  const gz = isGzip(head);
  if (gz) {
    const gunzip = createGunzip({ chunkSize: 1 << 18 });
    file.on('error', (e) => gunzip.destroy(e));
    stream = file.pipe(gunzip);
  }
  try {
    yield* readTar(stream, { ...options, source: path });
  } catch (e) {
    if (e instanceof DataError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (gz && typeof err?.code === 'string' && err.code.startsWith('Z_')) {
      throw new DataError(
        `${path}: corrupt or truncated gzip data (${err.message}); re-download the archive`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    file.destroy();
  }
}
