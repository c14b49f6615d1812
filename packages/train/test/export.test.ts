import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeModel } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { buildModel, initParams } from '@dirac/models';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { foldedModel, maxRelError, nchwToNhwc, randomNchw } from '../src/export/test-models';
import { parseNpy, serializeNpy } from '../src/io/npy';
import { dirac, tempDir } from './cli-helpers';

let dir: string;
const shape = [3, 3, 32, 32];
let x: Float32Array;

/** `dirac predict` logits of the folded directory, the reference every export must match. */
let predicted: Float32Array;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('dirac-export-');
  const training = buildModel('diracnet-10-1');
  const tensors = initParams(training, 4);
  await saveModelDir(join(dir, 'training'), { spec: training, tensors });
  tf.dispose(Object.values(tensors));
  const folded = foldedModel('diracnet-10-1', {}, 4);
  await saveModelDir(join(dir, 'folded'), folded);
  disposeModel(folded);
  x = randomNchw([3, 3, 32, 32], 11);
  writeFileSync(join(dir, 'x.npy'), serializeNpy({ shape, data: x }));
  const p = await dirac([
    'predict',
    '--model',
    join(dir, 'folded'),
    '--input',
    join(dir, 'x.npy'),
    '--output',
    join(dir, 'y.npy'),
    '--backend',
    'cpu',
  ]);
  expect(p.code, p.stderr).toBe(0);
  predicted = parseNpy(new Uint8Array(readFileSync(join(dir, 'y.npy')))).data as Float32Array;
});

describe('dirac export', () => {
  it('--format onnx: onnxruntime gives the logits of dirac predict', async () => {
    const out = join(dir, 'onnx', 'model.onnx');
    const r = await dirac([
      'export',
      join(dir, 'folded'),
      '--format',
      'onnx',
      '--out',
      out,
      '--opset',
      '13',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'onnx', model: 'diracnet-10-1', opset: 13 });
    const session = await ort.InferenceSession.create(readFileSync(out));
    const y = await session.run({ input: new ort.Tensor('float32', x, shape) });
    expect(maxRelError(y.logits!.data as Float32Array, predicted)).toBeLessThan(1e-4);
    await session.release();
    expect(readdirSync(join(dir, 'onnx'))).toEqual(['model.onnx']);
  });

  it('--format tfjs: a folder tf.loadGraphModel reads, with the logits of dirac predict', async () => {
    const out = join(dir, 'web');
    for (let i = 0; i < 2; i++) {
      // The second run replaces the first export in place.
      const r = await dirac(['export', join(dir, 'folded'), '--format', 'tfjs', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/NHWC/);
    }
    expect(readdirSync(out).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    const modelJson = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    const weightSpecs = tf.io.getWeightSpecs(modelJson.weightsManifest);
    const bin = readFileSync(join(out, 'group1-shard1of1.bin'));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const model = await loadGraphModel(
      tf.io.fromMemory(tf.io.getModelArtifactsForJSONSync(modelJson, weightSpecs, weightData)),
    );
    const input = tf.tensor4d(nchwToNhwc(x, shape), [3, 32, 32, 3]);
    const y = model.execute(input) as tf.Tensor;
    expect(maxRelError((await y.data()) as Float32Array, predicted)).toBeLessThan(1e-4);
    expect(model.metadata).toMatchObject({ name: 'diracnet-10-1', form: 'folded', inputLayout: 'NHWC' });
    tf.dispose([input, y]);
    model.dispose();
  });

  it('--shard-mb splits the weights', async () => {
    const out = join(dir, 'web-sharded');
    const r = await dirac([
      'export',
      join(dir, 'folded'),
      '--format',
      'tfjs',
      '--out',
      out,
      '--shard-mb',
      '0.1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const shards = readdirSync(out).filter((f) => f.endsWith('.bin'));
    expect(shards.length).toBeGreaterThan(1);
    const modelJson = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect([...modelJson.weightsManifest[0].paths].sort()).toEqual(shards.sort());
  });

  it.each([
    [['training', '--format', 'onnx', '--out', 'a.onnx'], 2, /training-form model; run 'dirac fold/],
    [['folded', '--format', 'keras', '--out', 'a.h5'], 2, /--format must be onnx or tfjs/],
    [['folded', '--format', 'onnx', '--out', 'a.onnx', '--opset', '11'], 2, /--opset must be from 13 to 21/],
    [['folded', '--format', 'onnx', '--out', 'a.onnx', '--opset', 'x'], 2, /--opset must be an integer/],
    [['folded', '--format', 'tfjs', '--out', 'w', '--opset', '17'], 2, /--opset applies to --format onnx/],
    [['folded', '--format', 'onnx', '--out', '<dir>'], 2, /is a folder/],
    [['absent', '--format', 'onnx', '--out', 'a.onnx'], 1, /model directory/],
  ])('bad input %j: one error line, exit %i, nothing written', async (args, code, message) => {
    const [model, ...rest] = args as [string, ...string[]];
    const outIndex = rest.indexOf('--out') + 1;
    rest[outIndex] = rest[outIndex] === '<dir>' ? dir : join(dir, 'bad', rest[outIndex]!);
    const r = await dirac(['export', join(dir, model), ...rest]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^dirac: error: /);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });

  it('refuses to replace a folder that is not a model', async () => {
    const out = join(dir, 'mine');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'keep me');
    const r = await dirac(['export', join(dir, 'folded'), '--format', 'tfjs', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds no model/);
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });
});
