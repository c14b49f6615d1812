import { describe, expect, it } from 'vitest';
import { parseNpy, serializeNpy } from './npy';

describe('.npy', () => {
  it('round-trips float32 arrays of any rank, with a 64-byte aligned header', () => {
    for (const shape of [[3], [2, 3], [1, 3, 4, 5]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i / 7 - 1);
      const bytes = serializeNpy({ shape, data });
      expect((bytes.length - n * 4) % 64).toBe(0);
      expect(parseNpy(bytes)).toEqual({ shape, data });
    }
  });

  it('rejects what it cannot read, naming the problem', () => {
    expect(() => parseNpy(new TextEncoder().encode('hello world'))).toThrow(/magic/);
    const good = serializeNpy({ shape: [4], data: new Float32Array(4) });
    expect(() => parseNpy(good.subarray(0, good.length - 4))).toThrow(/truncated/);
    const int64 = good.slice();
    const at = Buffer.from(int64).indexOf('<f4');
    int64.set(new TextEncoder().encode('<i8'), at);
    expect(() => parseNpy(int64)).toThrow(/dtype/);
  });
});
