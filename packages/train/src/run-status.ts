import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { exists } from '@dirac/core/node';
import { hasCheckpoint, readCheckpointState } from './checkpoint';
import type { EpochMetrics, TrainConfig } from './run';
import { type RunLockOwner, runLockOwner } from './run-lock';
import { readRunJson } from './run-log';

/** Where a run stands, from its directory alone (run.json, the latest checkpoint, folded/). */
export interface RunStatus {
  runDir: string;
  config: TrainConfig;
  /** Epochs completed, of `config.epochs`. */
  epochsDone: number;
  /** Steps completed in the epoch in progress. */
  step: number;
  /** From the last epoch's images and the batch size; unknown before an epoch has ended. */
  stepsPerEpoch?: number;
  /** The folded model has been written: the run is over. */
  finished: boolean;
  last?: EpochMetrics;
  best?: { epoch: number; testTop1: number };
  /** Seconds over every session (with pauses), and CPU seconds where the run records them. */
  wallTime: number;
  cpuTime?: number;
  /** The `dirac train` process working in the run now, if any (its `run.lock`). */
  trainer?: RunLockOwner;
  /** When the latest checkpoint was written (ISO 8601), if there is one. */
  checkpointAt?: string;
  resumes: number;
  /** A warm start's source, and the epochs of the runs before this one (whose numbering this one continues). */
  init?: { from: string; earlierEpochs: number };
  /** Seconds left at the pace of the last three epochs (with their pauses); unknown before two epochs. */
  etaSeconds?: number;
  /** Steps the gradient guard skipped, over the epochs done and the one in progress (up to its checkpoint). */
  skippedSteps: number;
  /** Steps whose faulty first gradient the guard refused and whose recomputed one it applied (the same span). */
  recomputedSteps: number;
}

interface StateView {
  epoch: number;
  stepInEpoch: number;
  wallTime: number;
  cpuTime?: number;
  history?: EpochMetrics[];
  partial?: { skipped?: number; recomputed?: number };
}

/** Reads a run directory's status; a directory that is not a run gets a UsageError naming it. */
export async function runStatus(runDir: string): Promise<RunStatus> {
  const run = await readRunJson(runDir);
  const config = run.config;
  const saved = (await hasCheckpoint(runDir))
    ? await readCheckpointState(runDir).then(async ({ state }) => ({
        state: state as unknown as StateView,
        at: (await stat(join(runDir, 'checkpoint.json'))).mtime.toISOString(),
      }))
    : undefined;
  const trainer = await runLockOwner(runDir);
  const state: StateView = saved?.state ?? { epoch: 0, stepInEpoch: 0, wallTime: 0 };
  const history = state.history ?? [];
  const last = history.at(-1);
  const stepsPerEpoch = last ? Math.ceil(last.trainImages / config.batchSize) : undefined;
  const best = history.reduce<RunStatus['best']>(
    (b, m) => (!b || m.testTop1 > b.testTop1 ? { epoch: m.epoch, testTop1: m.testTop1 } : b),
    undefined,
  );
  return {
    runDir,
    config,
    epochsDone: state.epoch,
    step: state.stepInEpoch,
    stepsPerEpoch,
    finished: await exists(join(runDir, 'folded', 'model.json')),
    last,
    best,
    wallTime: state.wallTime,
    ...(state.cpuTime !== undefined ? { cpuTime: state.cpuTime } : {}),
    ...(trainer ? { trainer } : {}),
    ...(saved ? { checkpointAt: saved.at } : {}),
    resumes: run.resumes?.length ?? 0,
    ...(run.init ? { init: { from: run.init.from, earlierEpochs: run.init.history?.length ?? 0 } } : {}),
    skippedSteps: history.reduce((n, m) => n + (m.skippedSteps ?? 0), state.partial?.skipped ?? 0),
    recomputedSteps: history.reduce((n, m) => n + (m.recomputedSteps ?? 0), state.partial?.recomputed ?? 0),
    etaSeconds: timeLeft(
      history.map((m) => m.wallTime),
      config.epochs - state.epoch - (stepsPerEpoch ? state.stepInEpoch / stepsPerEpoch : 0),
    ),
  };
}

/**
 * Seconds left for `epochsLeft` epochs at the pace of the last three, from the run's wall time at the end of
 * consecutive epochs; undefined before two epoch ends or when nothing is left.
 */
export function timeLeft(epochEnds: number[], epochsLeft: number): number | undefined {
  const recent = epochEnds.slice(-4);
  if (recent.length < 2 || epochsLeft <= 0) return undefined;
  return (epochsLeft * (recent.at(-1)! - recent[0]!)) / (recent.length - 1);
}
