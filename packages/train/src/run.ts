import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BackendInfo,
  DiracError,
  disposeModel,
  FoldVerificationError,
  fold,
  type TensorMap,
  UsageError,
  verifyFold,
  type ZooResume,
} from '@dirac/core';
import { saveModelDir, writeFileAtomic } from '@dirac/core/node';
import { buildModel, initParams } from '@dirac/models';
import {
  type Batch,
  type EvalResult,
  evaluate,
  learningRate,
  type ScheduleName,
  type SkippedStep,
  StepGuard,
  type StepGuardState,
  type StepResult,
  TrainableModel,
  TrainingDivergedError,
} from '@dirac/train/browser';
import * as tf from '@tensorflow/tfjs-core';
import {
  type CheckpointState,
  hasCheckpoint,
  loadCheckpoint,
  prefixed,
  saveCheckpoint,
  withPrefix,
} from './checkpoint';
import { loadInit, type RunInit } from './init';
import { curvesSvg, svgToPng } from './plots';
import { addLap, RunClock, type RunTimes } from './run-clock';
import { lockRun } from './run-lock';
import { historyJsonl, readRunJson, restartEpochs, wholeHistory } from './run-log';

/**
 * A run stopped on request (its `signal` aborted) after writing a checkpoint: `dirac train --resume` continues
 * it at `epoch` (0-based, as in checkpoints) and `step` within it.
 */
export class RunStoppedError extends DiracError {
  constructor(
    readonly runDir: string,
    readonly epoch: number,
    readonly step: number,
  ) {
    super(
      'E_STOPPED',
      `stopped in epoch ${epoch + 1} at step ${step}; continue with dirac train --resume ${runDir}`,
    );
  }
}

/** Everything that defines a training run; stored in run.json and restored on resume. */
export interface TrainConfig {
  model: string;
  /** CIFAR-10/100, or an ImageNet-style folder with `train/` and `val/` subfolders of class folders. */
  dataset: 'cifar10' | 'cifar100' | 'imagefolder';
  data: string;
  /** Classes of an image-folder dataset (from its folders). */
  numClasses?: number;
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: ScheduleName;
  milestones?: number[];
  gamma?: number;
  warmupEpochs?: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  labelSmoothing: number;
  seed: number;
  trainLimit?: number;
  testLimit?: number;
  /** Also checkpoint every N steps (besides every epoch end). */
  checkpointEvery?: number;
  /**
   * Skip steps whose gradient norm exceeds this many times the median of the last 200 steps' (0: skip only
   * non-finite gradients). Absent: {@link DEFAULT_GRAD_GUARD}.
   */
  gradGuard?: number;
  /**
   * wasm backend: 3×3 convolutions and their gradients by the Winograd F(4×4, 3×3) kernels (faster; gradients
   * differ from the direct kernels' by ~1e-2 relative). Applied by the CLI (`--winograd`).
   */
  winograd?: boolean;
  /**
   * Warm start: a finished run directory (or training-form model directory) whose weights this run starts
   * from, with a fresh optimizer and schedule.
   */
  init?: string;
}

/** The gradient guard's factor for runs whose config does not set one (runs begun before it existed). */
export const DEFAULT_GRAD_GUARD = 10;

/** The embedded defaults: DiracNet-34-1 on CIFAR-10 with a one-cycle schedule (see the docs for why). */
export const DEFAULT_CONFIG: Omit<TrainConfig, 'data'> = {
  model: 'diracnet-34-1',
  dataset: 'cifar10',
  epochs: 30,
  batchSize: 128,
  lr: 0.1,
  schedule: 'onecycle',
  weightDecay: 5e-4,
  momentum: 0.9,
  nesterov: true,
  labelSmoothing: 0,
  seed: 0,
  gradGuard: DEFAULT_GRAD_GUARD,
};

/** This many refused steps in a row mean the run itself has diverged: it stops. */
const MAX_SKIPS_IN_A_ROW = 25;

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainTop1: number;
  testLoss: number;
  testTop1: number;
  testTop5: number;
  imagesPerSecond: number;
  /** Steps of the epoch the gradient guard skipped (absent in runs begun without it). */
  skippedSteps?: number;
  /** Steps whose first gradient the guard refused and whose recomputed one it accepted (transient faults). */
  recomputedSteps?: number;
  /** The largest ratio of an accepted step's gradient norm to the guard's median, over the epoch. */
  maxGradRatio?: number;
  /** Seconds since the run started, over every session. */
  wallTime: number;
  /**
   * CPU seconds of the process (every thread) since the run started, over every session: unlike `wallTime`,
   * not inflated by pauses. Absent in runs begun before it was recorded.
   */
  cpuTime?: number;
  trainImages: number;
  testImages: number;
}

/** Batches of one epoch, reproducible from (seed, epoch) and startable at any step. */
export interface TrainBatches {
  readonly stepsPerEpoch: number;
  epochBatches(epoch: number, startStep?: number): AsyncIterable<Batch & { step: number }>;
  close?(): void | Promise<void>;
}

/** Progress events of a run, for bars, logs or JSON lines. */
export type RunEvent =
  | {
      type: 'start';
      resumed: boolean;
      epoch: number;
      step: number;
      stepsPerEpoch: number;
      backend?: BackendInfo;
    }
  | {
      type: 'step';
      epoch: number;
      step: number;
      stepsPerEpoch: number;
      loss: number;
      top1: number;
      imagesPerSecond: number;
      lr: number;
    }
  | { type: 'eval'; epoch: number; seen: number; total: number }
  | { type: 'epoch'; metrics: EpochMetrics }
  | { type: 'checkpoint'; path: string }
  /** The gradient guard refused a step's gradient twice (1-based epoch, step within it): nothing was updated. */
  | ({ type: 'skipped'; epoch: number; step: number } & SkippedStep)
  /**
   * The guard refused a step's first gradient, which was computed again; `accepted`: the second passed and
   * the step went ahead with it (the first was a transient fault).
   */
  | ({ type: 'recomputed'; epoch: number; step: number } & NonNullable<StepResult['recomputed']>)
  /** The run stopped on request after its last checkpoint; resuming continues at `epoch` (1-based), `step`. */
  | { type: 'stopped'; epoch: number; step: number }
  | { type: 'done'; folded: string; foldError: number };

/** Where the run's data comes from. */
export interface RunData {
  train: TrainBatches;
  /** Test batches (no augmentation); called once per evaluation. */
  test: () => AsyncIterable<Batch> | Iterable<Batch>;
  testSize: number;
  trainSize: number;
  classNames: string[];
}

interface RunState extends CheckpointState {
  history: EpochMetrics[];
  /** Accumulators of the epoch in progress, so a mid-epoch resume reports the whole epoch. */
  partial: {
    lossSum: number;
    correct: number;
    n: number;
    seconds: number;
    skipped?: number;
    recomputed?: number;
    maxGradRatio?: number;
  };
  /** The gradient guard's recent norms. */
  guard?: StepGuardState;
}

function emptyPartial(): RunState['partial'] {
  return { lossSum: 0, correct: 0, n: 0, seconds: 0, skipped: 0, recomputed: 0, maxGradRatio: 0 };
}

/** The training-form spec a run trains. */
export function specFor(config: Pick<TrainConfig, 'model' | 'dataset' | 'numClasses'>) {
  const dataset = config.dataset === 'imagefolder' ? 'imagenet' : config.dataset;
  return buildModel(config.model, { dataset, numClasses: config.numClasses });
}

/** Creates a new run directory, refusing one that already holds a run. */
export async function prepareRunDir(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true }).catch((e: Error) => {
    throw new UsageError(`cannot create run directory '${runDir}': ${e.message}`);
  });
  if (await hasCheckpoint(runDir))
    throw new UsageError(`'${runDir}' already holds a run; use --resume ${runDir} or another --out`);
}

/** A run directory's run.json: its config, where and from what it started, and every resume. */
export interface RunJson {
  config: TrainConfig;
  spec: string;
  backend?: BackendInfo;
  created: string;
  /** The command line that started the run. */
  command?: string;
  /** The git commit the trainer started from (`-dirty` with local changes). */
  commit?: string;
  resumes?: RunResume[];
  /** Where a warm-started run's weights came from (`init` in the config). */
  init?: RunInit;
}

/** Reads the config of an existing run directory (for --resume). */
export async function readRunConfig(runDir: string): Promise<TrainConfig> {
  return (await readRunJson(runDir, 'nothing to resume')).config;
}

/** One `--resume` of a run, appended to run.json's `resumes` so that provenance covers every session. */
export interface RunResume extends ZooResume {
  command?: string;
  backend?: string;
}

/**
 * Appends a resume to run.json and returns the run's record. Settings the resume changed (`config` against
 * run.json's) are recorded in it and saved, so that later resumes keep them.
 */
async function recordResume(runDir: string, resume: RunResume, config: TrainConfig): Promise<RunJson> {
  const run = await readRunJson(runDir, 'nothing to resume');
  const changed = configChanges(run.config, config);
  run.resumes = [...(run.resumes ?? []), { ...resume, ...(changed ? { changed } : {}) }];
  run.config = config;
  await writeFileAtomic(join(runDir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  return run;
}

/** The settings whose values differ between two configs, or undefined when none does. */
export function configChanges(before: TrainConfig, after: TrainConfig): RunResume['changed'] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as (keyof TrainConfig)[]);
  const changed = [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return changed.length
    ? Object.fromEntries(changed.map((k) => [k, { from: before[k] ?? null, to: after[k] ?? null }]))
    : undefined;
}

async function writeCurves(runDir: string, history: EpochMetrics[], init?: RunInit): Promise<void> {
  const pts = (f: (m: EpochMetrics) => number) => history.map((m) => [m.epoch, f(m)] as [number, number]);
  const svg = curvesSvg(
    [
      { label: 'train', color: '#1f77b4', points: pts((m) => m.trainLoss) },
      { label: 'test', color: '#d62728', points: pts((m) => m.testLoss) },
    ],
    [
      { label: 'train', color: '#1f77b4', points: pts((m) => 100 * m.trainTop1) },
      { label: 'test', color: '#d62728', points: pts((m) => 100 * m.testTop1) },
    ],
    restartEpochs(init).map((x) => ({ x, label: 'restart' })),
  );
  await writeFileAtomic(join(runDir, 'curves.svg'), svg);
  await writeFileAtomic(join(runDir, 'curves.png'), svgToPng(svg));
}

/**
 * Emits a guard event and appends it to the run's guard.jsonl, with every parameter's gradient norm, so
 * that where a faulty gradient came from can be studied after the run.
 */
async function logGuard(runDir: string, emit: (e: RunEvent) => void, e: RunEvent): Promise<void> {
  emit(e);
  await appendFile(
    join(runDir, 'guard.jsonl'),
    `${JSON.stringify({ at: new Date().toISOString(), ...e })}\n`,
  );
}

/** Counts a step's guard verdict into the epoch's accumulators; returns the refused steps in a row. */
function guardStep(r: StepResult, p: RunState['partial'], skipsInARow: number): number {
  if (r.recomputed?.accepted) p.recomputed = (p.recomputed ?? 0) + 1;
  if (!r.skipped) {
    if (r.gradRatio !== undefined) p.maxGradRatio = Math.max(p.maxGradRatio ?? 0, r.gradRatio);
    return 0;
  }
  p.skipped = (p.skipped ?? 0) + 1;
  if (skipsInARow + 1 >= MAX_SKIPS_IN_A_ROW)
    throw new TrainingDivergedError(
      `the gradient guard refused ${MAX_SKIPS_IN_A_ROW} steps in a row (last gradient norm ${r.skipped.norm.toExponential(3)}, median ${r.skipped.median?.toExponential(3)}); stopping with the last good checkpoint kept`,
    );
  return skipsInARow + 1;
}

async function checkpoint(runDir: string, state: RunState, model: TrainableModel): Promise<string> {
  const tensors: TensorMap = {
    ...prefixed(model.tensors, 'model'),
    ...prefixed(model.optimizer.state(), 'momentum'),
  };
  if (model.guard) state.guard = model.guard.state();
  return saveCheckpoint(runDir, state, tensors);
}

/** Options of {@link trainRun}. */
export interface TrainRunOptions {
  resume?: boolean;
  backend?: BackendInfo;
  onEvent?: (e: RunEvent) => void;
  /**
   * Recorded in run.json for the zoo's provenance: the command line and the source commit (of a resume:
   * appended to `resumes`).
   */
  provenance?: { command?: string; commit?: string };
  /**
   * Aborting it stops the run at the end of the step in progress (mid-epoch) or of the evaluation in
   * progress, after a checkpoint, with a {@link RunStoppedError}.
   */
  signal?: AbortSignal;
}

/**
 * Trains (or resumes) a run in `runDir`: checkpoints at every epoch end and every `checkpointEvery` steps,
 * metrics.jsonl and curves after every epoch, and at the end the training-form model (`model/`) and the
 * verified folded model (`folded/`). The run directory is locked (`run.lock`) while it trains, so a second
 * process cannot train the same run.
 */
export async function trainRun(
  config: TrainConfig,
  runDir: string,
  data: RunData,
  options: TrainRunOptions = {},
): Promise<EpochMetrics[]> {
  if (!options.resume) await prepareRunDir(runDir);
  const release = await lockRun(runDir);
  try {
    return await trainLocked(config, runDir, data, options);
  } finally {
    await release();
  }
}

async function trainLocked(
  config: TrainConfig,
  runDir: string,
  data: RunData,
  options: TrainRunOptions,
): Promise<EpochMetrics[]> {
  const emit = options.onEvent ?? (() => {});
  const spec = specFor(config);
  spec.labels = data.classNames;
  let state: RunState;
  let tensors: TensorMap;
  let momentum: TensorMap = {};
  let init: RunInit | undefined;
  if (options.resume) {
    const ck = await loadCheckpoint<RunState>(runDir);
    state = ck.state;
    tensors = withPrefix(ck.tensors, 'model');
    momentum = withPrefix(ck.tensors, 'momentum');
    ({ init } = await recordResume(
      runDir,
      {
        at: new Date().toISOString(),
        epoch: state.epoch,
        step: state.stepInEpoch,
        ...options.provenance,
        backend: options.backend?.name,
      },
      config,
    ));
  } else {
    if (config.init) ({ tensors, init } = await loadInit(config.init, spec));
    else tensors = initParams(spec, config.seed);
    const run: RunJson = {
      config,
      spec: spec.name,
      backend: options.backend,
      created: new Date().toISOString(),
      ...options.provenance,
      ...(init ? { init } : {}),
    };
    await writeFileAtomic(join(runDir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
    state = {
      version: 1,
      epoch: 0,
      stepInEpoch: 0,
      globalStep: 0,
      wallTime: 0,
      cpuTime: 0,
      history: [],
      partial: emptyPartial(),
    };
  }
  const model = new TrainableModel(
    spec,
    tensors,
    { momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay },
    config.labelSmoothing,
  );
  tf.dispose(Object.values(tensors));
  model.optimizer.load(momentum);
  model.guard = new StepGuard({ factor: config.gradGuard ?? DEFAULT_GRAD_GUARD }, state.guard);
  const schedule = {
    name: config.schedule,
    lr: config.lr,
    epochs: config.epochs,
    milestones: config.milestones,
    gamma: config.gamma,
    warmupEpochs: config.warmupEpochs,
  };
  const steps = data.train.stepsPerEpoch;
  emit({
    type: 'start',
    resumed: Boolean(options.resume),
    epoch: state.epoch,
    step: state.stepInEpoch,
    stepsPerEpoch: steps,
    backend: options.backend,
  });
  try {
    /** `saved`: the state is the latest checkpoint's, if the run has one (at an epoch's start). */
    const stopIfAsked = async (saved: boolean) => {
      if (!options.signal?.aborted) return;
      if (!saved || !(await hasCheckpoint(runDir)))
        emit({ type: 'checkpoint', path: await checkpoint(runDir, state, model) });
      emit({ type: 'stopped', epoch: state.epoch + 1, step: state.stepInEpoch });
      throw new RunStoppedError(runDir, state.epoch, state.stepInEpoch);
    };
    let skipsInARow = 0;
    for (let epoch = state.epoch; epoch < config.epochs; epoch++) {
      await stopIfAsked(true);
      const clock = new RunClock();
      const p = state.partial;
      for await (const batch of data.train.epochBatches(epoch, state.stepInEpoch)) {
        const lr = learningRate(schedule, epoch + batch.step / steps);
        const r = model.step(batch, lr);
        const at = { epoch: epoch + 1, step: batch.step + 1 };
        if (r.recomputed) await logGuard(runDir, emit, { type: 'recomputed', ...at, ...r.recomputed });
        if (r.skipped) await logGuard(runDir, emit, { type: 'skipped', ...at, ...r.skipped });
        skipsInARow = guardStep(r, p, skipsInARow);
        p.lossSum += r.loss * r.n;
        p.correct += r.correct;
        p.n += r.n;
        const lap = clock.lap();
        p.seconds += lap.wall;
        addLap(state, lap);
        state.stepInEpoch = batch.step + 1;
        state.globalStep++;
        emit({
          type: 'step',
          epoch,
          step: batch.step + 1,
          stepsPerEpoch: steps,
          loss: r.loss,
          top1: p.correct / p.n,
          imagesPerSecond: p.n / p.seconds,
          lr,
        });
        if (state.stepInEpoch < steps) await stopIfAsked(false);
        if (
          config.checkpointEvery &&
          state.globalStep % config.checkpointEvery === 0 &&
          state.stepInEpoch < steps
        ) {
          emit({ type: 'checkpoint', path: await checkpoint(runDir, state, model) });
          clock.reset();
        }
      }
      clock.reset();
      const test = await evaluate(spec, model.tensors, data.test(), (seen) =>
        emit({ type: 'eval', epoch, seen, total: data.testSize }),
      );
      addLap(state, clock.lap());
      const metrics = epochMetrics(epoch, learningRate(schedule, epoch + 1 - 1e-9), p, test, state);
      state.history.push(metrics);
      state.epoch = epoch + 1;
      state.stepInEpoch = 0;
      state.partial = emptyPartial();
      emit({ type: 'checkpoint', path: await checkpoint(runDir, state, model) });
      await writeFileAtomic(join(runDir, 'metrics.jsonl'), historyJsonl(state.history));
      await writeCurves(runDir, wholeHistory(state.history, init), init);
      emit({ type: 'epoch', metrics });
    }
    await finish(runDir, spec, model, emit);
    return state.history;
  } finally {
    model.dispose();
  }
}

function epochMetrics(
  epoch: number,
  lr: number,
  p: RunState['partial'],
  test: EvalResult,
  times: RunTimes,
): EpochMetrics {
  return {
    epoch: epoch + 1,
    lr,
    trainLoss: p.n ? p.lossSum / p.n : Number.NaN,
    trainTop1: p.n ? p.correct / p.n : Number.NaN,
    testLoss: test.loss,
    testTop1: test.top1,
    testTop5: test.top5,
    imagesPerSecond: p.seconds ? p.n / p.seconds : 0,
    ...(p.skipped !== undefined ? { skippedSteps: p.skipped } : {}),
    ...(p.recomputed ? { recomputedSteps: p.recomputed } : {}),
    ...(p.maxGradRatio ? { maxGradRatio: p.maxGradRatio } : {}),
    wallTime: times.wallTime,
    ...(times.cpuTime !== undefined ? { cpuTime: times.cpuTime } : {}),
    trainImages: p.n,
    testImages: test.n,
  };
}

async function finish(
  runDir: string,
  spec: TrainableModel['spec'],
  model: TrainableModel,
  emit: (e: RunEvent) => void,
) {
  const training = { spec, tensors: model.tensors };
  await saveModelDir(join(runDir, 'model'), training);
  const folded = fold(training);
  try {
    const report = verifyFold(training, folded, { batch: 4, seed: 1 });
    if (!report.ok)
      throw new FoldVerificationError(
        `folding the trained model gives ${report.maxRelError.toExponential(3)} relative error (tolerance ${report.tolerance}); folded model not written`,
      );
    folded.spec.metadata = { ...folded.spec.metadata, foldReport: report };
    await saveModelDir(join(runDir, 'folded'), folded, { dtypes: ['float32', 'float16'] });
    emit({ type: 'done', folded: join(runDir, 'folded'), foldError: report.maxRelError });
  } finally {
    disposeModel(folded);
  }
}
