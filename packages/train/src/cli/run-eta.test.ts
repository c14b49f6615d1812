import { describe, expect, it } from 'vitest';
import { formatDuration, RunEta } from './run-eta';

describe('RunEta', () => {
  it('waits for a whole timed epoch, then multiplies the epochs left by the mean of the last three', () => {
    const eta = new RunEta(10);
    expect(eta.epochDone(3, 1000)).toBeUndefined(); // a resumed epoch: its length is unknown
    expect(eta.epochDone(4, 1300)).toBe(6 * 300);
    expect(eta.epochDone(5, 1500)).toBe(5 * 250);
    eta.epochDone(6, 1800);
    expect(eta.epochDone(7, 2400)).toBe(3 * ((200 + 300 + 600) / 3));
  });

  it('says nothing once the last epoch is done', () => {
    const eta = new RunEta(2);
    eta.epochDone(1, 10);
    expect(eta.epochDone(2, 20)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [45.4, '45s'],
    [750, '12m 30s'],
    [4 * 3600 + 5 * 60 + 29, '4h 05m'],
    [-3, '0s'],
  ])('%s s → %s', (s, text) => expect(formatDuration(s)).toBe(text));
});
