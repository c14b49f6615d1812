/**
 * Per-channel normalisation constants and a fast uint8 HWC -> float32 NHWC normaliser.
 */
import { UsageError } from '@dirac/core';

/** Per-channel mean and standard deviation, on the [0, 1] pixel scale. */
export interface NormalizeStats {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** CIFAR channel mean (125.3, 123.0, 113.9) / 255, as upstream DiracNets. */
export const CIFAR_MEAN: readonly number[] = [125.3 / 255, 123.0 / 255, 113.9 / 255];
/** CIFAR channel standard deviation (63.0, 62.1, 66.7) / 255, as upstream DiracNets. */
export const CIFAR_STD: readonly number[] = [63.0 / 255, 62.1 / 255, 66.7 / 255];
/** ImageNet channel mean (RGB). */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
/** ImageNet channel standard deviation (RGB). */
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Named normalisations. */
export type NormalizeName = 'cifar' | 'imagenet';

/** The statistics of a named normalisation (or the given custom ones). */
export function normalizeStats(which: NormalizeName | NormalizeStats): NormalizeStats {
  if (which === 'cifar') return { mean: CIFAR_MEAN, std: CIFAR_STD };
  if (which === 'imagenet') return { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  if (typeof which === 'object' && which && Array.isArray(which.mean) && Array.isArray(which.std))
    return which;
  throw new UsageError(`unknown normalisation '${String(which)}' (use 'cifar', 'imagenet' or { mean, std })`);
}

/**
 * A lookup table `lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]` (float32), which makes normalisation a
 * single table read per byte.
 */
export function normalizeLut(stats: NormalizeStats): Float32Array {
  const c = stats.mean.length;
  if (c === 0 || stats.std.length !== c) {
    throw new UsageError(`normalisation needs as many std as mean values (got ${c} and ${stats.std.length})`);
  }
  const lut = new Float32Array(c * 256);
  for (let k = 0; k < c; k++) {
    const m = stats.mean[k] as number;
    const s = stats.std[k] as number;
    if (!(s > 0)) throw new UsageError(`normalisation std must be positive, got ${s}`);
    for (let v = 0; v < 256; v++) lut[k * 256 + v] = (v / 255 - m) / s;
  }
  return lut;
}

/**
 * Normalises interleaved uint8 pixels (HWC or NHWC, channel count = number of mean values) to float32 with
 * `(x / 255 - mean[c]) / std[c]`. Takes about 1 ns per value.
 *
 * @param src interleaved pixels; its length must be a multiple of the channel count
 * @param which `'cifar'`, `'imagenet'`, custom stats, or a table from {@link normalizeLut} (fastest when
 *   called repeatedly)
 * @param out optional destination (at least `src.length` floats); a new array otherwise
 */
export function normalizeBatch(
  src: Uint8Array,
  which: NormalizeName | NormalizeStats | Float32Array,
  out?: Float32Array,
): Float32Array {
  const lut = which instanceof Float32Array ? which : normalizeLut(normalizeStats(which));
  const c = lut.length / 256;
  if (!Number.isInteger(c) || c < 1)
    throw new UsageError('normalisation table must have 256 entries per channel');
  if (src.length % c !== 0) {
    throw new UsageError(`normalizeBatch: ${src.length} values is not a multiple of ${c} channels`);
  }
  const dst = out ?? new Float32Array(src.length);
  if (dst.length < src.length) {
    throw new UsageError(`normalizeBatch: output holds ${dst.length} floats, need ${src.length}`);
  }
  normalizeKernel(src, lut, dst, c);
  return dst;
}

/**
 * The normalisation loop: `dst[i] = lut[(i % c) * 256 + src[i]]` (the prefetch worker carries a copy).
 *
 * @internal use {@link normalizeBatch}
 */
export function normalizeKernel(src: Uint8Array, lut: Float32Array, dst: Float32Array, c: number): void {
  const len = src.length;
  if (c === 3) {
    for (let i = 0; i < len; i += 3) {
      dst[i] = lut[src[i] as number] as number;
      dst[i + 1] = lut[256 + (src[i + 1] as number)] as number;
      dst[i + 2] = lut[512 + (src[i + 2] as number)] as number;
    }
  } else {
    for (let i = 0; i < len; i += c) {
      for (let k = 0; k < c; k++) dst[i + k] = lut[k * 256 + (src[i + k] as number)] as number;
    }
  }
}
