import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  DataError,
  disposeModel,
  fold,
  forward,
  MissingTensorError,
  ShapeError,
  verifyFold,
} from '@dirac/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readTorchCheckpoint } from './torch-checkpoint';
import { modelFromUpstream } from './upstream';

const dir = new URL('../../test/fixtures/torch/', import.meta.url);
const read = (f: string) => new Uint8Array(readFileSync(new URL(f, dir)));
const json = (f: string) => JSON.parse(readFileSync(new URL(f, dir), 'utf8'));
const load = (f: string) =>
  readTorchCheckpoint(read(f), { inflateRaw: (d) => new Uint8Array(inflateRawSync(d)) });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function upstreamInput(meta: { file: string; shape: number[] }): tf.Tensor {
  const bytes = read(meta.file);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return tf.tidy(() => tf.transpose(tf.tensor(data, meta.shape), [0, 2, 3, 1]));
}

function relError(a: tf.Tensor, expected: number[]): number {
  const got = a.dataSync();
  const maxRef = Math.max(...expected.map(Math.abs));
  return Math.max(...expected.map((v, i) => Math.abs(v - got[i]!))) / maxRef;
}

describe('upstream checkpoints import and give upstream logits', () => {
  for (const file of ['cifar-diracnet10-w0.25.pt', 'cifar-diracnet10-w0.25.legacy.pt']) {
    it(`training checkpoint ${file}`, () => {
      const meta = json('cifar-diracnet10-w0.25.json');
      const model = modelFromUpstream(load(file));
      expect(model.spec).toMatchObject({
        family: 'cifar',
        depth: 10,
        width: 0.25,
        numClasses: 10,
        form: 'training',
      });
      expect(model.spec.metadata?.epoch).toBe(meta.epoch);
      const x = upstreamInput(meta.input);
      const y = forward(model.spec, model.tensors, x, { mode: 'eval' });
      expect(y.shape).toEqual(meta.logits.shape);
      expect(relError(y, meta.logits.data)).toBeLessThan(1e-4);
      const folded = fold(model);
      expect(verifyFold(model, folded, { input: x }).ok).toBe(true);
      tf.dispose([x, y]);
      disposeModel(model);
      disposeModel(folded);
    });
  }

  for (const file of ['imagenet-diracnet18-tiny-folded.pt', 'imagenet-diracnet18-tiny-folded.legacy.pt']) {
    it(`folded ImageNet state_dict ${file}`, () => {
      const meta = json('imagenet-diracnet18-tiny-folded.json');
      const model = modelFromUpstream(load(file));
      expect(model.spec).toMatchObject({
        family: 'imagenet',
        depth: 18,
        width: 4 / 64,
        numClasses: 1000,
        form: 'folded',
      });
      const x = upstreamInput(meta.input);
      const y = forward(model.spec, model.tensors, x);
      expect(relError(y, meta.logits.data)).toBeLessThan(1e-4);
      tf.dispose([x, y]);
      disposeModel(model);
    });
  }

  it('reports missing and mis-shaped tensors, and files that are not checkpoints', () => {
    const ckpt = load('cifar-diracnet10-w0.25.pt');
    const missing = { ...ckpt, tensors: { ...ckpt.tensors } };
    delete missing.tensors['group1.block0.bn.running_var'];
    expect(() => modelFromUpstream(missing)).toThrow(MissingTensorError);
    const misshaped = {
      ...ckpt,
      tensors: { ...ckpt.tensors, 'group1.block0.alpha': ckpt.tensors['fc.bias']! },
    };
    expect(() => modelFromUpstream(misshaped)).toThrow(ShapeError);
    expect(() => modelFromUpstream({ ...ckpt, tensors: {} })).toThrow(DataError);
    expect(() => load('views.pt') && modelFromUpstream(load('views.pt'))).toThrow(DataError);
  });
});
