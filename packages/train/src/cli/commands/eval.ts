import { readFile } from 'node:fs/promises';
import { disposeModel, UsageError } from '@dirac/core';
import { loadModelDir, writeFileAtomic } from '@dirac/core/node';
import { withOnnxMetadata } from '@dirac/core/onnx';
import { type EvalDataset, openEvalSplit } from '../../data/eval-split';
import { type EvalResult, evaluate } from '../../evaluate';
import { evaluateOnnx, type OnnxEvalModel, onnxFromModel, openOnnxModel } from '../../onnx-eval';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';
import { startProgress } from '../progress';

interface EvalOptions {
  model: string;
  data: string;
  dataset: string;
  split: string;
  limit?: string;
  batchSize: string;
  backend?: string;
  engine?: string;
  record?: boolean;
  json?: boolean;
}

export async function run(opts: EvalOptions): Promise<number> {
  if (!['train', 'test', 'val'].includes(opts.split))
    throw new UsageError(`--split must be train, test or val; got '${opts.split}'`);
  if (!['cifar10', 'cifar100', 'imagefolder'].includes(opts.dataset)) {
    throw new UsageError(`--dataset must be cifar10, cifar100 or imagefolder; got '${opts.dataset}'`);
  }
  const limit = numberOption('limit', opts.limit, { integer: true, min: 1 });
  const batchSize = numberOption('batch-size', opts.batchSize, { integer: true, min: 1 })!;
  const isOnnx = /\.onnx$/i.test(opts.model);
  const engine = opts.engine ?? (isOnnx ? 'onnxruntime' : 'tfjs');
  if (engine !== 'tfjs' && engine !== 'onnxruntime') {
    throw new UsageError(`--engine must be tfjs or onnxruntime; got '${engine}'`);
  }
  if (isOnnx && engine !== 'onnxruntime')
    throw new UsageError('an .onnx model runs on --engine onnxruntime only');
  if (opts.record && !isOnnx) {
    throw new UsageError('--record writes the result into an .onnx file: give --model <file.onnx>');
  }
  if (engine === 'onnxruntime') return runOnnx(opts, isOnnx, limit, batchSize);
  await selectBackend(opts.backend, opts.json);
  const model = await loadModelDir(opts.model);
  const data = await openEvalSplit({ ...opts, dataset: opts.dataset as EvalDataset, limit, batchSize });
  if (model.spec.numClasses !== data.classNames.length) {
    throw new UsageError(
      `the model has ${model.spec.numClasses} classes but the data has ${data.classNames.length}`,
    );
  }
  const progress = startProgress('eval', data.n, { enabled: !opts.json });
  const result = await evaluate(model.spec, model.tensors, data.batches, (seen) => progress.update(seen));
  progress.stop();
  disposeModel(model);
  emit(Boolean(opts.json), result, () =>
    [
      `${opts.model} on ${opts.dataset} ${opts.split} (${result.n} images):`,
      `  top-1 ${(100 * result.top1).toFixed(2)}%   top-5 ${(100 * result.top5).toFixed(2)}%   loss ${result.loss.toFixed(4)}`,
      `  per class: ${result.perClass.map((a, i) => `${data.classNames[i]} ${(100 * a).toFixed(1)}`).join(', ')}`,
    ].join('\n'),
  );
  return 0;
}

/** `dirac eval --engine onnxruntime`: an .onnx file, or a model directory exported to ONNX in memory. */
async function runOnnx(
  opts: EvalOptions,
  isOnnx: boolean,
  limit: number | undefined,
  batchSize: number,
): Promise<number> {
  let onnx: OnnxEvalModel;
  let bytes: Uint8Array | undefined;
  if (isOnnx) {
    bytes = new Uint8Array(await readFile(opts.model));
    onnx = await openOnnxModel(bytes, opts.model);
  } else {
    // tfjs only reads the tensors back to build the graph.
    await selectBackend('cpu', true);
    const model = await loadModelDir(opts.model);
    try {
      onnx = await onnxFromModel(model);
    } finally {
      disposeModel(model);
    }
  }
  let result: EvalResult;
  let classNames: string[];
  try {
    const data = await openEvalSplit({ ...opts, dataset: opts.dataset as EvalDataset, limit, batchSize });
    classNames = data.classNames;
    if (onnx.numClasses && onnx.numClasses !== data.classNames.length) {
      throw new UsageError(
        `the model has ${onnx.numClasses} classes but the data has ${data.classNames.length}`,
      );
    }
    const progress = startProgress('eval', data.n, { enabled: !opts.json });
    result = await evaluateOnnx(onnx, data.batches, (seen) => progress.update(seen));
    progress.stop();
  } finally {
    await onnx.release();
  }
  const quantization = onnx.metadata.quantization ? JSON.parse(onnx.metadata.quantization) : undefined;
  const report = {
    ...result,
    engine: 'onnxruntime',
    model: opts.model,
    ...(quantization ? { quantization } : {}),
  };
  if (opts.record && bytes) {
    const metrics = {
      dataset: opts.dataset,
      split: opts.split,
      n: result.n,
      top1: result.top1,
      top5: result.top5,
      loss: result.loss,
      engine: 'onnxruntime',
      command: ['dirac', ...process.argv.slice(2)].join(' '),
      measured: new Date().toISOString(),
    };
    await writeFileAtomic(opts.model, withOnnxMetadata(bytes, { metrics: JSON.stringify(metrics) }));
  }
  emit(Boolean(opts.json), report, () =>
    [
      `${opts.model} (onnxruntime${quantization ? `, ${quantization.format === 'QDQ' ? 'int8 QDQ' : 'fp16 weights'}` : ''}) on ${opts.dataset} ${opts.split} (${result.n} images):`,
      `  top-1 ${(100 * result.top1).toFixed(2)}%   top-5 ${(100 * result.top5).toFixed(2)}%   loss ${result.loss.toFixed(4)}`,
      `  per class: ${result.perClass.map((a, i) => `${classNames[i]} ${(100 * a).toFixed(1)}`).join(', ')}`,
      ...(opts.record ? [`  recorded in the metadata of ${opts.model} (metrics)`] : []),
    ].join('\n'),
  );
  return 0;
}
