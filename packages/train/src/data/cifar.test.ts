import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError, UsageError } from '@dirac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { CIFAR10_CLASSES, loadCifar } from './cifar';
import { readTarFile } from './tar';
import {
  cifarPixel,
  makeCifarRecords,
  makeTar,
  NO_SHARED_DATA,
  sameBytes,
  sharedDataDir,
} from './test-helpers';

const shared = sharedDataDir();
const archive = shared ? join(shared, 'cifar-10-binary.tar.gz') : '';
const tmp = mkdtempSync(join(tmpdir(), 'dirac-cifar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const META10 = `${CIFAR10_CLASSES.join('\n')}\n\n`;

function expectSynthetic(
  split: { images: Uint8Array; labels: Uint8Array },
  i: number,
  globalIndex: number,
  classes: number,
) {
  expect(split.labels[i]).toBe(globalIndex % classes);
  for (const p of [0, 1, 31, 32, 500, 1023]) {
    for (let c = 0; c < 3; c++)
      expect(split.images[i * 3072 + p * 3 + c]).toBe(cifarPixel(globalIndex, p, c));
  }
}

describe.skipIf(!shared)(
  `loadCifar on the real CIFAR-10 archive (${shared ? archive : NO_SHARED_DATA})`,
  () => {
    it('reads the train split straight from the .tar.gz', async () => {
      const t0 = performance.now();
      const train = await loadCifar(archive, { split: 'train' });
      const ms = performance.now() - t0;
      console.log(`CIFAR-10 train split from the .tar.gz: ${ms.toFixed(0)} ms`);
      expect(train.n).toBe(50_000);
      expect(train.images.length).toBe(50_000 * 3072);
      expect(train.classNames).toEqual([...CIFAR10_CLASSES]);
      const counts = new Array(10).fill(0);
      for (const l of train.labels) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(5000));
      // Channel means of the training set (README: they match the official 125.3, 123.0, 113.9).
      let r = 0;
      let g = 0;
      let b = 0;
      for (let i = 0; i < train.images.length; i += 3) {
        r += train.images[i]!;
        g += train.images[i + 1]!;
        b += train.images[i + 2]!;
      }
      const sums = [r, g, b];
      const means = sums.map((s) => s / (train.images.length / 3));
      expect(means[0]).toBeCloseTo(125.3, 0);
      expect(means[1]).toBeCloseTo(123.0, 0);
      expect(means[2]).toBeCloseTo(113.9, 0);
      expect(ms).toBeLessThan(20_000);
    });

    it('reads the test split and converts planar records to HWC', async () => {
      const t0 = performance.now();
      const test = await loadCifar(archive, { split: 'test' });
      console.log(`CIFAR-10 test split from the .tar.gz: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(test.n).toBe(10_000);
      for (let j = 0; j < 100; j++) expect(test.labels[j]).toBe(j % 10); // README: round-robin by class
      // Compare with the raw records.
      let raw: Uint8Array | null = null;
      for await (const e of readTarFile(archive, { select: (m) => m.name.endsWith('test_batch.bin') })) {
        if (e.data) {
          raw = e.data;
          break;
        }
      }
      expect(raw).not.toBeNull();
      // Whole split against a naive planar -> HWC conversion (records straddle decompressor chunks).
      const want = new Uint8Array(10_000 * 3072);
      for (let r = 0; r < 10_000; r++) {
        for (let p = 0; p < 1024; p++) {
          for (let c = 0; c < 3; c++) want[r * 3072 + p * 3 + c] = raw![r * 3073 + 1 + c * 1024 + p]!;
        }
      }
      expect(sameBytes(test.images, want)).toBe(true);
      expect(
        sameBytes(
          test.labels,
          Uint8Array.from({ length: 10_000 }, (_, r) => raw![r * 3073]!),
        ),
      ).toBe(true);
      for (const r of [0, 1, 9999]) {
        const rec = raw!.subarray(r * 3073, (r + 1) * 3073);
        expect(test.labels[r]).toBe(rec[0]);
        for (const [y, x] of [
          [0, 0],
          [0, 31],
          [17, 5],
          [31, 31],
        ] as const) {
          for (let c = 0; c < 3; c++) {
            expect(test.images[r * 3072 + (y * 32 + x) * 3 + c]).toBe(rec[1 + c * 1024 + y * 32 + x]);
          }
        }
      }
    });

    it('honours limit (a prefix of the split, read without the rest of the archive)', async () => {
      const t0 = performance.now();
      const few = await loadCifar(archive, { split: 'train', limit: 12_345 });
      console.log(`CIFAR-10 first 12,345 train images: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(few.n).toBe(12_345);
      const tiny = await loadCifar(archive, { split: 'train', limit: 3 });
      expect(tiny.images).toEqual(few.images.subarray(0, 3 * 3072));
      expect(Array.from(tiny.labels)).toEqual(Array.from(few.labels.subarray(0, 3)));
    });

    it('finds the archive by its official name inside a folder', async () => {
      const s = await loadCifar(shared!, { split: 'test', limit: 10 });
      expect(s.n).toBe(10);
    });
  },
);

describe('loadCifar on synthetic files', () => {
  const counts = [3, 2, 0, 4, 1];
  const root = join(tmp, 'c10');
  const bin = join(root, 'cifar-10-batches-bin');
  mkdirSync(bin, { recursive: true });
  let start = 0;
  counts.forEach((n, k) => {
    writeFileSync(join(bin, `data_batch_${k + 1}.bin`), makeCifarRecords(n, 1, 10, start));
    start += n;
  });
  writeFileSync(join(bin, 'test_batch.bin'), makeCifarRecords(5, 1, 10));
  writeFileSync(join(bin, 'batches.meta.txt'), META10);

  it('reads an extracted folder (or the .bin folder itself) with any whole number of records per file', async () => {
    for (const p of [root, bin]) {
      const s = await loadCifar(p, { split: 'train', shared: false });
      expect(s.n).toBe(10);
      expect(s.classNames).toEqual([...CIFAR10_CLASSES]);
      for (let i = 0; i < 10; i++) expectSynthetic(s, i, i, 10);
      expect(s.images.buffer).toBeInstanceOf(ArrayBuffer);
    }
    const t = await loadCifar(root, { split: 'test' });
    expect(t.n).toBe(5);
    expect(t.images.buffer).toBeInstanceOf(SharedArrayBuffer);
    const lim = await loadCifar(root, { split: 'train', limit: 4 });
    expect(lim.n).toBe(4);
    for (let i = 0; i < 4; i++) expectSynthetic(lim, i, i, 10);
  });

  it('reads the same data from a .tar.gz', async () => {
    const members = [
      { name: 'cifar-10-batches-bin/', type: '5' as const },
      { name: 'cifar-10-batches-bin/batches.meta.txt', data: Buffer.from(META10) },
    ];
    let s0 = 0;
    counts.forEach((n, k) => {
      members.push({
        name: `cifar-10-batches-bin/data_batch_${k + 1}.bin`,
        data: Buffer.from(makeCifarRecords(n, 1, 10, s0)),
      });
      s0 += n;
    });
    const p = join(tmp, 'c10.tar.gz');
    writeFileSync(p, gzipSync(makeTar(members)));
    const s = await loadCifar(p, { split: 'train' });
    expect(s.n).toBe(10);
    for (let i = 0; i < 10; i++) expectSynthetic(s, i, i, 10);
    // test_batch.bin is missing from this archive
    await expect(loadCifar(p, { split: 'test' })).rejects.toThrow(
      /c10\.tar\.gz:cifar-10-batches-bin\/test_batch\.bin: missing CIFAR batch file/,
    );
    // truncated gzip / truncated tar
    const gz = gzipSync(makeTar(members));
    writeFileSync(join(tmp, 'trunc.tar.gz'), gz.subarray(0, gz.length - 100));
    await expect(loadCifar(join(tmp, 'trunc.tar.gz'), { split: 'train' })).rejects.toThrow(
      /trunc\.tar\.gz: corrupt or truncated gzip/,
    );
    const tar = makeTar(members);
    writeFileSync(join(tmp, 'trunctar.tar.gz'), gzipSync(tar.subarray(0, tar.length - 3000)));
    await expect(loadCifar(join(tmp, 'trunctar.tar.gz'), { split: 'train' })).rejects.toThrow(
      /trunctar\.tar\.gz: truncated tar archive/,
    );
    writeFileSync(join(tmp, 'notgz.tar.gz'), Buffer.from('this is not an archive at all'.repeat(40)));
    await expect(loadCifar(join(tmp, 'notgz.tar.gz'), { split: 'train' })).rejects.toThrow(DataError);
  });

  it('handles batch files stored out of order and files larger than the official size', async () => {
    const recs = [2, 3, 1, 2, 4];
    const starts = recs.map((_, k) => recs.slice(0, k).reduce((a, b) => a + b, 0));
    const order = [3, 0, 4, 1, 2]; // data_batch_4, 1, 5, 2, 3
    const p = join(tmp, 'shuffled.tar.gz');
    writeFileSync(
      p,
      gzipSync(
        makeTar([
          ...order.map((k) => ({
            name: `cifar-10-batches-bin/data_batch_${k + 1}.bin`,
            data: makeCifarRecords(recs[k]!, 1, 10, starts[k]),
          })),
          { name: 'cifar-10-batches-bin/batches.meta.txt', data: Buffer.from(META10) },
          // 10,003 test records: more than the official 10,000 (the output arrays grow)
          { name: 'cifar-10-batches-bin/test_batch.bin', data: makeCifarRecords(10_003, 1, 10) },
        ]),
      ),
    );
    const s = await loadCifar(p, { split: 'train' });
    expect(s.n).toBe(12);
    for (let i = 0; i < 12; i++) expectSynthetic(s, i, i, 10);
    const lim = await loadCifar(p, { split: 'train', limit: 6 });
    expect(lim.n).toBe(6);
    for (let i = 0; i < 6; i++) expectSynthetic(lim, i, i, 10);
    const t = await loadCifar(p, { split: 'test' });
    expect(t.n).toBe(10_003);
    for (const i of [0, 9_999, 10_000, 10_002]) expectSynthetic(t, i, i, 10);
  });

  it('rejects bad files with DataError naming the file and the problem', async () => {
    const bad = join(tmp, 'bad');
    mkdirSync(bad, { recursive: true });
    const good = makeCifarRecords(2, 1, 10);
    for (let k = 1; k <= 5; k++) writeFileSync(join(bad, `data_batch_${k}.bin`), good);
    writeFileSync(join(bad, 'data_batch_3.bin'), good.subarray(0, good.length - 7));
    await expect(loadCifar(bad, { split: 'train' })).rejects.toThrow(
      /data_batch_3\.bin: size 6139 bytes is not a whole number of 3073-byte CIFAR records/,
    );
    const wrongLabel = makeCifarRecords(2, 1, 10);
    wrongLabel[3073] = 10;
    writeFileSync(join(bad, 'data_batch_3.bin'), wrongLabel);
    await expect(loadCifar(bad, { split: 'train' })).rejects.toThrow(
      /data_batch_3\.bin: record 1 has label 10, out of range 0\.\.9/,
    );
    rmSync(join(bad, 'data_batch_3.bin'));
    await expect(loadCifar(bad, { split: 'train' })).rejects.toThrow(
      /data_batch_3\.bin: missing CIFAR batch file/,
    );
    writeFileSync(join(bad, 'data_batch_3.bin'), good);
    writeFileSync(join(bad, 'batches.meta.txt'), 'a\nb\n');
    await expect(loadCifar(bad, { split: 'train' })).rejects.toThrow(
      /batches\.meta\.txt: expected 10 class names/,
    );
    await expect(loadCifar(join(tmp, 'nope'), { split: 'train' })).rejects.toThrow(UsageError);
    await expect(loadCifar(tmp, { split: 'train' })).rejects.toThrow(/no CIFAR data found/);
  });

  it('reads CIFAR-100 (fine labels, coarse labels and names) from a .tar.gz', async () => {
    const fine = Array.from({ length: 100 }, (_, i) => `fine${i}`).join('\n');
    const coarse = Array.from({ length: 20 }, (_, i) => `coarse${i}`).join('\n');
    const p = join(tmp, 'c100.tar.gz');
    writeFileSync(
      p,
      gzipSync(
        makeTar([
          { name: 'cifar-100-binary/coarse_label_names.txt', data: Buffer.from(coarse) },
          { name: 'cifar-100-binary/fine_label_names.txt', data: Buffer.from(fine) },
          { name: 'cifar-100-binary/test.bin', data: makeCifarRecords(7, 2, 100) },
          { name: 'cifar-100-binary/train.bin', data: makeCifarRecords(150, 2, 100) },
        ]),
      ),
    );
    const s = await loadCifar(p, { dataset: 'cifar100', split: 'train' });
    expect(s.n).toBe(150);
    expect(s.classNames[42]).toBe('fine42');
    expect(s.coarseClassNames?.[19]).toBe('coarse19');
    for (const i of [0, 1, 99, 149]) {
      expectSynthetic(s, i, i, 100);
      expect(s.coarseLabels?.[i]).toBe(i % 20);
    }
    const t = await loadCifar(p, { dataset: 'cifar100', split: 'test', limit: 3 });
    expect(t.n).toBe(3);
    // CIFAR-10 labels read as CIFAR-100 would be fine, but 100 classes read as CIFAR-10 are out of range:
    const dir100 = join(tmp, 'c100dir', 'cifar-100-binary');
    mkdirSync(dir100, { recursive: true });
    const recs = makeCifarRecords(3, 2, 100);
    recs[3074 * 2 + 1] = 100;
    writeFileSync(join(dir100, 'train.bin'), recs);
    await expect(loadCifar(join(tmp, 'c100dir'), { dataset: 'cifar100', split: 'train' })).rejects.toThrow(
      /train\.bin: record 2 has label 100, out of range 0\.\.99/,
    );
  });

  it('rejects invalid options with UsageError', async () => {
    await expect(loadCifar(root, { split: 'val' as 'test' })).rejects.toThrow(UsageError);
    await expect(loadCifar(root, { split: 'train', dataset: 'mnist' as 'cifar10' })).rejects.toThrow(
      UsageError,
    );
  });
});
