import { describe, expect, it } from 'vitest';
import { addLap, RunClock, type RunTimes } from './run-clock';

/** Works until this process has used `ms` of CPU (however busy the machine is). */
function spin(ms: number): void {
  const start = process.cpuUsage();
  const used = () => {
    const d = process.cpuUsage(start);
    return (d.user + d.system) / 1000;
  };
  while (used() < ms);
}

describe('RunClock', () => {
  it('counts CPU time while working and not while waiting, which wall time counts', async () => {
    const clock = new RunClock();
    spin(200);
    const busy = clock.lap();
    await new Promise((r) => setTimeout(r, 300));
    const idle = clock.lap();
    expect(busy.cpu).toBeGreaterThanOrEqual(0.2);
    expect(busy.wall).toBeGreaterThanOrEqual(busy.cpu - 0.05); // one thread cannot use more CPU than time
    expect(idle.wall).toBeGreaterThanOrEqual(0.29);
    expect(idle.cpu).toBeLessThan(0.1);
  });

  it('reset drops the time since the last lap', () => {
    const clock = new RunClock();
    spin(100);
    clock.reset();
    expect(clock.lap().wall).toBeLessThan(0.05);
  });
});

describe('addLap', () => {
  it('adds both times, and keeps a run without a CPU total from its start without one', () => {
    const fresh: RunTimes = { wallTime: 1, cpuTime: 2 };
    addLap(fresh, { wall: 0.5, cpu: 0.25 });
    expect(fresh).toEqual({ wallTime: 1.5, cpuTime: 2.25 });
    const old: RunTimes = { wallTime: 1 };
    addLap(old, { wall: 0.5, cpu: 0.25 });
    expect(old).toEqual({ wallTime: 1.5 });
  });
});
