/** Seconds of one lap: wall-clock and the process's CPU time (every thread: workers and wasm threads too). */
export interface Lap {
  wall: number;
  cpu: number;
}

/**
 * Times a run in laps. CPU time is what a pause (SIGSTOP, a suspended machine, a busy neighbour) does not
 * inflate, so the zoo can state the compute a model took even when its wall time includes stops.
 */
export class RunClock {
  private wall = performance.now();
  private cpu = process.cpuUsage();

  /** The time since the last lap (or reset), starting the next lap. */
  lap(): Lap {
    const wall = performance.now();
    const used = process.cpuUsage(this.cpu);
    const lap = { wall: (wall - this.wall) / 1000, cpu: (used.user + used.system) / 1e6 };
    this.wall = wall;
    this.cpu = process.cpuUsage();
    return lap;
  }

  /** Starts a new lap, dropping the time since the last one (checkpoint writing, say). */
  reset(): void {
    this.lap();
  }
}

/** The totals a run keeps; `cpuTime` is absent in runs begun before it was recorded, and then stays so. */
export interface RunTimes {
  wallTime: number;
  cpuTime?: number;
}

/** Adds a lap to a run's totals (a run without a CPU total from its start gets none: a part would mislead). */
export function addLap(times: RunTimes, lap: Lap): void {
  times.wallTime += lap.wall;
  if (times.cpuTime !== undefined) times.cpuTime += lap.cpu;
}
