import { UsageError } from '@dirac/core';
import { describe, expect, it } from 'vitest';
import { augmentCifarBatch } from './augment';
import { Rng } from './rng';

/** Straightforward reference: pad (numpy 'reflect' or 'symmetric'), crop at (top, left), optional flip. */
function reference(
  img: Uint8Array,
  h: number,
  w: number,
  c: number,
  pad: number,
  mode: 'reflect' | 'symmetric',
  top: number,
  left: number,
  flip: boolean,
): Uint8Array {
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  const reflect = (i: number, n: number) => {
    if (mode === 'reflect') {
      const period = 2 * (n - 1);
      let k = ((i % period) + period) % period;
      if (k >= n) k = period - k;
      return k;
    }
    const period = 2 * n;
    let k = ((i % period) + period) % period;
    if (k >= n) k = period - 1 - k;
    return k;
  };
  const padded = new Uint8Array(ph * pw * c);
  for (let y = 0; y < ph; y++)
    for (let x = 0; x < pw; x++)
      for (let k = 0; k < c; k++) {
        padded[(y * pw + x) * c + k] = img[(reflect(y - pad, h) * w + reflect(x - pad, w)) * c + k]!;
      }
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) {
        const sx = flip ? w - 1 - x : x;
        out[(y * w + x) * c + k] = padded[((top + y) * pw + left + sx) * c + k]!;
      }
  return out;
}

describe('augmentCifarBatch', () => {
  const n = 6;
  const images = Uint8Array.from({ length: n * 3072 }, (_, i) => (i * 131 + (i >> 7)) & 255);

  for (const mode of ['reflect', 'symmetric'] as const) {
    it(`matches a pad(${mode}) + crop + flip reference, drawing top, left, flip per image`, () => {
      const indices = [5, 0, 3, 3];
      const out = augmentCifarBatch(images, indices, new Rng(9), undefined, { padMode: mode });
      const rng = new Rng(9);
      indices.forEach((idx, k) => {
        const top = rng.nextInt(9);
        const left = rng.nextInt(9);
        const flip = rng.nextFloat() < 0.5;
        const want = reference(
          images.subarray(idx * 3072, (idx + 1) * 3072),
          32,
          32,
          3,
          4,
          mode,
          top,
          left,
          flip,
        );
        expect(out.subarray(k * 3072, (k + 1) * 3072)).toEqual(want);
      });
    });
  }

  it('reflect mode does not repeat the edge pixel (ReflectionPad2d semantics)', () => {
    // 1x4 greyscale row [a b c d] padded by 2: reflect = c b | a b c d | c b.
    const img = Uint8Array.from([10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40]);
    // Find a seed whose draw is top=any, left=0, no flip: then the crop starts 2 pixels left of the image.
    for (let seed = 0; seed < 1000; seed++) {
      const r = new Rng(seed);
      r.nextInt(5);
      const left = r.nextInt(5);
      const flip = r.nextFloat() < 0.5;
      if (left === 0 && !flip) {
        const out = augmentCifarBatch(img, [0], new Rng(seed), undefined, {
          height: 4,
          width: 4,
          channels: 1,
          pad: 2,
        });
        expect(Array.from(out.subarray(0, 4))).toEqual([30, 20, 10, 20]);
        const sym = augmentCifarBatch(img, [0], new Rng(seed), undefined, {
          height: 4,
          width: 4,
          channels: 1,
          pad: 2,
          padMode: 'symmetric',
        });
        expect(Array.from(sym.subarray(0, 4))).toEqual([20, 10, 10, 20]);
        return;
      }
    }
    throw new Error('no suitable seed');
  });

  it('is deterministic under a seed and varies across seeds', () => {
    const idx = [0, 1, 2, 3, 4, 5];
    expect(augmentCifarBatch(images, idx, new Rng(1))).toEqual(augmentCifarBatch(images, idx, new Rng(1)));
    expect(augmentCifarBatch(images, idx, new Rng(1))).not.toEqual(
      augmentCifarBatch(images, idx, new Rng(2)),
    );
    // pad 0, no flip: plain gather
    const plain = augmentCifarBatch(images, [4, 2], new Rng(1), undefined, { pad: 0, flip: false });
    expect(plain.subarray(0, 3072)).toEqual(images.subarray(4 * 3072, 5 * 3072));
    expect(plain.subarray(3072)).toEqual(images.subarray(2 * 3072, 3 * 3072));
  });

  it('validates its arguments', () => {
    expect(() => augmentCifarBatch(images, [6], new Rng(1))).toThrow(UsageError);
    expect(() => augmentCifarBatch(images, [0], new Rng(1), undefined, { pad: 32 })).toThrow(UsageError);
    expect(() => augmentCifarBatch(images.subarray(1), [0], new Rng(1))).toThrow(UsageError);
    expect(() => augmentCifarBatch(images, [0, 1], new Rng(1), new Uint8Array(3072))).toThrow(UsageError);
  });

  it('takes well under a millisecond per batch of 128', () => {
    const big = new Uint8Array(1000 * 3072).map((_, i) => i);
    const idx = Int32Array.from({ length: 128 }, (_, i) => (i * 7) % 1000);
    const out = new Uint8Array(128 * 3072);
    const rng = new Rng(0);
    for (let i = 0; i < 50; i++) augmentCifarBatch(big, idx, rng, out);
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) augmentCifarBatch(big, idx, rng, out);
    const ms = (performance.now() - t0) / 200;
    console.log(
      `augment 128 CIFAR images: ${ms.toFixed(3)} ms per batch (${((ms * 1000) / 128).toFixed(2)} µs/image)`,
    );
    expect(ms).toBeLessThan(20);
  });
});
