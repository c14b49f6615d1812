import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { configureWasmSimdKernels, UsageError } from '@dirac/core';
import { loadCifar } from '../../data/cifar';
import { ImageFolder } from '../../data/image-folder';
import { normalizeBatch } from '../../data/normalize';
import { BatchLoader } from '../../data/prefetch';
import { splitBatches } from '../../evaluate';
import type { SkippedStep } from '../../loop';
import type { ScheduleName } from '../../optim/schedules';
import {
  DEFAULT_CONFIG,
  prepareRunDir,
  type RunData,
  type RunEvent,
  RunStoppedError,
  readRunConfig,
  specFor,
  type TrainConfig,
  trainRun,
} from '../../run';
import { selectBackend } from '../backend';
import { numberOption } from '../output';
import { interactive, type Progress, startProgress } from '../progress';
import { commandLine, sourceCommit } from '../provenance';
import { formatDuration, RunEta } from '../run-eta';

interface TrainOptions {
  model: string;
  dataset: string;
  data?: string;
  out?: string;
  resume?: string;
  init?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  schedule?: string;
  weightDecay?: string;
  momentum?: string;
  nesterov?: boolean;
  labelSmoothing?: string;
  seed?: string;
  trainLimit?: string;
  testLimit?: string;
  checkpointEvery?: string;
  gradGuard?: string;
  winograd?: boolean;
  backend?: string;
  json?: boolean;
}

const SCHEDULES: ScheduleName[] = ['step', 'cosine', 'onecycle'];
const DATASETS = ['cifar10', 'cifar100', 'imagefolder'];

function overrides(o: TrainOptions): Partial<TrainConfig> {
  const out: Partial<TrainConfig> = {};
  const int = (name: string, v?: string, min = 1) => numberOption(name, v, { integer: true, min });
  const num = (name: string, v?: string) => numberOption(name, v, { min: 0 });
  const set = <K extends keyof TrainConfig>(k: K, v: TrainConfig[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('epochs', int('epochs', o.epochs));
  set('batchSize', int('batch-size', o.batchSize));
  set('lr', num('lr', o.lr));
  set('weightDecay', num('weight-decay', o.weightDecay));
  set('momentum', num('momentum', o.momentum));
  set('labelSmoothing', num('label-smoothing', o.labelSmoothing));
  set('seed', int('seed', o.seed, 0));
  set('trainLimit', int('train-limit', o.trainLimit));
  set('testLimit', int('test-limit', o.testLimit));
  set('checkpointEvery', int('checkpoint-every', o.checkpointEvery));
  set('gradGuard', num('grad-guard', o.gradGuard));
  if (o.nesterov !== undefined) out.nesterov = o.nesterov;
  if (o.winograd !== undefined) out.winograd = o.winograd;
  if (o.schedule !== undefined) {
    if (!SCHEDULES.includes(o.schedule as ScheduleName))
      throw new UsageError(`--schedule must be one of ${SCHEDULES.join(', ')}; got '${o.schedule}'`);
    out.schedule = o.schedule as ScheduleName;
  }
  return out;
}

async function resolveConfig(
  o: TrainOptions,
  modelGiven: boolean,
): Promise<{ config: TrainConfig; runDir: string; resume: boolean }> {
  if (o.resume) {
    if (o.init) throw new UsageError('--init starts a new run; a resumed run keeps the weights it has');
    const saved = await readRunConfig(o.resume);
    if (modelGiven && o.model !== saved.model) {
      throw new UsageError(
        `'${o.resume}' is a run of ${saved.model}, not ${o.model}; drop --model or use another --out`,
      );
    }
    return {
      config: { ...saved, ...overrides(o), ...(o.data ? { data: o.data } : {}) },
      runDir: o.resume,
      resume: true,
    };
  }
  if (!o.data)
    throw new UsageError(
      '--data <folder or .tar.gz> is required (e.g. ../shared/data/cifar-10-binary.tar.gz)',
    );
  if (!o.out) throw new UsageError('--out <run directory> is required');
  if (!DATASETS.includes(o.dataset)) {
    throw new UsageError(`--dataset must be one of ${DATASETS.join(', ')}; got '${o.dataset}'`);
  }
  const dataset = o.dataset as TrainConfig['dataset'];
  return {
    config: {
      ...DEFAULT_CONFIG,
      model: o.model,
      dataset,
      data: o.data,
      ...overrides(o),
      ...(o.init ? { init: o.init } : {}),
    },
    runDir: o.out,
    resume: false,
  };
}

/** A refused gradient, for a log line: its norm, the median, the largest parameter gradients. */
function refused(s: SkippedStep): string {
  const largest = s.largest.map((l) => `${l.name} ${l.norm.toExponential(2)}`).join(', ');
  return `norm ${s.norm.toExponential(3)} against a median of ${s.median?.toExponential(3) ?? '(warming up)'} (largest: ${largest})`;
}

function reporter(json: boolean, epochs: number): (e: RunEvent) => void {
  let bar: Progress | null = null;
  const eta = new RunEta(epochs);
  const line = (s: string) => process.stderr.write(`${s}\n`);
  return (e) => {
    if (json) {
      if (e.type !== 'step' && e.type !== 'eval') process.stdout.write(`${JSON.stringify(e)}\n`);
      return;
    }
    if (e.type === 'start')
      line(
        `dirac: ${e.resumed ? `resuming at epoch ${e.epoch + 1}, step ${e.step}` : 'starting'} (${e.stepsPerEpoch} steps per epoch)`,
      );
    if (e.type === 'step') {
      if (!bar)
        bar = startProgress(`epoch ${e.epoch + 1}`, e.stepsPerEpoch, {
          everyMs: interactive() ? 0 : 30_000,
          // Created at the first step seen, so that step's time is unknown: time the ETA from it.
          from: e.step,
        });
      bar.update(e.step, {
        loss: e.loss.toFixed(3),
        acc: `${(100 * e.top1).toFixed(1)}%`,
        'img/s': e.imagesPerSecond.toFixed(1),
        lr: e.lr.toFixed(4),
      });
    }
    if (e.type === 'eval' && bar) {
      bar.stop();
      bar = null;
    }
    if (e.type === 'epoch') {
      const m = e.metrics;
      const left = eta.epochDone(m.epoch, m.wallTime);
      line(
        `epoch ${m.epoch}: train loss ${m.trainLoss.toFixed(4)} top-1 ${(100 * m.trainTop1).toFixed(2)}% | test loss ${m.testLoss.toFixed(4)} top-1 ${(100 * m.testTop1).toFixed(2)}% top-5 ${(100 * m.testTop5).toFixed(2)}% | ${m.imagesPerSecond.toFixed(1)} img/s | ${m.wallTime.toFixed(0)} s${left === undefined ? '' : ` | run ETA ${formatDuration(left)} (${epochs - m.epoch} epoch${epochs - m.epoch === 1 ? '' : 's'} left)`}`,
      );
    }
    if (e.type === 'recomputed') {
      line(
        `dirac: epoch ${e.epoch} step ${e.step}: gradient ${refused(e.first)}; computed again: norm ${e.norm.toExponential(3)}, ${e.accepted ? 'applied (the first computation was faulty)' : 'refused too'}`,
      );
    }
    if (e.type === 'skipped') line(`dirac: skipped epoch ${e.epoch} step ${e.step}: gradient ${refused(e)}`);
    if (e.type === 'stopped') {
      bar?.stop();
      bar = null;
      line(`dirac: stopped in epoch ${e.epoch} at step ${e.step}, checkpointed`);
    }
    if (e.type === 'done')
      line(`dirac: folded model (verified, max rel error ${e.foldError.toExponential(2)}) in ${e.folded}`);
  };
}

export async function run(
  opts: TrainOptions,
  cmd: { getOptionValueSource(k: string): string | undefined },
): Promise<number> {
  const { config, runDir, resume } = await resolveConfig(opts, cmd.getOptionValueSource('model') === 'cli');
  specFor(config);
  const data = await openData(config);
  try {
    if (config.dataset === 'imagefolder') config.numClasses = data.classNames.length;
    specFor(config);
    if (!resume) await prepareRunDir(runDir);
    const backend = await selectBackend(opts.backend, false);
    configureWasmSimdKernels({ winograd: config.winograd ?? false });
    const provenance = { command: commandLine(), commit: await sourceCommit() };
    const stop = stopOnSignals();
    try {
      await trainRun(config, runDir, data, {
        resume,
        backend,
        provenance,
        onEvent: reporter(Boolean(opts.json), config.epochs),
        signal: stop.signal,
      });
    } catch (e) {
      if (!(e instanceof RunStoppedError)) throw e;
      if (!opts.json) process.stderr.write(`dirac: continue with dirac train --resume ${runDir}\n`);
      return stop.exitCode();
    } finally {
      stop.dispose();
    }
  } finally {
    await data.close();
  }
  return 0;
}

/**
 * SIGINT (Ctrl-C) and SIGTERM ask the run to stop at the next step, after a checkpoint; a second signal
 * quits at once (the last checkpoint stays intact). The exit code is then 128 + the signal's number.
 */
function stopOnSignals() {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) process.exit(128 + osConstants.signals[sig]);
    received = sig;
    controller.abort();
    process.stderr.write(
      `\ndirac: ${sig}: stopping after this step with a checkpoint (again to quit at once)\n`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    exitCode: () => 128 + osConstants.signals[received ?? 'SIGINT'],
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Opens the training and evaluation data of a run (CIFAR split files, or train/ and val/ image folders). */
async function openData(config: TrainConfig): Promise<RunData & { close(): Promise<void> }> {
  if (config.dataset === 'imagefolder') {
    const [train, val] = await Promise.all([
      ImageFolder.open(join(config.data, 'train')),
      ImageFolder.open(join(config.data, 'val')),
    ]);
    const loader = new BatchLoader(train, {
      batchSize: config.batchSize,
      augment: true,
      seed: config.seed,
      normalize: 'imagenet',
      limit: config.trainLimit,
    });
    const evalLoader = new BatchLoader(val, {
      batchSize: config.batchSize,
      augment: false,
      shuffle: false,
      seed: 0,
      normalize: 'imagenet',
      limit: config.testLimit,
    });
    return {
      train: loader,
      test: () => evalLoader.epochBatches(0),
      testSize: evalLoader.size,
      trainSize: loader.size,
      classNames: train.classNames,
      close: async () => {
        await loader.close();
        await evalLoader.close();
      },
    };
  }
  const train = await loadCifar(config.data, {
    dataset: config.dataset,
    split: 'train',
    limit: config.trainLimit,
  });
  const test = await loadCifar(config.data, {
    dataset: config.dataset,
    split: 'test',
    limit: config.testLimit,
    shared: false,
  });
  const loader = new BatchLoader(train, {
    batchSize: config.batchSize,
    augment: true,
    seed: config.seed,
    normalize: 'cifar',
  });
  return {
    train: loader,
    test: () => splitBatches(test, 500, (src, out) => normalizeBatch(src, 'cifar', out), 32 * 32 * 3),
    testSize: test.n,
    trainSize: loader.size,
    classNames: train.classNames,
    close: () => loader.close(),
  };
}
