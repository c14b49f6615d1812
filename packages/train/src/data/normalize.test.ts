import { UsageError } from '@dirac/core';
import { describe, expect, it } from 'vitest';
import {
  CIFAR_MEAN,
  CIFAR_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalizeBatch,
  normalizeLut,
  normalizeStats,
} from './normalize';

describe('normalize', () => {
  it('has the upstream constants', () => {
    expect(CIFAR_MEAN.map((v) => v * 255)).toEqual([125.3, 123.0, 113.9].map((v) => expect.closeTo(v, 10)));
    expect(CIFAR_STD.map((v) => v * 255)).toEqual([63.0, 62.1, 66.7].map((v) => expect.closeTo(v, 10)));
    expect(IMAGENET_MEAN).toEqual([0.485, 0.456, 0.406]);
    expect(IMAGENET_STD).toEqual([0.229, 0.224, 0.225]);
  });

  it('computes (x / 255 - mean) / std per channel of HWC data', () => {
    const src = Uint8Array.from([0, 128, 255, 10, 20, 30]);
    for (const which of ['cifar', 'imagenet'] as const) {
      const { mean, std } = normalizeStats(which);
      const out = normalizeBatch(src, which);
      src.forEach((v, i) => {
        expect(out[i]).toBeCloseTo((v / 255 - mean[i % 3]!) / std[i % 3]!, 5);
      });
    }
    const custom = normalizeBatch(Uint8Array.from([51, 102]), { mean: [0], std: [0.5] });
    expect(Array.from(custom)).toEqual([expect.closeTo(0.4, 6), expect.closeTo(0.8, 6)]);
  });

  it('writes into a given buffer and validates sizes', () => {
    const lut = normalizeLut(normalizeStats('cifar'));
    const out = new Float32Array(9);
    expect(normalizeBatch(new Uint8Array(6), lut, out)).toBe(out);
    expect(() => normalizeBatch(new Uint8Array(4), 'cifar')).toThrow(UsageError);
    expect(() => normalizeBatch(new Uint8Array(6), 'cifar', new Float32Array(3))).toThrow(UsageError);
    expect(() => normalizeStats('mnist' as 'cifar')).toThrow(UsageError);
  });

  it('is fast (128 CIFAR images)', () => {
    const src = new Uint8Array(128 * 3072).map((_, i) => i * 31);
    const lut = normalizeLut(normalizeStats('cifar'));
    const out = new Float32Array(src.length);
    for (let i = 0; i < 20; i++) normalizeBatch(src, lut, out);
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) normalizeBatch(src, lut, out);
    const ms = (performance.now() - t0) / 50;
    console.log(`normalize 128x32x32x3: ${ms.toFixed(3)} ms`);
    expect(ms).toBeLessThan(20);
  });
});
