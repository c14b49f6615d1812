import { join } from 'node:path';
import {
  checkTensors,
  disposeModel,
  type ModelSpec,
  shapesOf,
  type TensorMap,
  UsageError,
  type ZooInit,
} from '@dirac/core';
import { exists, loadModelDir } from '@dirac/core/node';
import type { EpochMetrics } from './run';
import { cpuTimeSeconds, readHistory, readRunJson, wholeHistory, zooResumes } from './run-log';

/** What a warm start (`--init`) records in run.json: where the weights came from and how they were made. */
export interface RunInit extends ZooInit {
  /**
   * The per-epoch metrics of the source run and of the runs it was warm-started from, so that curves show
   * the whole training.
   */
  history?: EpochMetrics[];
}

/** Resolves `--init`: a finished run directory (its `model/`) or a training-form model directory. */
async function initModelDir(path: string): Promise<{ modelDir: string; runDir?: string }> {
  if (await exists(join(path, 'run.json'))) {
    const modelDir = join(path, 'model');
    if (!(await exists(join(modelDir, 'model.json'))))
      throw new UsageError(
        `--init: the run in '${path}' has not finished (no model/); finish it with dirac train --resume ${path}`,
      );
    return { modelDir, runDir: path };
  }
  if (await exists(join(path, 'model.json'))) return { modelDir: path };
  throw new UsageError(
    `--init: '${path}' is neither a run directory (run.json) nor a model directory (model.json)`,
  );
}

/** The provenance of the run a warm start comes from (empty for a bare model directory). */
async function describeSource(runDir: string | undefined): Promise<Omit<RunInit, 'from'>> {
  if (!runDir) return {};
  const run = await readRunJson(runDir).catch((e: Error) => {
    throw new UsageError(`--init: ${e.message}`);
  });
  const own = await readHistory(runDir);
  const last = own[own.length - 1];
  return {
    command: run.command,
    commit: run.commit,
    started: run.created,
    epochs: own.length,
    wallTimeSeconds: last ? Math.round(last.wallTime) : undefined,
    ...(last ? cpuTimeSeconds(last) : {}),
    ...zooResumes(run.resumes),
    ...(run.init ? { init: withoutHistory(run.init) } : {}),
    history: wholeHistory(own, run.init),
  };
}

/** A RunInit as the zoo records it (the curves' data stays in the run). */
export function withoutHistory(init: RunInit): ZooInit {
  const { history: _, ...rest } = init;
  return rest;
}

function checkFits(spec: ModelSpec, source: ModelSpec, tensors: TensorMap): void {
  if (source.form !== 'training')
    throw new UsageError(
      `--init needs the training form (Dirac parameters and batch-norm); '${source.name}' is ${source.form}: give the run directory it came from`,
    );
  try {
    checkTensors(spec, shapesOf(tensors));
  } catch (e) {
    throw new UsageError(`--init: '${source.name}' does not fit ${spec.name}: ${(e as Error).message}`);
  }
}

/**
 * Loads the weights a run starts from when given `--init`: checked against the run's network, with the
 * source's provenance. The optimizer and schedule start afresh.
 */
export async function loadInit(
  path: string,
  spec: ModelSpec,
): Promise<{ tensors: TensorMap; init: RunInit }> {
  const { modelDir, runDir } = await initModelDir(path);
  const init: RunInit = { from: path, ...(await describeSource(runDir)) };
  const model = await loadModelDir(modelDir, { prefer: 'float32' });
  try {
    checkFits(spec, model.spec, model.tensors);
  } catch (e) {
    disposeModel(model);
    throw e;
  }
  return { tensors: model.tensors, init };
}
