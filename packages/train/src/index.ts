/**
 * Training DiracNets: datasets, augmentation, SGD and schedules, the resumable training loop, evaluation,
 * checkpoints, plots and exporters. The `dirac` CLI is this package's `bin`. `@dirac/train/browser` is the
 * part that runs in browsers too (the training step, schedules, evaluation, augmentation).
 *
 * @packageDocumentation
 */
// by package name, so that this entry and the browser one share their classes (TrainableModel, the errors)
export * from '@dirac/train/browser';
export { type CheckpointState, hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
export * from './export';
export { loadInit, type RunInit } from './init';
export { curvesSvg, type Mark, type Series, svgToPng } from './plots';
export {
  DEFAULT_CONFIG,
  type EpochMetrics,
  type RunData,
  type RunEvent,
  type RunJson,
  type RunResume,
  RunStoppedError,
  readRunConfig,
  type TrainBatches,
  type TrainConfig,
  type TrainRunOptions,
  trainRun,
} from './run';
export { lockRun, type RunLockOwner, runLockOwner } from './run-lock';
export { wholeHistory } from './run-log';
export { type RunStatus, runStatus } from './run-status';
