import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '@dirac/core';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeImage,
  evalTransformInto,
  flipHorizontalInPlace,
  ImageFolder,
  randomResizedCropBox,
  resizeBilinearOpenCV,
  shorterSideSize,
  trainTransformInto,
} from './image-folder';
import { Rng } from './rng';
import { NO_SHARED_DATA, sameBytes, sharedDataDir } from './test-helpers';

/*
 * fixtures/opencv-resize.json was produced with OpenCV 4.6.0 from Debian bookworm
 * (`apt-get install -y python3-opencv`, run under /usr/bin/python3) by this script:
 *
 *   import base64, json, cv2, numpy as np
 *   rng = np.random.default_rng(20240601)
 *   srcs = {'rgb37x23': rng.integers(0, 256, (23, 37, 3), dtype=np.uint8),
 *           'grey37x23': rng.integers(0, 256, (23, 37), dtype=np.uint8),
 *           'rgb40x24': rng.integers(0, 256, (24, 40, 3), dtype=np.uint8),
 *           'rgb12x8': rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)}
 *   yy, xx = np.mgrid[0:23, 0:37]
 *   srcs['grad37x23'] = np.stack([(xx * 7) % 256, (yy * 11) % 256, (xx * yy) % 256], -1).astype(np.uint8)
 *   plan = [('rgb37x23', 16, 29), ('rgb37x23', 64, 80), ('rgb37x23', 29, 16), ('rgb37x23', 13, 5),
 *           ('rgb37x23', 37, 23), ('grey37x23', 30, 40), ('grey37x23', 11, 9), ('rgb40x24', 20, 12),
 *           ('rgb12x8', 24, 16), ('rgb12x8', 1, 1), ('rgb12x8', 3, 17), ('grad37x23', 50, 31)]
 *   cases = [{'src': n, 'dstW': w, 'dstH': h, 'dst': base64.b64encode(
 *               cv2.resize(srcs[n], (w, h), interpolation=cv2.INTER_LINEAR).tobytes()).decode()}
 *            for n, w, h in plan]
 *   json.dump({'generator': 'OpenCV ' + cv2.__version__ + ' ...', 'cases': cases,
 *              'sources': {k: {'width': v.shape[1], 'height': v.shape[0],
 *                              'channels': 1 if v.ndim == 2 else v.shape[2],
 *                              'data': base64.b64encode(v.tobytes()).decode()} for k, v in srcs.items()}},
 *             open('opencv-resize.json', 'w'), indent=1)
 */
interface Fixture {
  sources: Record<string, { width: number; height: number; channels: number; data: string }>;
  cases: { src: string; dstW: number; dstH: number; dst: string }[];
}
const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/opencv-resize.json', import.meta.url), 'utf8'),
) as Fixture;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

describe('resizeBilinearOpenCV', () => {
  for (const c of fixture.cases) {
    it(`matches cv2.resize INTER_LINEAR: ${c.src} -> ${c.dstW}x${c.dstH}`, () => {
      const s = fixture.sources[c.src]!;
      const got = resizeBilinearOpenCV(b64(s.data), s.width, s.height, s.channels, c.dstW, c.dstH);
      const want = b64(c.dst);
      expect(got.length).toBe(want.length);
      let maxDiff = 0;
      let mismatches = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - want[i]!);
        if (d > 0) mismatches++;
        maxDiff = Math.max(maxDiff, d);
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(mismatches).toBe(0); // bit-exact against OpenCV 4.6 SSE2 baseline
    });
  }
});

describe('resize helpers', () => {
  it('identity resize is a copy; 1x1 sources broadcast; sizes are validated', () => {
    const src = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) & 255);
    expect(resizeBilinearOpenCV(src, 5, 4, 3, 5, 4)).toEqual(src);
    expect(resizeBilinearOpenCV(Uint8Array.from([7, 8, 9]), 1, 1, 3, 2, 2)).toEqual(
      Uint8Array.from([7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9]),
    );
    expect(() => resizeBilinearOpenCV(src, 5, 4, 3, 0, 4)).toThrow(/dstW/);
    expect(() => resizeBilinearOpenCV(src, 6, 4, 3, 2, 2)).toThrow(/expected 6x4x3/);
  });

  it('shorterSideSize truncates the long side like torchvision Resize(int)', () => {
    expect(shorterSideSize(500, 375, 256)).toEqual({ width: 341, height: 256 });
    expect(shorterSideSize(375, 500, 256)).toEqual({ width: 256, height: 341 });
    expect(shorterSideSize(256, 256, 256)).toEqual({ width: 256, height: 256 });
  });

  it('randomResizedCropBox follows torchvision (bounds, scale, ratio, fallback)', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(500, 375, rng);
      expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 375 && b.left + b.width <= 500).toBe(true);
      const frac = (b.width * b.height) / (500 * 375);
      expect(frac).toBeGreaterThan(0.07);
      expect(b.width / b.height).toBeGreaterThan(0.7);
      expect(b.width / b.height).toBeLessThan(1.4);
    }
    // An extremely wide image never fits the ratio range: fallback to the centre crop with ratio 4/3.
    expect(randomResizedCropBox(1000, 10, new Rng(1))).toEqual({ top: 0, left: 493, height: 10, width: 13 });
    // Tall: width kept, height = round(w / (3/4)).
    expect(randomResizedCropBox(10, 1000, new Rng(1))).toEqual({ top: 493, left: 0, height: 13, width: 10 });
  });

  it('evalTransformInto equals a full resize to shorter side 256 followed by a centre crop 224', () => {
    const w = 301;
    const h = 257;
    const data = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 2654435761) >>> 24);
    const out = new Uint8Array(224 * 224 * 3);
    evalTransformInto({ data, width: w, height: h }, out);
    const r = shorterSideSize(w, h, 256);
    const full = resizeBilinearOpenCV(data, w, h, 3, r.width, r.height);
    const top = Math.round((r.height - 224) / 2);
    const left = (r.width - 224) / 2 === 24.5 ? 24 : Math.round((r.width - 224) / 2); // Python round: half to even
    for (let y = 0; y < 224; y += 7) {
      for (let x = 0; x < 224; x += 5) {
        for (let c = 0; c < 3; c++)
          expect(out[(y * 224 + x) * 3 + c]).toBe(full[((top + y) * r.width + left + x) * 3 + c]);
      }
    }
  });

  it('trainTransformInto = crop box resized to 224 (OpenCV bilinear) then optional flip, deterministic', () => {
    const w = 320;
    const h = 240;
    const data = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 40503) >>> 8);
    const img = { data, width: w, height: h };
    const a = new Uint8Array(224 * 224 * 3);
    const b = new Uint8Array(224 * 224 * 3);
    trainTransformInto(img, new Rng(11), a);
    trainTransformInto(img, new Rng(11), b);
    expect(sameBytes(a, b)).toBe(true);
    const rng = new Rng(11);
    const box = randomResizedCropBox(w, h, rng);
    const flip = rng.nextFloat() < 0.5;
    const crop = new Uint8Array(box.width * box.height * 3);
    for (let y = 0; y < box.height; y++) {
      crop.set(
        data.subarray(((box.top + y) * w + box.left) * 3, ((box.top + y) * w + box.left + box.width) * 3),
        y * box.width * 3,
      );
    }
    const want = resizeBilinearOpenCV(crop, box.width, box.height, 3, 224, 224);
    if (flip) flipHorizontalInPlace(want, 224, 224, 3);
    expect(sameBytes(a, want)).toBe(true);
  });

  it('resizes a 500x375 image to 224x224 quickly', () => {
    const data = new Uint8Array(500 * 375 * 3).map((_, i) => i);
    for (let i = 0; i < 5; i++) resizeBilinearOpenCV(data, 500, 375, 3, 224, 224);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) resizeBilinearOpenCV(data, 500, 375, 3, 224, 224);
    const ms = (performance.now() - t0) / 20;
    console.log(`resizeBilinearOpenCV 500x375 -> 224x224: ${ms.toFixed(2)} ms`);
    expect(ms).toBeLessThan(50);
  });
});

describe('decodeImage', () => {
  it('decodes PNG/alpha/16-bit/greyscale/CMYK to 8-bit RGB', async () => {
    const rgb = Uint8Array.from({ length: 8 * 6 * 3 }, (_, i) => (i * 5) & 255);
    const base = sharp(rgb, { raw: { width: 8, height: 6, channels: 3 } });
    const png = await base.clone().png().toBuffer();
    const d = await decodeImage(png);
    expect([d.width, d.height, d.data.length]).toEqual([8, 6, 144]);
    expect(d.data).toEqual(rgb);
    const alpha = await base.clone().ensureAlpha(0.3).png().toBuffer();
    expect((await decodeImage(alpha)).data).toEqual(rgb);
    const png16 = await base.clone().toColourspace('rgb16').png().toBuffer();
    const d16 = await decodeImage(png16);
    expect(d16.data.length).toBe(144);
    expect(Math.max(...d16.data.map((v, i) => Math.abs(v - rgb[i]!)))).toBeLessThanOrEqual(1);
    const grey = await sharp(Uint8Array.from([0, 100, 200, 255]), {
      raw: { width: 2, height: 2, channels: 1 },
    })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage(grey)).data)).toEqual([
      0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255,
    ]);
    const flat = new Uint8Array(16 * 16 * 3).fill(0).map((_, i) => [200, 40, 40][i % 3]!);
    const cmyk = await sharp(flat, { raw: { width: 16, height: 16, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 95 })
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const dc = await decodeImage(cmyk);
    expect(dc.data.length).toBe(16 * 16 * 3);
    expect(Math.abs(dc.data[0]! - 200)).toBeLessThan(30);
    expect(dc.data[1]!).toBeLessThan(90);
  });

  it('rejects empty, unsupported, truncated and missing files with DataError saying what to do', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'dirac-img-'));
    try {
      const empty = join(tmp, 'empty.jpg');
      writeFileSync(empty, '');
      await expect(decodeImage(empty)).rejects.toThrow(/empty \(0 bytes\).*re-download, re-save or remove/);
      await expect(decodeImage(new Uint8Array(0))).rejects.toBeInstanceOf(DataError);
      await expect(decodeImage(Buffer.from('definitely not an image'))).rejects.toThrow(
        /unsupported image format; convert it/,
      );
      const jpg = await sharp(
        new Uint8Array(64 * 64 * 3).map((_, i) => i),
        { raw: { width: 64, height: 64, channels: 3 } },
      )
        .jpeg()
        .toBuffer();
      await expect(decodeImage(jpg.subarray(0, jpg.length >> 1))).rejects.toThrow(
        /corrupt or truncated image.*re-download/,
      );
      await expect(decodeImage(join(tmp, 'missing.jpg'))).rejects.toThrow(/no such file/);
      await expect(decodeImage(tmp)).rejects.toThrow(DataError);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

const shared = sharedDataDir();
const samplesDir = shared ? join(shared, 'imagenet-samples-100') : '';

describe.skipIf(!shared)(`ImageNet samples (${shared ? samplesDir : NO_SHARED_DATA})`, () => {
  interface Entry {
    file: string;
    class_index: number;
    class_name: string;
    mode: string;
    width: number;
    height: number;
  }
  const labels = shared
    ? (JSON.parse(readFileSync(join(samplesDir, 'labels.json'), 'utf8')).images as Entry[])
    : [];
  const tmp = mkdtempSync(join(tmpdir(), 'dirac-imagefolder-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('decodes every sample (greyscale ones to RGB) with the listed sizes', async () => {
    let grey = 0;
    for (const e of labels) {
      const img = await decodeImage(join(samplesDir, e.file));
      expect([img.width, img.height]).toEqual([e.width, e.height]);
      expect(img.data.length).toBe(e.width * e.height * 3);
      if (e.mode === 'L') {
        grey++;
        for (let i = 0; i < img.data.length; i += 3001) {
          const p = i - (i % 3);
          expect(img.data[p]).toBe(img.data[p + 1]);
          expect(img.data[p]).toBe(img.data[p + 2]);
        }
      }
    }
    expect(grey).toBe(4);
  });

  it('builds an ImageFolder from class folders (sorted names, nested files, apostrophes) and reads batches', async () => {
    // One folder per class (by wnid), with symlinks to the shared files (nothing is copied).
    const picked = labels.slice(0, 6);
    for (const [k, e] of picked.entries()) {
      const wnid = e.file.split('/').pop()!.split('_')[0]!;
      const d = join(tmp, wnid, k % 2 ? 'nested' : '');
      mkdirSync(d, { recursive: true });
      symlinkSync(join(samplesDir, e.file), join(d, k === 1 ? "it's a photo.JPEG" : 'img.jpeg'));
    }
    writeFileSync(join(tmp, picked[0]!.file.split('/').pop()!.split('_')[0]!, 'notes.txt'), 'ignored');
    const ds = await ImageFolder.open(tmp);
    expect(ds.n).toBe(6);
    expect(ds.classNames).toEqual([...ds.classNames].sort());
    expect(ds.samples.some((s) => s.path.includes("it's a photo"))).toBe(true);
    const out = new Uint8Array(6 * 224 * 224 * 3);
    const idx = [0, 1, 2, 3, 4, 5];
    await ds.readBatch(idx, true, new Rng(1), out);
    const again = new Uint8Array(out.length);
    await ds.readBatch(idx, true, new Rng(1), again);
    expect(sameBytes(again, out)).toBe(true);
    await ds.readBatch(idx, false, new Rng(1), again);
    // eval transform of the first sample = evalTransformInto of its decoded image
    const one = new Uint8Array(224 * 224 * 3);
    evalTransformInto(await decodeImage(ds.samples[0]!.path), one);
    expect(sameBytes(again.subarray(0, one.length), one)).toBe(true);
    await expect(ImageFolder.open(join(tmp, 'nope'))).rejects.toThrow(/cannot be read/);
  });

  it('builds a dataset from labels.json (flat folder) and reports decode/transform timings', async () => {
    const classNames = Array.from({ length: 1000 }, (_, i) => String(i));
    const ds = ImageFolder.fromSamples(
      labels.map((e) => ({ path: join(samplesDir, e.file), label: e.class_index })),
      classNames,
    );
    expect(ds.n).toBe(103);
    const out = new Uint8Array(32 * 224 * 224 * 3);
    const idx = Array.from({ length: 32 }, (_, i) => i);
    const t0 = performance.now();
    await ds.readBatch(idx, true, new Rng(2), out);
    const t1 = performance.now();
    await ds.readBatch(idx, false, new Rng(2), out);
    const t2 = performance.now();
    console.log(
      `ImageFolder batch of 32 (decode + transform): train ${(t1 - t0).toFixed(0)} ms, eval ${(t2 - t1).toFixed(0)} ms`,
    );
  });
});
