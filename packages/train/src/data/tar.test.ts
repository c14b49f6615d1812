import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError } from '@dirac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { readTar, readTarFile } from './tar';
import { makeTar } from './test-helpers';

const dir = mkdtempSync(join(tmpdir(), 'dirac-tar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Feeds bytes in small irregular chunks, to exercise chunk boundaries. */
async function* chunked(b: Uint8Array, size = 333): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, Math.min(b.length, i + size));
}

async function collect(src: AsyncIterable<Uint8Array>, select?: (e: { name: string }) => boolean) {
  const out: { name: string; type: string; size: number; data: string | null }[] = [];
  for await (const e of readTar(src, select ? { select } : {})) {
    out.push({
      name: e.name,
      type: e.type,
      size: e.size,
      data: e.data ? Buffer.from(e.data).toString() : null,
    });
  }
  return out;
}

const long = `${'deep/'.repeat(30)}file.txt`;
const archive = makeTar([
  { name: 'top/', type: '5' },
  { name: './top/a.txt', data: Buffer.from('hello') },
  { name: 'top/empty.bin', data: new Uint8Array(0) },
  { name: long, data: Buffer.from('long gnu'), gnuLongName: true },
  { name: `pax/${'x'.repeat(120)}.txt`, data: Buffer.from('pax!'), paxPath: true },
  { name: 'top/big.bin', data: new Uint8Array(5000).fill(9) },
]);

describe('readTar', () => {
  it('reads ustar members, GNU long names and pax paths across chunk boundaries', async () => {
    const got = await collect(chunked(archive));
    expect(got.map((e) => [e.name, e.type, e.size])).toEqual([
      ['top/', 'directory', 0],
      ['top/a.txt', 'file', 5],
      ['top/empty.bin', 'file', 0],
      [long, 'file', 8],
      [`pax/${'x'.repeat(120)}.txt`, 'file', 4],
      ['top/big.bin', 'file', 5000],
    ]);
    expect(got[1]?.data).toBe('hello');
    expect(got[3]?.data).toBe('long gnu');
    expect(got[4]?.data).toBe('pax!');
  });

  it('skips the data of unselected members', async () => {
    const got = await collect(chunked(archive, 1000), (e) => e.name.endsWith('a.txt'));
    expect(got.filter((e) => e.data !== null).map((e) => e.name)).toEqual(['top/a.txt']);
  });

  it('accepts an archive without the end-of-archive blocks', async () => {
    const got = await collect(chunked(makeTar([{ name: 'a', data: Buffer.from('x') }], { endBlocks: 0 })));
    expect(got.map((e) => e.name)).toEqual(['a']);
  });

  it('rejects truncated archives and bad headers with DataError', async () => {
    const cut = archive.subarray(0, archive.length - 2048 - 512); // inside big.bin's data
    await expect(collect(chunked(cut))).rejects.toThrow(/truncated tar archive.*big\.bin/);
    await expect(collect(chunked(archive.subarray(0, 700)))).rejects.toThrow(/truncated/);
    const bad = Uint8Array.from(archive);
    bad[512 + 3] = bad[512 + 3]! ^ 0xff; // corrupt the second header's name: checksum no longer matches
    await expect(collect(chunked(bad))).rejects.toThrow(DataError);
    await expect(collect(chunked(bad))).rejects.toThrow(/checksum mismatch/);
    const junk = new Uint8Array(1024).fill(65);
    await expect(collect(chunked(junk))).rejects.toThrow(/not a tar archive/);
  });
});

describe('readTarFile', () => {
  it('reads .tar and .tar.gz files, detecting gzip by its magic bytes', async () => {
    const plain = join(dir, 'a.tar');
    const gz = join(dir, 'a.tar.gz');
    writeFileSync(plain, archive);
    writeFileSync(gz, gzipSync(archive));
    for (const p of [plain, gz]) {
      const names: string[] = [];
      for await (const e of readTarFile(p)) names.push(e.name);
      expect(names).toHaveLength(6);
    }
  });

  it('reports corrupt and truncated gzip streams as DataError naming the file', async () => {
    const gz = gzipSync(archive);
    const trunc = join(dir, 'trunc.tar.gz');
    writeFileSync(trunc, gz.subarray(0, gz.length >> 1));
    const garbled = join(dir, 'garbled.tar.gz');
    const g = Buffer.from(gz);
    for (let i = 20; i < 60; i++) g[i] = g[i]! ^ 0x5a;
    writeFileSync(garbled, g);
    for (const p of [trunc, garbled]) {
      const err = await (async () => {
        for await (const _ of readTarFile(p)) {
          /* drain */
        }
      })().catch((e) => e);
      expect(err).toBeInstanceOf(DataError);
      expect(String(err.message)).toContain(p);
      expect(String(err.message)).toMatch(/gzip|tar/);
    }
  });

  it('stops reading when the consumer breaks out early', async () => {
    const gz = join(dir, 'early.tar.gz');
    writeFileSync(gz, gzipSync(archive));
    for await (const e of readTarFile(gz)) {
      if (e.name === 'top/a.txt') break;
    }
  });
});
