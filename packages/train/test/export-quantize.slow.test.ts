/**
 * `dirac export --format onnx --quantize fp16|int8` and `dirac eval --model <file.onnx> [--record]` on a small
 * folded model, calibrated and evaluated on a few hundred CIFAR-10 images (skipped without the archive).
 */
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeModel } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { readOnnxMetadata } from '@dirac/core/onnx';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { foldedModel } from '../src/export/test-models';
import { cifarArchive, dirac, hasCifar, tempDir } from './cli-helpers';

let dir: string;
let model: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('dirac-quantize-');
  model = join(dir, 'folded');
  const folded = foldedModel('diracnet-10-1', {}, 3);
  await saveModelDir(model, folded);
  disposeModel(folded);
});

interface EvalJson {
  top1: number;
  top5: number;
  loss: number;
  n: number;
  engine?: string;
  quantization?: Record<string, unknown>;
}

async function evalJson(args: string[]): Promise<EvalJson> {
  const r = await dirac(['eval', '--data', cifarArchive, '--limit', '300', '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as EvalJson;
}

describe.skipIf(!hasCifar)('dirac export --quantize, dirac eval on ONNX Runtime', () => {
  it('fp32, fp16 and int8 exports evaluate on onnxruntime; --record writes the metrics into the file', async () => {
    const out = (q: string) => join(dir, `model.${q}.onnx`);
    for (const q of ['fp32', 'fp16', 'int8']) {
      const args = ['export', model, '--format', 'onnx', '--out', out(q), '--json'];
      if (q !== 'fp32') args.push('--quantize', q);
      if (q === 'int8') args.push('--calibration', cifarArchive, '--calibration-size', '128');
      const r = await dirac(args);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      if (q === 'int8') {
        expect(report).toMatchObject({
          quantize: 'int8',
          calibration: { images: 128, method: 'minmax', data: cifarArchive },
        });
      }
    }
    const sizes = ['fp32', 'fp16', 'int8'].map((q) => readFileSync(out(q)).byteLength);
    expect(sizes[1]! / sizes[0]!).toBeLessThan(0.56);
    expect(sizes[2]! / sizes[0]!).toBeLessThan(0.4);

    // The model directory on tfjs, the same in memory on onnxruntime, and the fp32 file agree.
    const tfjs = await evalJson(['--model', model, '--backend', 'cpu']);
    const ortDir = await evalJson(['--model', model, '--engine', 'onnxruntime']);
    const fp32 = await evalJson(['--model', out('fp32'), '--record']);
    expect(ortDir.engine).toBe('onnxruntime');
    expect(tfjs.n).toBe(300);
    for (const r of [ortDir, fp32]) {
      expect(r.top1).toBe(tfjs.top1);
      expect(r.loss).toBeCloseTo(tfjs.loss, 4);
    }
    const fp16 = await evalJson(['--model', out('fp16'), '--record']);
    const int8 = await evalJson(['--model', out('int8'), '--record']);
    expect(fp16.quantization).toEqual({ weights: 'float16', compute: 'float32' });
    expect(int8.quantization).toMatchObject({ format: 'QDQ' });
    expect(Math.abs(fp16.top1 - tfjs.top1)).toBeLessThanOrEqual(0.01);
    expect(int8.top1).toBeGreaterThan(0);
    for (const [q, r] of [
      ['fp32', fp32],
      ['fp16', fp16],
      ['int8', int8],
    ] as const) {
      const meta = readOnnxMetadata(new Uint8Array(readFileSync(out(q))));
      const metrics = JSON.parse(meta.metrics!);
      expect(metrics).toMatchObject({
        dataset: 'cifar10',
        split: 'test',
        n: 300,
        top1: r.top1,
        engine: 'onnxruntime',
      });
      expect(metrics.command).toMatch(/^dirac eval /);
      expect(meta.name).toBe('diracnet-10-1');
    }
  });

  it('refuses int8 without calibration data, --quantize for tfjs, and --record for a directory', async () => {
    const bad = [
      ['export', model, '--format', 'onnx', '--out', join(dir, 'x.onnx'), '--quantize', 'int8'],
      ['export', model, '--format', 'tfjs', '--out', join(dir, 'web'), '--quantize', 'fp16'],
      ['export', model, '--format', 'onnx', '--out', join(dir, 'x.onnx'), '--quantize', 'int4'],
      ['eval', '--model', model, '--data', cifarArchive, '--record'],
      ['eval', '--model', join(dir, 'model.fp32.onnx'), '--data', cifarArchive, '--engine', 'tfjs'],
    ];
    for (const args of bad) {
      const r = await dirac(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^dirac: error: /);
    }
  });
});
