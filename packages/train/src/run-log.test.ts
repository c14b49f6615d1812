import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@dirac/core';
import { describe, expect, it } from 'vitest';
import type { RunInit } from './init';
import type { EpochMetrics } from './run';
import { readRunJson, restartEpochs, wholeHistory } from './run-log';

const epochs = (n: number, top1 = 0.5): EpochMetrics[] =>
  Array.from({ length: n }, (_, i) => ({
    epoch: i + 1,
    lr: 0.1,
    trainLoss: 1,
    trainTop1: top1,
    testLoss: 1,
    testTop1: top1,
    testTop5: 0.9,
    imagesPerSecond: 100,
    wallTime: i,
    trainImages: 10,
    testImages: 10,
  }));

// a third cycle: 2 epochs, warm-started from a 3-epoch cycle that was warm-started from a 4-epoch run
const first: RunInit = { from: 'runs/a', epochs: 4, history: epochs(4, 0.1) };
const second: RunInit = {
  from: 'runs/b',
  epochs: 3,
  init: { from: 'runs/a', epochs: 4 },
  history: wholeHistory(epochs(3, 0.2), first),
};

describe('run log', () => {
  it('numbers a warm-started run on from every run before it', () => {
    const all = wholeHistory(epochs(2, 0.3), second);
    expect(all.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(all.map((m) => m.testTop1)).toEqual([0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3]);
    expect(wholeHistory(epochs(2))).toEqual(epochs(2));
  });

  it('finds the epochs after which each warm restart began', () => {
    expect(restartEpochs(undefined)).toEqual([]);
    expect(restartEpochs(first)).toEqual([4]);
    expect(restartEpochs(second)).toEqual([4, 7]);
    // a bare model directory as the source: no history, so nothing to mark
    expect(restartEpochs({ from: 'model/' })).toEqual([]);
  });

  it('reads run.json, refusing a missing or damaged one with a line that names it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-json-'));
    await expect(readRunJson(dir, 'nothing to resume')).rejects.toThrow(
      new UsageError(`'${dir}' is not a run directory (no run.json); nothing to resume`),
    );
    writeFileSync(join(dir, 'run.json'), '{"config": {"model": "diracnet-10-1", "epo');
    await expect(readRunJson(dir)).rejects.toThrow(/run\.json' is damaged: .*JSON/);
    writeFileSync(join(dir, 'run.json'), '{"spec": "diracnet-10-1"}');
    await expect(readRunJson(dir)).rejects.toThrow(/is damaged: it has no training config/);
    writeFileSync(join(dir, 'run.json'), '{"config": {"model": "diracnet-10-1", "epochs": 2}}');
    await expect(readRunJson(dir)).resolves.toMatchObject({ config: { model: 'diracnet-10-1', epochs: 2 } });
  });
});
