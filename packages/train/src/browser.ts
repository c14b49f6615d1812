/**
 * The browser-safe part of @dirac/train: the training step (SGD with momentum and per-group weight decay,
 * batch norm in train mode, running statistics), learning-rate schedules, the loss, evaluation, CIFAR
 * augmentation and normalization. No Node built-ins: files, datasets, checkpoints, plots and the CLI are in
 * the package's main entry.
 *
 * ```ts
 * import { useBackend } from '@dirac/core';
 * import { buildModel, initParams } from '@dirac/models';
 * import { learningRate, TrainableModel } from '@dirac/train/browser';
 * await useBackend('wasm');
 * const spec = buildModel('diracnet-10-1');
 * const model = new TrainableModel(spec, initParams(spec), { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
 * const { loss } = model.step({ x, y, n }, learningRate({ name: 'onecycle', lr: 0.05, epochs }, progress));
 * ```
 *
 * @packageDocumentation
 */
export { augmentCifarBatch, type CifarAugmentOptions, type RandomSource } from './data/augment';
export {
  CIFAR_MEAN,
  CIFAR_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type NormalizeName,
  type NormalizeStats,
  normalizeBatch,
  normalizeLut,
  normalizeStats,
} from './data/normalize';
export { Rng } from './data/rng';
export { type Batch, type EvalResult, evaluate, splitBatches } from './evaluate';
export { type SkippedStep, type StepResult, TrainableModel, TrainingDivergedError } from './loop';
export { crossEntropy } from './loss';
export { learningRate, paperMilestones, type ScheduleName, type ScheduleOptions } from './optim/schedules';
export { decays, Sgd, type SgdOptions } from './optim/sgd';
export {
  type GuardVerdict,
  globalNorm,
  gradientNorms,
  StepGuard,
  type StepGuardOptions,
  type StepGuardState,
} from './optim/step-guard';
