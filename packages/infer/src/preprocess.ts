/**
 * Images to network input, following a model's `preprocessing` exactly (browser-safe, pure JS apart from
 * reading tensors and `tf.browser.fromPixels`).
 */
import { type Preprocessing, resizeCore, roundHalfEven, UsageError } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';
import { ImageError } from './errors';

/** Raw pixels, interleaved HWC: RGB (3 values a pixel), RGBA (4: alpha is dropped) or grey (1). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array | Int32Array | number[];
  width: number;
  height: number;
  /** Values a pixel; default: data.length / (width * height). */
  channels?: number;
}

/** 8-bit RGB pixels, HWC, `width * height * 3` bytes. */
export interface RgbPixels {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Image inputs of the browser entry (the Node entry adds file paths and encoded bytes). */
export type ImageInput =
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | RawImage
  | tf.Tensor3D
  | tf.Tensor4D;

function isRaw(x: unknown): x is RawImage {
  const r = x as RawImage;
  return (
    r !== null &&
    typeof r === 'object' &&
    typeof r.width === 'number' &&
    typeof r.height === 'number' &&
    (ArrayBuffer.isView(r.data) || Array.isArray(r.data))
  );
}

function zeroSize(what: string, w: number, h: number, hint = ''): ImageError {
  return new ImageError(`zero-size`, `${what} is ${w}x${h} pixels: there is nothing to classify${hint}`);
}

const toByte = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : roundHalfEven(v));

/** Converts raw pixels (RGB, RGBA or grey; 8-bit or 0–255 floats) to 8-bit RGB. */
export function rawToRgb(raw: RawImage, what = 'raw image'): RgbPixels {
  const { width: w, height: h, data } = raw;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 0 || h < 0) {
    throw new ImageError(
      'unsupported',
      `${what}: width and height must be non-negative integers; got ${w}x${h}`,
    );
  }
  if (w === 0 || h === 0) throw zeroSize(what, w, h);
  const n = w * h;
  const c = raw.channels ?? data.length / n;
  if (!(c === 1 || c === 3 || c === 4) || data.length !== n * c) {
    throw new ImageError(
      'unsupported',
      `${what}: ${data.length} values do not make a ${w}x${h} RGB, RGBA or grey image; pass { data, width, height } with 3 or 4 values a pixel`,
    );
  }
  if (c === 3 && data instanceof Uint8Array) return { data, width: w, height: h };
  const out = new Uint8Array(n * 3);
  const exact = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  for (let i = 0, s = 0, d = 0; i < n; i++, s += c, d += 3) {
    if (c === 1) {
      const v = exact ? (data[s] as number) : toByte(data[s] as number);
      out[d] = v;
      out[d + 1] = v;
      out[d + 2] = v;
    } else if (exact) {
      out[d] = data[s] as number;
      out[d + 1] = data[s + 1] as number;
      out[d + 2] = data[s + 2] as number;
    } else {
      out[d] = toByte(data[s] as number);
      out[d + 1] = toByte(data[s + 1] as number);
      out[d + 2] = toByte(data[s + 2] as number);
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * Pixels of an image tensor: `[H, W, C]` (one image) or `[N, H, W, C]` (a batch), C = 1, 3 or 4, values
 * on the 0–255 scale (int32 as from `tf.browser.fromPixels`, or float, rounded to 8 bits). Does not
 * dispose the tensor.
 */
export async function tensorToRgb(t: tf.Tensor): Promise<RgbPixels[]> {
  if (t.rank !== 3 && t.rank !== 4) {
    throw new ImageError(
      'unsupported',
      `an image tensor must be [height, width, channels] or [batch, height, width, channels]; got [${t.shape.join(', ')}]`,
    );
  }
  const [n, h, w, c] = (t.rank === 3 ? [1, ...t.shape] : t.shape) as [number, number, number, number];
  if (n === 0 || h === 0 || w === 0) throw zeroSize(`image tensor [${t.shape.join(', ')}]`, w, h);
  const values = (await t.data()) as Float32Array | Int32Array | Uint8Array;
  const per = h * w * c;
  const out: RgbPixels[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      rawToRgb(
        { data: values.subarray(i * per, (i + 1) * per), width: w, height: h, channels: c },
        'image tensor',
      ),
    );
  }
  return out;
}

/** OffscreenCanvas passes tfjs' canvas-like check (it has getContext). */
type DomSource = HTMLImageElement | HTMLCanvasElement | HTMLVideoElement | OffscreenCanvas | ImageBitmap;

function domSize(x: unknown): { kind: string; w: number; h: number; hint: string } | undefined {
  const is = (name: string): boolean => {
    const C = (globalThis as Record<string, unknown>)[name];
    return typeof C === 'function' && x instanceof (C as new () => unknown);
  };
  if (is('HTMLImageElement')) {
    const img = x as HTMLImageElement;
    return {
      kind: 'image element',
      w: img.complete ? img.naturalWidth : 0,
      h: img.complete ? img.naturalHeight : 0,
      hint: ' (not loaded yet, or failed to load: await img.decode() before classifying)',
    };
  }
  if (is('HTMLVideoElement')) {
    const v = x as HTMLVideoElement;
    return {
      kind: 'video',
      w: v.videoWidth,
      h: v.videoHeight,
      hint: " (no frame yet: wait for 'loadeddata')",
    };
  }
  if (is('HTMLCanvasElement') || is('OffscreenCanvas')) {
    const c = x as HTMLCanvasElement;
    return { kind: 'canvas', w: c.width, h: c.height, hint: '' };
  }
  if (is('ImageBitmap')) {
    const b = x as ImageBitmap;
    return { kind: 'ImageBitmap', w: b.width, h: b.height, hint: ' (closed?)' };
  }
  return undefined;
}

/**
 * Pixels of any browser-entry input ({@link ImageInput}): DOM images, canvases, videos and bitmaps go
 * through `tf.browser.fromPixels`; ImageData and raw arrays are read directly; tensors via
 * {@link tensorToRgb}. A rank-4 tensor gives several images.
 *
 * @throws ImageError for zero-size or unsupported inputs
 */
export async function toRgb(input: unknown): Promise<RgbPixels[]> {
  if (input instanceof tf.Tensor) return tensorToRgb(input);
  if (isRaw(input))
    return [
      rawToRgb(
        input,
        typeof ImageData !== 'undefined' && input instanceof ImageData ? 'ImageData' : 'raw image',
      ),
    ];
  const dom = domSize(input);
  if (dom) {
    if (dom.w === 0 || dom.h === 0) throw zeroSize(`the ${dom.kind}`, dom.w, dom.h, dom.hint);
    const px = tf.browser.fromPixels(input as Exclude<DomSource, OffscreenCanvas>, 3);
    try {
      const data = await px.data();
      return [{ data: Uint8Array.from(data), width: px.shape[1], height: px.shape[0] }];
    } finally {
      px.dispose();
    }
  }
  const kind =
    input === null
      ? 'null'
      : typeof input === 'object'
        ? (input.constructor?.name ?? 'object')
        : typeof input;
  throw new ImageError(
    'unsupported',
    `cannot classify a ${kind}: pass an image or video element, a canvas, an ImageBitmap, ImageData, { data, width, height } pixels or an image tensor${typeof input === 'string' || input instanceof Uint8Array ? " (file paths and encoded bytes need the Node entry, '@dirac/infer/node')" : ''}`,
  );
}

function shorterSide(w: number, h: number, size: number): { width: number; height: number } {
  if (w <= h) return { width: size, height: Math.trunc((size * h) / w) };
  return { width: Math.trunc((size * w) / h), height: size };
}

/** Float bilinear (half-pixel centres, edge clamp) or nearest sampling of one output window, 0–255. */
function sampleFloat(
  src: RgbPixels,
  dstW: number,
  dstH: number,
  left: number,
  top: number,
  ww: number,
  wh: number,
  nearest: boolean,
): Float32Array {
  const out = new Float32Array(ww * wh * 3);
  const sx = src.width / dstW;
  const sy = src.height / dstH;
  const px = (x: number, y: number, c: number): number => src.data[(y * src.width + x) * 3 + c] as number;
  let o = 0;
  for (let j = 0; j < wh; j++) {
    const fy = (top + j + 0.5) * sy - 0.5;
    for (let i = 0; i < ww; i++) {
      const fx = (left + i + 0.5) * sx - 0.5;
      if (nearest) {
        const x = Math.min(src.width - 1, Math.max(0, Math.floor(fx + 0.5)));
        const y = Math.min(src.height - 1, Math.max(0, Math.floor(fy + 0.5)));
        for (let c = 0; c < 3; c++) out[o++] = px(x, y, c);
        continue;
      }
      const cx = Math.min(Math.max(fx, 0), src.width - 1);
      const cy = Math.min(Math.max(fy, 0), src.height - 1);
      const x0 = Math.floor(cx);
      const y0 = Math.floor(cy);
      const x1 = Math.min(x0 + 1, src.width - 1);
      const y1 = Math.min(y0 + 1, src.height - 1);
      const ax = cx - x0;
      const ay = cy - y0;
      for (let c = 0; c < 3; c++) {
        const top0 = px(x0, y0, c) * (1 - ax) + px(x1, y0, c) * ax;
        const bot = px(x0, y1, c) * (1 - ax) + px(x1, y1, c) * ax;
        out[o++] = top0 * (1 - ay) + bot * ay;
      }
    }
  }
  return out;
}

/**
 * The window `[top, left, crop, crop]` of the image resized to `dstW x dstH`, as 0–255 values, with the
 * model's interpolation ('bilinear-opencv', the default, is bit-exact with OpenCV's INTER_LINEAR).
 */
function resizeWindow(
  px: RgbPixels,
  p: Preprocessing,
  dstW: number,
  dstH: number,
  left: number,
  top: number,
  crop: number,
): ArrayLike<number> {
  if (dstW === px.width && dstH === px.height && left === 0 && top === 0 && crop === dstW && crop === dstH) {
    return px.data;
  }
  const interp = p.interpolation ?? 'bilinear-opencv';
  if (interp === 'bilinear-opencv') {
    const out = new Uint8Array(crop * crop * 3);
    resizeCore(
      px.data,
      px.width * 3,
      3,
      0,
      0,
      px.width,
      px.height,
      dstW,
      dstH,
      left,
      top,
      crop,
      crop,
      out,
      0,
    );
    return out;
  }
  return sampleFloat(px, dstW, dstH, left, top, crop, crop, interp === 'nearest');
}

/**
 * Preprocesses one image into `out` at `offset` (`crop * crop * 3` floats, HWC), exactly as the model's
 * `preprocessing` says:
 * - 'cifar': resized to `crop x crop` when it is not already that size;
 * - 'imagenet': shorter side resized to `resize` (other side truncated, as torchvision), centre crop `crop`
 *   (offsets rounded half to even, as torchvision's CenterCrop);
 * then scaled to 0–1 and normalized per channel with `mean` and `std`.
 */
export function preprocessInto(px: RgbPixels, p: Preprocessing, out: Float32Array, offset = 0): void {
  const crop = p.crop;
  let vals: ArrayLike<number>;
  if (p.kind === 'imagenet') {
    const resize = p.resize ?? crop;
    if (crop > resize)
      throw new UsageError(`preprocessing: centre crop ${crop} is larger than the resize ${resize}`);
    const r = shorterSide(px.width, px.height, resize);
    if (r.width < crop || r.height < crop) {
      throw new ImageError(
        'unsupported',
        `a ${px.width}x${px.height} image is too elongated for a ${crop}x${crop} centre crop`,
      );
    }
    const top = roundHalfEven((r.height - crop) / 2);
    const left = roundHalfEven((r.width - crop) / 2);
    vals = resizeWindow(px, p, r.width, r.height, left, top, crop);
  } else {
    vals = resizeWindow(px, p, crop, crop, 0, 0, crop);
  }
  const scale = [1 / (255 * p.std[0]), 1 / (255 * p.std[1]), 1 / (255 * p.std[2])];
  const shift = [p.mean[0] / p.std[0], p.mean[1] / p.std[1], p.mean[2] / p.std[2]];
  const n = crop * crop * 3;
  for (let i = 0; i < n; i += 3) {
    out[offset + i] = (vals[i] as number) * scale[0]! - shift[0]!;
    out[offset + i + 1] = (vals[i + 1] as number) * scale[1]! - shift[1]!;
    out[offset + i + 2] = (vals[i + 2] as number) * scale[2]! - shift[2]!;
  }
}

/** Preprocesses a batch of images into one NHWC float32 tensor `[N, crop, crop, 3]` (the caller owns it). */
export function preprocessBatch(images: RgbPixels[], p: Preprocessing): tf.Tensor4D {
  const per = p.crop * p.crop * 3;
  const buf = new Float32Array(images.length * per);
  for (const [i, px] of images.entries()) preprocessInto(px, p, buf, i * per);
  return tf.tensor4d(buf, [images.length, p.crop, p.crop, 3], 'float32');
}
