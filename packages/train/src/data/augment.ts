/**
 * CIFAR-style augmentation on uint8 HWC images: pad 4 by reflection, random 32x32 crop, random horizontal
 * flip. Pure typed-array code (no tf), deterministic under a seeded {@link Rng}.
 */
import { UsageError } from '@dirac/core';
import type { Rng } from './rng';

/** The random source the kernels need (an {@link Rng} satisfies it). */
export interface RandomSource {
  nextInt(n: number): number;
  nextFloat(): number;
}

/** Options of {@link augmentCifarBatch}. */
export interface CifarAugmentOptions {
  /** Image height (default 32). */
  height?: number;
  /** Image width (default 32). */
  width?: number;
  /** Channels (default 3). */
  channels?: number;
  /** Padding on each side before the random crop (default 4; 0 disables the crop). */
  pad?: number;
  /**
   * How the padding is filled. `'reflect'` (default): mirror without repeating the edge pixel
   * (`dcb|abcd|cba`), like torch's `ReflectionPad2d`, numpy `'reflect'`, OpenCV `BORDER_REFLECT_101`.
   * `'symmetric'`: mirror repeating the edge (`cba|abcd|dcb`), like numpy `'symmetric'` and OpenCV
   * `BORDER_REFLECT`, which is what upstream DiracNets' `cvtransforms.Pad(4, cv2.BORDER_REFLECT)` does.
   */
  padMode?: 'reflect' | 'symmetric';
  /** Random horizontal flip with probability 0.5 (default true). */
  flip?: boolean;
}

/**
 * The augmentation kernel, without argument checks. Per image it draws, in order: crop top
 * (`nextInt(2*pad+1)`), crop left (`nextInt(2*pad+1)`), then flip (`nextFloat() < 0.5`). The prefetch
 * worker (prefetch.ts) carries a plain-JavaScript copy: keep them in sync.
 *
 * @internal use {@link augmentCifarBatch}
 */
export function cifarAugmentKernel(
  images: Uint8Array,
  indices: ArrayLike<number>,
  rng: RandomSource,
  out: Uint8Array,
  h: number,
  w: number,
  c: number,
  pad: number,
  symmetric: boolean,
  flip: boolean,
): void {
  const per = h * w * c;
  const rowStride = w * c;
  const rowMap = new Int32Array(h);
  const colMap = new Int32Array(w);
  const m = 2 * pad + 1;
  for (let k = 0; k < indices.length; k++) {
    const base = (indices[k] as number) * per;
    const oy = pad > 0 ? rng.nextInt(m) : 0;
    const ox = pad > 0 ? rng.nextInt(m) : 0;
    const f = flip && rng.nextFloat() < 0.5;
    for (let y = 0; y < h; y++) {
      let s = y + oy - pad;
      if (s < 0) s = symmetric ? -s - 1 : -s;
      else if (s >= h) s = symmetric ? 2 * h - 1 - s : 2 * h - 2 - s;
      rowMap[y] = base + s * rowStride;
    }
    for (let x = 0; x < w; x++) {
      let s = (f ? w - 1 - x : x) + ox - pad;
      if (s < 0) s = symmetric ? -s - 1 : -s;
      else if (s >= w) s = symmetric ? 2 * w - 1 - s : 2 * w - 2 - s;
      colMap[x] = s * c;
    }
    let o = k * per;
    if (c === 3) {
      for (let y = 0; y < h; y++) {
        const rb = rowMap[y] as number;
        for (let x = 0; x < w; x++) {
          const p = rb + (colMap[x] as number);
          out[o] = images[p] as number;
          out[o + 1] = images[p + 1] as number;
          out[o + 2] = images[p + 2] as number;
          o += 3;
        }
      }
    } else {
      for (let y = 0; y < h; y++) {
        const rb = rowMap[y] as number;
        for (let x = 0; x < w; x++) {
          const p = rb + (colMap[x] as number);
          for (let ch = 0; ch < c; ch++) out[o++] = images[p + ch] as number;
        }
      }
    }
  }
}

/**
 * Gathers the images at `indices` from `images` (N x H x W x C uint8) into `out`, applying reflect-pad,
 * random crop and random horizontal flip to each (CIFAR training augmentation). About 3 µs per 32x32
 * image (0.4 ms per batch of 128 on the 2-core dev box). Deterministic: the same `rng` state gives the
 * same output.
 *
 * @param images the whole split, HWC interleaved
 * @param indices which images to take, in output order
 * @param rng the random source (advanced by 3 draws per image, fewer when pad is 0 or flip is off)
 * @param out destination of `indices.length * H * W * C` bytes; allocated when omitted
 * @returns `out`
 * @throws UsageError on inconsistent sizes, an index out of range or a padding too large to reflect
 */
export function augmentCifarBatch(
  images: Uint8Array,
  indices: ArrayLike<number>,
  rng: Rng | RandomSource,
  out?: Uint8Array,
  options: CifarAugmentOptions = {},
): Uint8Array {
  const h = options.height ?? 32;
  const w = options.width ?? 32;
  const c = options.channels ?? 3;
  const pad = options.pad ?? 4;
  const symmetric = (options.padMode ?? 'reflect') === 'symmetric';
  if (options.padMode !== undefined && options.padMode !== 'reflect' && options.padMode !== 'symmetric') {
    throw new UsageError(`padMode must be 'reflect' or 'symmetric', got '${options.padMode}'`);
  }
  const maxPad = symmetric ? Math.min(h, w) : Math.min(h, w) - 1;
  if (!Number.isInteger(pad) || pad < 0 || pad > maxPad) {
    throw new UsageError(`pad must be an integer in 0..${maxPad} for ${w}x${h} images, got ${pad}`);
  }
  const per = h * w * c;
  const count = images.length / per;
  if (!Number.isInteger(count)) {
    throw new UsageError(`images holds ${images.length} bytes, not a whole number of ${w}x${h}x${c} images`);
  }
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number;
    if (!(i >= 0 && i < count) || !Number.isInteger(i))
      throw new UsageError(`image index ${i} out of range 0..${count - 1}`);
  }
  const dst = out ?? new Uint8Array(indices.length * per);
  if (dst.length < indices.length * per) {
    throw new UsageError(`out holds ${dst.length} bytes, need ${indices.length * per}`);
  }
  cifarAugmentKernel(images, indices, rng, dst, h, w, c, pad, symmetric, options.flip ?? true);
  return dst;
}

/**
 * Copies the images at `indices` (each `sampleBytes` long) into `out` without augmentation.
 *
 * @internal
 */
export function gatherKernel(
  images: Uint8Array,
  indices: ArrayLike<number>,
  out: Uint8Array,
  sampleBytes: number,
): void {
  for (let k = 0; k < indices.length; k++) {
    const s = (indices[k] as number) * sampleBytes;
    out.set(images.subarray(s, s + sampleBytes), k * sampleBytes);
  }
}
