import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import {
  DataError,
  disposeModel,
  type ModelSpec,
  UsageError,
  type ZooMetrics,
  type ZooProvenance,
} from '@dirac/core';
import { exists, loadModelDir, readModelSpec, writeFileAtomic } from '@dirac/core/node';
import { type CalibrationTable, exportOnnx } from '@dirac/core/onnx';
import { hashFile } from '../data/download';
import { type EvalDataset, openEvalSplit } from '../data/eval-split';
import { type EvalResult, evaluate } from '../evaluate';
import { calibrate } from '../export/calibration';
import { withoutHistory } from '../init';
import { evaluateOnnx, importOnnxruntime, openOnnxModel } from '../onnx-eval';
import type { EpochMetrics, RunJson, TrainConfig } from '../run';
import { cpuTimeSeconds, historyJsonl, readHistory, readRunJson, wholeHistory, zooResumes } from '../run-log';
import { writeZooIndex } from './index-file';

export interface AddToZooOptions {
  /** The zoo folder (holding index.json). */
  zooDir: string;
  /** The dataset to measure on: the CIFAR folder or .tar.gz the run trained on. */
  data: string;
  /** Entry name `<dataset>/<model>` (default: the run's dataset and model). */
  name?: string;
  /** The commit the run was trained from, when run.json predates recording it. */
  commit?: string;
  /** Recorded as provenance.note: what run.json cannot say (e.g. resumes before they were recorded). */
  note?: string;
  /** Progress of the evaluations (images seen of total). */
  onEval?: (label: string, seen: number, total: number) => void;
  /** Training images the int8 activation ranges are calibrated on (default 256; 0: no int8 variant). */
  calibrationImages?: number;
}

/** The exact `dirac train` command of a config (every option spelled out). */
export function trainCommand(c: TrainConfig, runDir: string): string {
  const opts: [string, unknown][] = [
    ['--model', c.model],
    ['--dataset', c.dataset],
    ['--data', c.data],
    ['--out', runDir],
    ['--epochs', c.epochs],
    ['--batch-size', c.batchSize],
    ['--lr', c.lr],
    ['--schedule', c.schedule],
    ['--weight-decay', c.weightDecay],
    ['--momentum', c.momentum],
    ['--label-smoothing', c.labelSmoothing],
    ['--seed', c.seed],
    ['--train-limit', c.trainLimit],
    ['--test-limit', c.testLimit],
    ['--checkpoint-every', c.checkpointEvery],
    ['--init', c.init],
  ];
  const parts = opts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v}`);
  if (c.nesterov) parts.push('--nesterov');
  return `dirac train ${parts.join(' ')}`;
}

async function readRun(runDir: string): Promise<{ run: RunJson; history: EpochMetrics[] }> {
  const run = await readRunJson(runDir, 'nothing to add');
  const history = await readHistory(runDir);
  if (history.length < run.config.epochs || !(await exists(join(runDir, 'folded', 'model.json')))) {
    throw new UsageError(
      `the run in '${runDir}' has not finished (${history.length} of ${run.config.epochs} epochs, folded model ${
        (await exists(join(runDir, 'folded'))) ? 'present' : 'missing'
      }): resume it with dirac train --resume ${runDir}`,
    );
  }
  return { run, history };
}

async function measure(
  dir: string,
  dtype: 'float32' | 'float16',
  dataset: EvalDataset,
  data: string,
  onEval?: AddToZooOptions['onEval'],
): Promise<EvalResult> {
  const model = await loadModelDir(dir, { prefer: dtype });
  try {
    const split = await openEvalSplit({ dataset, data, split: 'test', batchSize: 100 });
    return await evaluate(model.spec, model.tensors, split.batches, (seen) => onEval?.(dtype, seen, split.n));
  } finally {
    disposeModel(model);
  }
}

interface Int8Result {
  metrics: NonNullable<ZooMetrics['int8']>;
  table: CalibrationTable;
}

/**
 * The int8 variant: activation ranges calibrated on the first training images, then the QDQ network on
 * ONNX Runtime over the full test split. Undefined when onnxruntime-node is not installed.
 */
async function measureInt8(
  dir: string,
  dataset: EvalDataset,
  data: string,
  images: number,
  onEval?: AddToZooOptions['onEval'],
): Promise<Int8Result | undefined> {
  let ort: Awaited<ReturnType<typeof importOnnxruntime>>;
  try {
    ort = await importOnnxruntime();
  } catch {
    return undefined;
  }
  const model = await loadModelDir(dir, { prefer: 'float32' });
  try {
    const table = await calibrate(model, data, dataset, images);
    const bytes = exportOnnx(model, { inputLayout: 'NHWC', quantize: 'int8', calibration: table });
    const onnx = await openOnnxModel(bytes, `${model.spec.name} (int8)`, ort);
    try {
      const split = await openEvalSplit({ dataset, data, split: 'test', batchSize: 100 });
      const r = await evaluateOnnx(onnx, split.batches, (seen) => onEval?.('int8', seen, split.n));
      return {
        metrics: {
          top1: r.top1,
          top5: r.top5,
          loss: r.loss,
          calibration: { images: table.images, method: table.method },
        },
        table,
      };
    } finally {
      await onnx.release();
    }
  } finally {
    disposeModel(model);
  }
}

/**
 * Publishes a finished run as a zoo entry `<zooDir>/<dataset>/<model>/`: the folded model.json (with metrics
 * measured now on the full test split, fp32 and fp16, and the run's provenance), both weights files, the
 * training log and curves; then rebuilds index.json. The entry folder is replaced atomically.
 */
export async function addRunToZoo(runDir: string, options: AddToZooOptions): Promise<ModelSpec> {
  const { run, history } = await readRun(runDir);
  const c = run.config;
  if (c.dataset === 'imagefolder') throw new UsageError('the zoo takes CIFAR runs only (imagefolder given)');
  const name = options.name ?? `${c.dataset}/${c.model}`;
  if (!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(name)) {
    throw new UsageError(`zoo entry names look like cifar10/diracnet-34-1; got '${name}'`);
  }
  const folded = join(runDir, 'folded');
  const spec = await readModelSpec(folded);
  const fp32 = await measure(folded, 'float32', c.dataset, options.data, options.onEval);
  const fp16 = await measure(folded, 'float16', c.dataset, options.data, options.onEval);
  const calibrationImages = options.calibrationImages ?? 256;
  const int8 =
    calibrationImages > 0
      ? await measureInt8(folded, c.dataset, options.data, calibrationImages, options.onEval)
      : undefined;
  const dataStat = await stat(options.data);
  const entryDir = join(options.zooDir, name);
  const metrics: ZooMetrics = {
    dataset: c.dataset,
    split: 'test',
    n: fp32.n,
    top1: fp32.top1,
    top5: fp32.top5,
    loss: fp32.loss,
    fp16: { top1: fp16.top1, top5: fp16.top5, loss: fp16.loss },
    ...(int8 ? { int8: int8.metrics } : {}),
    command: `dirac eval --model zoo/${name} --dataset ${c.dataset} --data ${options.data} --json`,
    measured: new Date().toISOString(),
  };
  const last = history[history.length - 1]!;
  const provenance: ZooProvenance = {
    command: run.command ?? trainCommand(c, runDir),
    commit: run.commit ?? options.commit,
    dataset: {
      name: c.dataset,
      file: basename(options.data),
      sha256: dataStat.isFile() ? await hashFile(options.data, 'sha256') : 'folder',
    },
    hardware: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      backend: run.backend?.name ?? 'unknown',
      threads: run.backend?.threads,
    },
    epochs: history.length,
    wallTimeSeconds: Math.round(last.wallTime),
    ...cpuTimeSeconds(last),
    started: run.created,
    finished: (await stat(join(folded, 'model.json'))).mtime.toISOString(),
    ...zooResumes(run.resumes),
    ...(run.init ? { init: withoutHistory(run.init) } : {}),
    ...(options.note ? { note: options.note } : {}),
  };
  spec.metadata = {
    ...spec.metadata,
    metrics,
    provenance,
    ...(int8 ? { quantization: { int8: int8.table } } : {}),
  };
  await writeEntry(runDir, entryDir, spec, historyJsonl(wholeHistory(history, run.init)));
  await writeZooIndex(options.zooDir, { listUpstream: true });
  return spec;
}

/** Writes the entry; `metrics` is its metrics.jsonl (a warm-started run's includes the source run's epochs). */
async function writeEntry(runDir: string, entryDir: string, spec: ModelSpec, metrics: string): Promise<void> {
  const tmp = `${entryDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const w of spec.weights ?? []) await copyFile(join(runDir, 'folded', w.path), join(tmp, w.path));
  await writeFileAtomic(join(tmp, 'metrics.jsonl'), metrics);
  for (const f of ['curves.svg', 'curves.png']) {
    if (await exists(join(runDir, f))) await copyFile(join(runDir, f), join(tmp, f));
  }
  await writeFileAtomic(join(tmp, 'model.json'), `${JSON.stringify(spec, null, 2)}\n`);
  const old = `${entryDir}.old-${process.pid}`;
  if (await exists(entryDir)) await rename(entryDir, old);
  await rename(tmp, entryDir);
  await rm(old, { recursive: true, force: true });
  if (!(await exists(join(entryDir, 'model.json')))) throw new DataError(`could not write ${entryDir}`);
}
