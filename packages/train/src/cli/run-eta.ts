import { timeLeft } from '../run-status';

/** Estimates the time a run has left from the epochs this process has timed (the last three). */
export class RunEta {
  private readonly epochEnds: number[] = [];

  constructor(private readonly totalEpochs: number) {}

  /**
   * Records the end of `epoch` (1-based) at the run's `wallTime` and returns the seconds left, or undefined
   * until one whole epoch has been timed (the first epoch of a resume may be a part) or when none is left.
   */
  epochDone(epoch: number, wallTime: number): number | undefined {
    this.epochEnds.push(wallTime);
    return timeLeft(this.epochEnds, this.totalEpochs - epoch);
  }
}

/** '4h 05m', '12m 30s' or '45s'. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
