/** Test fixtures made at test time: small folded models saved as directories, synthetic images, a server. */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disposeModel, fold, type Model, type ModelSpec } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { buildModel, CIFAR10_CLASSES, initParams } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';

export const CIFAR_LABELS = [...CIFAR10_CLASSES];

/** A fresh temporary folder. */
export function tempDir(prefix = 'dirac-infer-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes a folder made by {@link tempDir}. */
export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/**
 * Builds a model with seeded random weights, folds it (unless `training`), and returns it. The training-form
 * BN statistics are made non-trivial by initParams, so folding is not an identity.
 */
export function makeModel(
  name: string,
  options: { width?: number; seed?: number; training?: boolean; labels?: string[]; logitScale?: number } = {},
): Model {
  const spec: ModelSpec = buildModel(name, options.width ? { width: options.width } : {});
  if (options.labels) spec.labels = options.labels;
  const training = { spec, tensors: initParams(spec, options.seed ?? 1) };
  if (options.training) return training;
  const folded = fold(training);
  disposeModel(training);
  const fc = folded.spec.layers.at(-1);
  if (options.logitScale && fc?.type === 'linear') {
    // Random weights give near-uniform softmax outputs; a larger classifier makes the answers decisive.
    const w = folded.tensors[`${fc.name}.weight`]!;
    folded.tensors[`${fc.name}.weight`] = tf.mul(w, options.logitScale);
    w.dispose();
  }
  return folded;
}

/** Saves a model into a new temporary directory (float32 and, on request, float16 weights). */
export async function saveTempModel(
  model: Model,
  dtypes: ('float32' | 'float16')[] = ['float32'],
): Promise<{ dir: string; spec: ModelSpec }> {
  const dir = await tempDir('dirac-model-');
  const spec = await saveModelDir(dir, model, { dtypes });
  return { dir, spec };
}

/** A deterministic synthetic RGB image (gradients and a few shapes), HWC bytes. */
export function syntheticRgb(width: number, height: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const cx = ((seed * 37) % 100) / 100;
  const cy = ((seed * 61) % 100) / 100;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const d = Math.hypot(u - cx, v - cy);
      const i = (y * width + x) * 3;
      out[i] = Math.round(255 * ((u * (seed % 3) + v) % 1));
      out[i + 1] = d < 0.25 ? 230 : Math.round(120 + 100 * Math.sin(seed + 12 * u));
      out[i + 2] = Math.round(255 * ((((x >> 3) + (y >> 3) + seed) & 1) * 0.7 + 0.3 * v));
    }
  }
  return out;
}

/** A synthetic image dominated by one colour (80 % colour, 20 % {@link syntheticRgb} pattern). */
export function tintedRgb(
  width: number,
  height: number,
  seed: number,
  rgb: [number, number, number],
): Uint8Array {
  const out = syntheticRgb(width, height, seed);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(0.8 * rgb[i % 3]! + 0.2 * out[i]!);
  return out;
}

/** Encodes RGB bytes as PNG or JPEG with sharp. */
export async function encode(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: 'png' | 'jpeg',
): Promise<Buffer> {
  const img = sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 92 }).toBuffer();
}

export { serveDir } from '../../../test-support/serve-dir';
