import { readFile } from 'node:fs/promises';
import { disposeModel, forward, ShapeError } from '@dirac/core';
import { loadModelDir, writeFileAtomic } from '@dirac/core/node';
import * as tf from '@tensorflow/tfjs-core';
import { parseNpy, serializeNpy } from '../../io/npy';
import { selectBackend } from '../backend';

interface PredictOptions {
  model: string;
  input: string;
  output: string;
  backend?: string;
}

export async function run(opts: PredictOptions): Promise<number> {
  const x = parseNpy(new Uint8Array(await readFile(opts.input)));
  if (x.shape.length !== 4) throw new ShapeError(`--input must be [N, C, H, W]; got [${x.shape.join(', ')}]`);
  await selectBackend(opts.backend, true);
  const model = await loadModelDir(opts.model);
  const c = model.spec.inputShape[2];
  if (x.shape[1] !== c)
    throw new ShapeError(`--input has ${x.shape[1]} channels; the model takes ${c} (layout must be NCHW)`);
  const logits = tf.tidy(() => {
    const nhwc = tf.transpose(tf.tensor4d(x.data, x.shape as [number, number, number, number]), [0, 2, 3, 1]);
    return forward(model.spec, model.tensors, nhwc, { mode: 'eval' });
  });
  const data = (await logits.data()) as Float32Array;
  await writeFileAtomic(opts.output, serializeNpy({ shape: logits.shape, data }));
  logits.dispose();
  disposeModel(model);
  return 0;
}
