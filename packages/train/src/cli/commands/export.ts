import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { disposeModel, UsageError } from '@dirac/core';
import { loadModelDir, readModelSpec, writeFileAtomic } from '@dirac/core/node';
import {
  type CalibrationTable,
  exportOnnx,
  ONNX_DEFAULT_OPSET,
  ONNX_OPSET_RANGE,
  type OnnxQuantization,
} from '@dirac/core/onnx';
import { calibrate } from '../../export/calibration';
import { exportTfjsGraphModel } from '../../export/tfjs-graph';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';

interface ExportOptions {
  format: string;
  out: string;
  opset?: string;
  shardMb?: string;
  quantize?: string;
  calibration?: string;
  calibrationSize?: string;
  calibrationMethod?: string;
  percentile?: string;
  keepFloat?: string;
  splitIdentity?: boolean;
  dataset?: string;
  json?: boolean;
}

/** What `dirac export` wrote. */
interface ExportReport {
  format: 'onnx' | 'tfjs';
  model: string;
  out: string;
  files: { path: string; bytes: number }[];
  opset?: number;
  quantize?: OnnxQuantization;
  calibration?: { images: number; method: string; percentile?: number; data: string };
}

async function statOrNull(path: string) {
  return stat(path).catch(() => null);
}

/**
 * Writes a graph model folder atomically: every file goes into a temporary sibling folder, which is then
 * renamed to `out`. A previous export in `out` (a folder with a model.json) is replaced; anything else is
 * left alone and refused.
 */
async function writeTfjsDir(
  out: string,
  files: { path: string; data: Uint8Array | string }[],
): Promise<void> {
  const existing = await statOrNull(out);
  if (existing && !existing.isDirectory()) {
    throw new UsageError(
      `--out '${out}' is a file; tfjs export writes a folder (model.json + weight shards)`,
    );
  }
  if (existing) {
    const entries = await readdir(out);
    if (entries.length > 0 && !entries.includes('model.json')) {
      throw new UsageError(`--out '${out}' is a non-empty folder that holds no model; choose a new folder`);
    }
  }
  await mkdir(dirname(out), { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const tmp = join(dirname(out), `.${basename(out)}.${tag}.tmp`);
  const old = join(dirname(out), `.${basename(out)}.${tag}.old`);
  try {
    await mkdir(tmp);
    for (const f of files) await writeFile(join(tmp, f.path), f.data, { flush: true });
    if (existing) await rename(out, old);
    try {
      await rename(tmp, out);
    } catch (e) {
      if (existing) await rename(old, out);
      throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(old, { recursive: true, force: true });
  }
}

/**
 * `dirac export <dir> --format onnx|tfjs --out <path>`: exports a folded model directory as one ONNX file
 * (input NCHW) or a TF.js graph-model folder (input NHWC), written atomically. Refuses a training-form
 * directory.
 */
export async function run(dir: string, opts: ExportOptions): Promise<number> {
  const format = opts.format;
  if (format !== 'onnx' && format !== 'tfjs') {
    throw new UsageError(`--format must be onnx or tfjs; got '${format}'`);
  }
  const opset = numberOption('opset', opts.opset, { integer: true, min: 1 });
  if (opset !== undefined && format !== 'onnx') throw new UsageError('--opset applies to --format onnx only');
  if (opset !== undefined && (opset < ONNX_OPSET_RANGE.min || opset > ONNX_OPSET_RANGE.max)) {
    throw new UsageError(
      `--opset must be from ${ONNX_OPSET_RANGE.min} to ${ONNX_OPSET_RANGE.max}; got ${opset}`,
    );
  }
  const shardMb = numberOption('shard-mb', opts.shardMb, { min: Number.MIN_VALUE });
  if (shardMb !== undefined && format !== 'tfjs')
    throw new UsageError('--shard-mb applies to --format tfjs only');
  const quantize = opts.quantize as OnnxQuantization | undefined;
  if (quantize !== undefined && quantize !== 'fp16' && quantize !== 'int8') {
    throw new UsageError(`--quantize must be fp16 or int8; got '${opts.quantize}'`);
  }
  if (quantize && format !== 'onnx') throw new UsageError('--quantize applies to --format onnx only');
  if (quantize === 'int8' && !opts.calibration) {
    throw new UsageError(
      '--quantize int8 needs --calibration <training data> (a few hundred images set the activation ranges)',
    );
  }
  if (opts.calibration && quantize !== 'int8')
    throw new UsageError('--calibration applies to --quantize int8 only');
  const calibrationSize =
    numberOption('calibration-size', opts.calibrationSize, { integer: true, min: 1 }) ?? 256;
  const method = opts.calibrationMethod ?? 'minmax';
  if (method !== 'minmax' && method !== 'percentile') {
    throw new UsageError(`--calibration-method must be minmax or percentile; got '${method}'`);
  }
  const percentile = numberOption('percentile', opts.percentile, { min: 50 });
  const keepFloat = (opts.keepFloat ?? '').split(',').filter(Boolean);
  if (keepFloat.length && quantize !== 'int8')
    throw new UsageError('--keep-float applies to --quantize int8 only');
  const spec = await readModelSpec(dir);
  if (spec.form !== 'folded') {
    throw new UsageError(
      `'${dir}' holds a ${spec.form}-form model; run 'dirac fold ${dir} --out <folder>' first and export the folded folder`,
    );
  }
  // Export only reads tensors back: the plain JS backend is enough and starts at once.
  await selectBackend('cpu', true);
  const out = resolve(opts.out);
  if (format === 'onnx' && (await statOrNull(out))?.isDirectory()) {
    throw new UsageError(`--out '${opts.out}' is a folder; onnx export writes one file (e.g. model.onnx)`);
  }
  const model = await loadModelDir(dir);
  let report: ExportReport;
  try {
    if (format === 'onnx') {
      let calibration: CalibrationTable | undefined;
      if (quantize === 'int8') {
        calibration = await calibrate(model, opts.calibration!, opts.dataset ?? 'cifar10', calibrationSize, {
          method,
          percentile,
        });
      }
      const bytes = exportOnnx(model, {
        ...(opset === undefined ? {} : { opset }),
        ...(quantize ? { quantize } : {}),
        ...(calibration ? { calibration } : {}),
        ...(keepFloat.length ? { keepFloat } : {}),
        ...(opts.splitIdentity === false ? { splitIdentity: false } : {}),
      });
      await mkdir(dirname(out), { recursive: true });
      await writeFileAtomic(out, bytes);
      report = {
        format,
        model: spec.name,
        out,
        files: [{ path: out, bytes: bytes.byteLength }],
        opset: opset ?? ONNX_DEFAULT_OPSET,
        ...(quantize ? { quantize } : {}),
        ...(calibration
          ? {
              calibration: {
                images: calibration.images,
                method: calibration.method,
                ...(calibration.percentile !== undefined ? { percentile: calibration.percentile } : {}),
                data: opts.calibration!,
              },
            }
          : {}),
      };
    } else {
      const exported = exportTfjsGraphModel(
        model,
        shardMb === undefined ? {} : { shardBytes: Math.max(1, Math.round(shardMb * 1024 * 1024)) },
      );
      const files = [
        { path: 'model.json', data: `${JSON.stringify(exported.modelJson)}\n` },
        ...exported.shards.map((s) => ({ path: s.path, data: s.data })),
      ];
      await writeTfjsDir(out, files);
      report = {
        format,
        model: spec.name,
        out,
        files: files.map((f) => ({
          path: join(out, f.path),
          bytes: typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.byteLength,
        })),
      };
    }
  } finally {
    disposeModel(model);
  }
  const total = report.files.reduce((n, f) => n + f.bytes, 0);
  emit(Boolean(opts.json), report, () =>
    [
      `exported ${spec.name} (${format === 'onnx' ? `ONNX opset ${report.opset}, input NCHW${quantize ? `, ${quantize === 'int8' ? `int8 QDQ calibrated on ${report.calibration!.images} images (${report.calibration!.method})` : 'fp16 weights'}` : ''}` : 'TF.js graph model, input NHWC'}) to ${report.out}`,
      ...report.files.map((f) => `  ${f.path}  ${f.bytes.toLocaleString('en-US')} bytes`),
      `  total ${total.toLocaleString('en-US')} bytes`,
    ].join('\n'),
  );
  return 0;
}

/** Activation ranges from the first `size` training images of `data`, normalized as for evaluation. */
