import { describe, expect, it } from 'vitest';
import { modelCounts } from './counts';
import { buildModel } from './registry';

describe('parameter counts equal upstream definitions', () => {
  it.each([
    ['diracnet-28-10', 'cifar10', 36_450_090, 36_423_050],
    ['diracnet-18', 'imagenet', 11_523_368, 11_511_784],
    ['diracnet-34', 'imagenet', 21_638_952, 21_616_232],
  ] as const)('%s', (name, dataset, trainable, folded) => {
    const c = modelCounts(buildModel(name, { dataset }));
    expect(c.trainableParams).toBe(trainable);
    expect(c.foldedParams).toBe(folded);
  });

  it('counts forward FLOPs from the layer shapes', () => {
    // DiracNet-34-1: every conv of group0 is 32x32x16x16x9 multiply-adds.
    const c = modelCounts(buildModel('diracnet-34-1'));
    expect(c.forwardFlops).toBeGreaterThan(0);
    const g0 = 2 * 32 * 32 * 9 * 16 * 16;
    const expected =
      2 * 32 * 32 * 27 * 16 +
      10 * g0 +
      (2 * 16 * 16 * 9 * 16 * 32 + 9 * 2 * 16 * 16 * 9 * 32 * 32) +
      (2 * 8 * 8 * 9 * 32 * 64 + 9 * 2 * 8 * 8 * 9 * 64 * 64) +
      2 * 64 * 10;
    expect(c.forwardFlops).toBe(expected);
  });
});
