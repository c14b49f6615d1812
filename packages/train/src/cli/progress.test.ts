import { afterEach, describe, expect, it, vi } from 'vitest';
import { startProgress } from './progress';

describe('startProgress (plain lines)', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });

  function run(from: number | undefined, steps: number[]): string[] {
    vi.stubEnv('CI', 'true');
    vi.useFakeTimers({ now: 0 });
    const lines: string[] = [];
    const bar = startProgress('epoch 3', 100, { everyMs: 0, from, write: (l) => lines.push(l.trim()) });
    for (const done of steps) {
      vi.advanceTimersByTime(1000);
      bar.update(done, { loss: 0.5 });
    }
    return lines;
  }

  it('estimates the time left from the rate since it started', () => {
    expect(run(undefined, [10, 20])).toEqual([
      'epoch 3 10/100 (10%) | loss 0.5 | ETA 9s',
      'epoch 3 20/100 (20%) | loss 0.5 | ETA 8s',
    ]);
  });

  it('times a resumed epoch from the step it resumed at, not from zero', () => {
    // 76 steps were done before the restart; one step per second since.
    expect(run(76, [77, 78])).toEqual([
      'epoch 3 77/100 (77%) | loss 0.5 | ETA 23s',
      'epoch 3 78/100 (78%) | loss 0.5 | ETA 22s',
    ]);
  });

  it('says the ETA is unknown before any unit is done', () => {
    expect(run(5, [5])).toEqual(['epoch 3 5/100 (5%) | loss 0.5 | ETA ?']);
  });
});
