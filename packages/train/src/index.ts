/**
 * Training DiracNets: datasets, augmentation, SGD and schedules, the resumable training loop, evaluation,
 * checkpoints, plots and exporters. The `dirac` CLI is this package's `bin`.
 *
 * @packageDocumentation
 */
export { type CheckpointState, hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
export { type Batch, type EvalResult, evaluate, splitBatches } from './evaluate';
export * from './export';
export { loadInit, type RunInit } from './init';
export { type StepResult, TrainableModel, TrainingDivergedError } from './loop';
export { crossEntropy } from './loss';
export { learningRate, paperMilestones, type ScheduleName, type ScheduleOptions } from './optim/schedules';
export { decays, Sgd, type SgdOptions } from './optim/sgd';
export { curvesSvg, type Mark, type Series, svgToPng } from './plots';
export {
  DEFAULT_CONFIG,
  type EpochMetrics,
  type RunData,
  type RunEvent,
  type RunJson,
  type RunResume,
  readRunConfig,
  type TrainBatches,
  type TrainConfig,
  trainRun,
} from './run';
export { wholeHistory } from './run-log';
