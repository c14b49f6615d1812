/** Estimates the time a run has left from the epochs this process has timed (the last three). */
export class RunEta {
  private lastWallTime?: number;
  private readonly durations: number[] = [];

  constructor(private readonly totalEpochs: number) {}

  /**
   * Records the end of `epoch` (1-based) at the run's `wallTime` and returns the seconds left, or undefined
   * until one whole epoch has been timed (the first epoch of a resume may be a part) or when none is left.
   */
  epochDone(epoch: number, wallTime: number): number | undefined {
    if (this.lastWallTime !== undefined) this.durations.push(wallTime - this.lastWallTime);
    this.lastWallTime = wallTime;
    const recent = this.durations.slice(-3);
    const left = this.totalEpochs - epoch;
    if (!recent.length || left <= 0) return undefined;
    return (left * recent.reduce((a, b) => a + b, 0)) / recent.length;
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
