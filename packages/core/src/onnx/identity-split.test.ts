import { describe, expect, it } from 'vitest';
import { identitySplit, identityWeight, withoutIdentity } from './identity-split';
import type { ExportOp } from './lower';

type ConvOp = Extract<ExportOp, { op: 'conv' }>;

/** A 3x3 conv `[kh, kw, in, out]` with `centre` on the diagonal of the centre tap and `other` elsewhere. */
function conv(c: number, centre: number, other: number, change: Partial<ConvOp> = {}, cin = c): ConvOp {
  const data = new Float32Array(9 * cin * c).fill(other);
  for (let o = 0; o < Math.min(c, cin); o++) data[(4 * cin + o) * c + o] = centre * (o + 1);
  return {
    op: 'conv',
    name: 'c',
    weight: { name: 'c.weight', shape: [3, 3, cin, c], data },
    stride: [1, 1],
    padding: [
      [1, 1],
      [1, 1],
    ],
    relu: false,
    ...change,
  };
}

describe('identitySplit', () => {
  it('takes the centre diagonal of a same-size conv it dominates, and withoutIdentity removes just that', () => {
    const op = conv(2, 1, -0.1);
    const d = identitySplit(op)!;
    expect([...d]).toEqual([1, 2]);
    const rest = withoutIdentity(op, d);
    expect(rest.filter((v) => v === 0)).toHaveLength(2);
    expect(rest.filter((v) => v === -0.1 || Math.abs(v + 0.1) < 1e-7)).toHaveLength(rest.length - 2);
    expect(op.weight.data[(4 * 2 + 1) * 2 + 1]).toBe(2); // the op itself is left alone
  });

  it('splits a widening conv on the channels its identity covers (as dirac_ makes it)', () => {
    const op = conv(4, 1, 0.1, {}, 2);
    const d = identitySplit(op)!;
    expect([...d]).toEqual([1, 2, 0, 0]);
    expect([...identityWeight(op, d)]).toEqual([1, 0, 0, 0, 0, 2, 0, 0]); // [1, 1, in 2, out 4]
    expect(withoutIdentity(op, d).filter((v) => v === 0)).toHaveLength(2);
  });

  it.each([
    ['a diagonal that does not dominate', conv(2, 1, 1.5)],
    ['stride 2', conv(2, 1, 0.1, { stride: [2, 2] })],
    [
      'no padding (a smaller output)',
      conv(2, 1, 0.1, {
        padding: [
          [0, 0],
          [0, 0],
        ],
      }),
    ],
  ])('leaves %s whole', (_, op) => {
    expect(identitySplit(op)).toBeUndefined();
  });
});
