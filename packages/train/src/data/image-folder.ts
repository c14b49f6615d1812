/**
 * ImageNet-style data: image decoding (@dirac/infer's), an OpenCV-compatible bilinear resize, the standard
 * train/eval crops, and a folder-per-class dataset.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { DataError, resizeBilinearOpenCV, resizeCore, roundHalfEven, UsageError } from '@dirac/core';
import {
  type DecodeImageOptions,
  decodeImage as decodeWithInfer,
  ImageError,
  type RgbPixels,
} from '@dirac/infer/node';

export { resizeBilinearOpenCV };

import { Rng } from './rng';

// ---------------------------------------------------------------------------------------------------------
// OpenCV-compatible bilinear resize
// ---------------------------------------------------------------------------------------------------------

/** Mirrors an HWC image left-right in place. */
export function flipHorizontalInPlace(img: Uint8Array, w: number, h: number, channels: number): void {
  const rs = w * channels;
  for (let y = 0; y < h; y++) {
    let a = y * rs;
    let b = a + rs - channels;
    while (a < b) {
      for (let c = 0; c < channels; c++) {
        const t = img[a + c] as number;
        img[a + c] = img[b + c] as number;
        img[b + c] = t;
      }
      a += channels;
      b -= channels;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------

/** A decoded 8-bit RGB image. */
export type RgbImage = RgbPixels;

/** Options of {@link decodeImage}. */
export type DecodeOptions = DecodeImageOptions;

/**
 * Decodes an image to 8-bit sRGB, HWC, with @dirac/infer's decoder (see its `decodeImage`): the same pixels
 * at training and at inference time.
 *
 * @param input a file path or the encoded bytes
 * @throws DataError when the file cannot be read, is empty, is in an unsupported format, or is corrupt or
 *   truncated; the message says what to do.
 */
export async function decodeImage(
  input: string | Uint8Array,
  options: DecodeOptions = {},
): Promise<RgbImage> {
  try {
    return await decodeWithInfer(input, options);
  } catch (e) {
    if (e instanceof ImageError) throw new DataError(e.message, { cause: e });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Crops
// ---------------------------------------------------------------------------------------------------------

/** A crop rectangle in pixels. */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries of a random area fraction in `scale` and a
 * log-uniform aspect ratio in `ratio`; if none fits, the central crop clamped to the ratio range.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let t = 0; t < 10; t++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.nextInt(height - h + 1);
      const left = rng.nextInt(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Output size of "resize the shorter side to `size`" (torchvision `Resize(int)`: long side truncated). */
export function shorterSideSize(
  width: number,
  height: number,
  size: number,
): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Options of the ImageNet transforms. */
export interface ImageNetTransformOptions {
  /** Output side (default 224). */
  size?: number;
  /** Eval: shorter side before the centre crop (default 256). */
  resize?: number;
  /** Train: area fraction range of RandomResizedCrop (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Train: aspect ratio range of RandomResizedCrop (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
}

/**
 * Training transform: RandomResizedCrop(size) with OpenCV bilinear resize, then a horizontal flip with
 * probability 0.5 (random draws in that order, as torchvision). Writes `size*size*3` bytes into `out`.
 */
export function trainTransformInto(
  img: RgbImage,
  rng: Rng,
  out: Uint8Array,
  outOff = 0,
  options: ImageNetTransformOptions = {},
): void {
  const size = options.size ?? 224;
  const box = randomResizedCropBox(img.width, img.height, rng, options.scale, options.ratio);
  const flip = rng.nextFloat() < 0.5;
  resizeCore(
    img.data,
    img.width * 3,
    3,
    box.left,
    box.top,
    box.width,
    box.height,
    size,
    size,
    0,
    0,
    size,
    size,
    out,
    outOff,
  );
  if (flip) flipHorizontalInPlace(out.subarray(outOff, outOff + size * size * 3), size, size, 3);
}

/**
 * Evaluation transform: resize the shorter side to `resize` (256) with OpenCV bilinear, then centre-crop
 * `size` (224); only the cropped window is computed (identical to resizing fully then cropping). Writes
 * `size*size*3` bytes into `out`.
 */
export function evalTransformInto(
  img: RgbImage,
  out: Uint8Array,
  outOff = 0,
  options: ImageNetTransformOptions = {},
): void {
  const size = options.size ?? 224;
  const resize = options.resize ?? 256;
  if (size > resize) throw new UsageError(`centre crop ${size} is larger than the resize ${resize}`);
  const r = shorterSideSize(img.width, img.height, resize);
  const top = roundHalfEven((r.height - size) / 2);
  const left = roundHalfEven((r.width - size) / 2);
  resizeCore(
    img.data,
    img.width * 3,
    3,
    0,
    0,
    img.width,
    img.height,
    r.width,
    r.height,
    left,
    top,
    size,
    size,
    out,
    outOff,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------------------

/** Default image extensions of {@link ImageFolder.open} (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff'];

/** One sample of an {@link ImageFolder}. */
export interface ImageSample {
  /** Image file path. */
  path: string;
  /** Class index. */
  label: number;
}

/** Options of {@link ImageFolder}. */
export interface ImageFolderOptions extends ImageNetTransformOptions, DecodeOptions {
  /** Decodes in flight at once while reading a batch (default 8; sharp decodes on libuv's threadpool). */
  concurrency?: number;
}

/**
 * An ImageNet-style dataset: `root/<class>/**\/*.{jpg,jpeg,png,...}`, class indices from the sorted class
 * folder names (as torchvision's `ImageFolder`). Samples are decoded on demand with {@link decodeImage} and
 * transformed to `size x size` RGB with {@link trainTransformInto} (augment) or {@link evalTransformInto}.
 */
export class ImageFolder {
  /** Class names, index = label. */
  readonly classNames: string[];
  /** All samples, sorted by class then path. */
  readonly samples: ImageSample[];
  /** Labels of all samples. */
  readonly labels: Int32Array;
  /** Output image height (the transform's `size`, default 224). */
  readonly height: number;
  /** Output image width (= height). */
  readonly width: number;
  /** Output channels (RGB). */
  readonly channels = 3;
  private readonly options: ImageFolderOptions;

  /** Prefer {@link ImageFolder.open} or {@link ImageFolder.fromSamples}. */
  constructor(samples: ImageSample[], classNames: string[], options: ImageFolderOptions = {}) {
    for (const s of samples) {
      if (!Number.isInteger(s.label) || s.label < 0 || s.label >= classNames.length) {
        throw new UsageError(`sample '${s.path}' has label ${s.label}, outside 0..${classNames.length - 1}`);
      }
    }
    this.samples = samples;
    this.classNames = classNames;
    this.labels = Int32Array.from(samples, (s) => s.label);
    this.options = options;
    this.height = this.width = options.size ?? 224;
  }

  /** Number of samples. */
  get n(): number {
    return this.samples.length;
  }

  /**
   * Scans `root`: every subfolder is a class (sorted by name), every image file below it (recursively,
   * sorted) a sample.
   *
   * @throws UsageError when `root` is not a folder; DataError when it has no class folders or no images.
   */
  static async open(
    root: string,
    options: ImageFolderOptions & { extensions?: readonly string[] } = {},
  ): Promise<ImageFolder> {
    const exts = new Set((options.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (e) {
      throw new UsageError(`image folder '${root}' cannot be read: ${(e as Error).message}`);
    }
    const classes: string[] = [];
    for (const e of entries) {
      if (e.isDirectory() || (e.isSymbolicLink() && (await stat(join(root, e.name))).isDirectory()))
        classes.push(e.name);
    }
    classes.sort();
    if (classes.length === 0) {
      throw new DataError(`${root}: no class subfolders (expected one folder per class holding its images)`);
    }
    const samples: ImageSample[] = [];
    const walk = async (dir: string, out: string[]): Promise<void> => {
      const list = await readdir(dir, { withFileTypes: true });
      for (const e of list) {
        const p = join(dir, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          const s = await stat(p).catch(() => null);
          isDir = !!s?.isDirectory();
          isFile = !!s?.isFile();
        }
        if (isDir) await walk(p, out);
        else if (isFile && exts.has(extname(e.name).toLowerCase())) out.push(p);
      }
    };
    for (let c = 0; c < classes.length; c++) {
      const files: string[] = [];
      await walk(join(root, classes[c] as string), files);
      files.sort((a, b) => (relative(root, a) < relative(root, b) ? -1 : 1));
      for (const f of files) samples.push({ path: f, label: c });
    }
    if (samples.length === 0) {
      throw new DataError(`${root}: no image files (${[...exts].join(', ')}) in the class folders`);
    }
    return new ImageFolder(samples, classes, options);
  }

  /** A dataset from an explicit list (e.g. a flat folder plus a labels file). */
  static fromSamples(
    samples: ImageSample[],
    classNames: string[],
    options: ImageFolderOptions = {},
  ): ImageFolder {
    return new ImageFolder(samples, classNames, options);
  }

  /** Decodes sample `i` (no transform). */
  decode(i: number): Promise<RgbImage> {
    const s = this.samples[i];
    if (!s) throw new UsageError(`sample index ${i} out of range 0..${this.samples.length - 1}`);
    return decodeImage(s.path, this.options);
  }

  /**
   * Decodes and transforms the samples at `indices` into `out` (`indices.length * size*size*3` bytes, HWC).
   * With `augment`, each sample gets its own generator seeded from `rng` in index order, so results do not
   * depend on which decode finishes first.
   */
  async readBatch(indices: ArrayLike<number>, augment: boolean, rng: Rng, out: Uint8Array): Promise<void> {
    const per = this.height * this.width * 3;
    const seeds = Array.from({ length: indices.length }, () => rng.next());
    const concurrency = Math.max(1, this.options.concurrency ?? 8);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const j = next++;
        if (j >= indices.length) return;
        const img = await this.decode(indices[j] as number);
        if (augment) trainTransformInto(img, new Rng(seeds[j] as number), out, j * per, this.options);
        else evalTransformInto(img, out, j * per, this.options);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, indices.length) }, worker));
  }
}
