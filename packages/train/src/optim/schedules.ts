import { UsageError } from '@dirac/core';

/** Learning-rate schedules; `progress` is in epochs (fractional within an epoch). */
export type ScheduleName = 'step' | 'cosine' | 'onecycle';

/** Options of {@link learningRate}. */
export interface ScheduleOptions {
  name: ScheduleName;
  /** Peak (or initial) learning rate. */
  lr: number;
  epochs: number;
  /** step: epochs at which the rate is multiplied by `gamma`; default 30%, 60%, 80% of the run (the paper's 60/120/160 of 200). */
  milestones?: number[];
  /** step: the factor; 0.2 for CIFAR as upstream (0.1 for ImageNet). */
  gamma?: number;
  /** onecycle/cosine: linear warm-up from lr/25 over this many epochs (onecycle default 15% of the run). */
  warmupEpochs?: number;
}

/** The paper's CIFAR milestones scaled to a run of `epochs` (60, 120, 160 of 200). */
export function paperMilestones(epochs: number): number[] {
  return [0.3, 0.6, 0.8].map((f) => Math.round(f * epochs));
}

/** The learning rate at `progress` epochs into the run. */
export function learningRate(s: ScheduleOptions, progress: number): number {
  const t = Math.min(Math.max(progress, 0), s.epochs);
  const warm = s.warmupEpochs ?? (s.name === 'onecycle' ? 0.15 * s.epochs : 0);
  if (warm > 0 && t < warm && s.name !== 'step') return s.lr / 25 + (s.lr - s.lr / 25) * (t / warm);
  switch (s.name) {
    case 'step': {
      const passed = (s.milestones ?? paperMilestones(s.epochs)).filter((m) => t >= m).length;
      return s.lr * (s.gamma ?? 0.2) ** passed;
    }
    case 'cosine':
    case 'onecycle': {
      const span = Math.max(s.epochs - warm, 1e-9);
      const floor = s.name === 'onecycle' ? s.lr / 1e4 : 0;
      return floor + ((s.lr - floor) * (1 + Math.cos((Math.PI * (t - warm)) / span))) / 2;
    }
    default:
      throw new UsageError(`unknown schedule '${String(s.name)}'; use step, cosine or onecycle`);
  }
}
