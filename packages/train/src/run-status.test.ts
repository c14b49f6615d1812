import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type EpochMetrics } from './run';
import { runStatus } from './run-status';

const root = mkdtempSync(join(tmpdir(), 'dirac-status-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function epoch(n: number, wallTime: number, testTop1: number): EpochMetrics {
  return {
    epoch: n,
    lr: 0.1,
    trainLoss: 1,
    trainTop1: 0.5,
    testLoss: 1,
    testTop1,
    testTop5: 0.9,
    imagesPerSecond: 100,
    wallTime,
    trainImages: 1000,
    testImages: 100,
  };
}

/** A run directory as dirac train leaves it, with `state` in its latest checkpoint. */
function runDir(name: string, state?: object, extra: object = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const config = { ...DEFAULT_CONFIG, data: 'cifar', epochs: 10, batchSize: 100 };
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ config, spec: 'x', created: 'now', ...extra }));
  if (state) {
    mkdirSync(join(dir, 'checkpoints', 'ckpt-1'), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', 'ckpt-1', 'state.json'), JSON.stringify({ version: 1, ...state }));
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ latest: 'ckpt-1' }));
  }
  return dir;
}

describe('runStatus', () => {
  it('reads progress, last and best epochs, times and the time left from the run directory', async () => {
    const history = [epoch(1, 100, 0.5), epoch(2, 220, 0.7), epoch(3, 340, 0.6)];
    const dir = runDir(
      'mid',
      { epoch: 3, stepInEpoch: 5, globalStep: 35, wallTime: 400, cpuTime: 790, history },
      { resumes: [{ at: 'then', epoch: 1, step: 3 }], init: { from: 'runs/a', history: [epoch(1, 5, 0.4)] } },
    );
    writeFileSync(
      join(dir, 'run.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }),
    );
    const s = await runStatus(dir);
    expect(s.trainer).toEqual({ pid: process.pid, host: hostname(), since: 'now' });
    expect(s).toMatchObject({
      epochsDone: 3,
      step: 5,
      stepsPerEpoch: 10,
      finished: false,
      best: { epoch: 2, testTop1: 0.7 },
      wallTime: 400,
      cpuTime: 790,
      resumes: 1,
      init: { from: 'runs/a', earlierEpochs: 1 },
    });
    expect(s.last?.epoch).toBe(3);
    expect(Date.parse(s.checkpointAt!)).toBeGreaterThan(0);
    // 6.5 epochs left at 120 s per epoch (the mean over the last epochs)
    expect(s.etaSeconds).toBeCloseTo(6.5 * 120, 6);
  });

  it('adds up the steps the gradient guard skipped, the epoch in progress included', async () => {
    const history = [
      { ...epoch(1, 100, 0.5), skippedSteps: 2, recomputedSteps: 4 },
      epoch(2, 200, 0.6),
      { ...epoch(3, 300, 0.6), skippedSteps: 0 },
    ];
    const dir = runDir('guarded', {
      epoch: 3,
      stepInEpoch: 4,
      globalStep: 34,
      wallTime: 320,
      history,
      partial: { lossSum: 1, correct: 1, n: 1, seconds: 1, skipped: 1, recomputed: 1 },
    });
    expect(await runStatus(dir)).toMatchObject({ skippedSteps: 3, recomputedSteps: 5 });
    expect((await runStatus(runDir('unguarded'))).skippedSteps).toBe(0);
  });

  it('a run with no checkpoint yet, and a finished one', async () => {
    const fresh = await runStatus(runDir('fresh'));
    expect(fresh).toMatchObject({ epochsDone: 0, step: 0, wallTime: 0 });
    expect(fresh.trainer).toBeUndefined();
    expect((await runStatus(runDir('fresh'))).etaSeconds).toBeUndefined();
    const history = Array.from({ length: 10 }, (_, i) => epoch(i + 1, 10 * (i + 1), 0.5));
    const done = runDir('done', { epoch: 10, stepInEpoch: 0, globalStep: 100, wallTime: 100, history });
    mkdirSync(join(done, 'folded'));
    writeFileSync(join(done, 'folded', 'model.json'), '{}');
    expect(await runStatus(done)).toMatchObject({ finished: true, epochsDone: 10, etaSeconds: undefined });
  });

  it('names a folder that is not a run', async () => {
    await expect(runStatus(root)).rejects.toThrow(/is not a run directory/);
  });
});
