import { describe, expect, it } from 'vitest';
import type { RunInit } from './init';
import type { EpochMetrics } from './run';
import { restartEpochs, wholeHistory } from './run-log';

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
});
