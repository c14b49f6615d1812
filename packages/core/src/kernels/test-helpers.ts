import { expect } from 'vitest';

/** max |got − ref| / max |ref| (the reference's scale floored at 1e-12); the lengths must agree. */
export function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let d = 0;
  let s = 1e-12;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - ref[i]!));
    s = Math.max(s, Math.abs(ref[i]!));
  }
  return d / s;
}
