/**
 * A small, fast, seeded pseudo-random number generator (xoshiro128**) whose whole state is four uint32 words,
 * so that a trainer can checkpoint it and resume bit-exactly.
 *
 * The batch loader's worker thread carries a plain-JavaScript copy of `next`, `nextInt` and `nextFloat`
 * (see prefetch.ts): keep them in sync (the prefetch tests compare both byte for byte).
 */
import { UsageError } from '@dirac/core';

/**
 * xoshiro128** PRNG (Blackman & Vigna) with 128 bits of state.
 *
 * - {@link Rng.next} returns a uniform uint32, {@link Rng.nextInt} an unbiased integer in `[0, n)`,
 *   {@link Rng.nextFloat} a float in `[0, 1)` with 32 random bits.
 * - {@link Rng.getState} / {@link Rng.setState} serialise the state as four uint32 numbers (JSON friendly).
 * - {@link Rng.derive} builds an independent generator from a seed plus a "path" of integers (e.g.
 *   `[stream, epoch, step]`), which is how the data pipeline makes every epoch's order and every batch's
 *   augmentation reproducible without replaying earlier draws.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /**
   * @param seed any finite number; integers up to 2^53 are used exactly (low and high 32-bit halves are both
   *   mixed in), non-integers are truncated.
   */
  constructor(seed = 0) {
    const lo = Number(seed) >>> 0;
    const hi = Math.floor(Math.abs(Number(seed)) / 4294967296) >>> 0;
    // splitmix32 over the two seed halves fills the four state words.
    let x = (lo ^ Math.imul(hi ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
    const w = [0, 0, 0, 0];
    for (let k = 0; k < 4; k++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      w[k] = (z ^ (z >>> 15)) >>> 0;
    }
    this.s0 = w[0] as number;
    this.s1 = w[1] as number;
    this.s2 = w[2] as number;
    this.s3 = w[3] as number;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * An independent generator determined by `seed` and a path of integers, e.g.
   * `Rng.derive(seed, STREAM_SHUFFLE, epoch)`. Different paths give statistically independent streams.
   */
  static derive(seed: number, ...path: number[]): Rng {
    const r = new Rng(seed);
    // Fold every path element into each state word with a strong 32-bit mixer (lowbias32).
    const mix = (h: number, v: number): number => {
      let z = (h ^ Math.imul(v >>> 0, 0x9e3779b1) ^ Math.floor(v / 4294967296)) >>> 0;
      z = Math.imul(z ^ (z >>> 16), 0x7feb352d);
      z = Math.imul(z ^ (z >>> 15), 0x846ca68b);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < path.length; i++) {
      const v = Math.trunc(path[i] as number);
      r.s0 = mix(r.s0 ^ 0x243f6a88, v + i * 0x10001);
      r.s1 = mix(r.s1 ^ 0x85a308d3, v + i * 0x10001);
      r.s2 = mix(r.s2 ^ 0x13198a2e, v + i * 0x10001);
      r.s3 = mix(r.s3 ^ 0x03707344, v + i * 0x10001);
    }
    if ((r.s0 | r.s1 | r.s2 | r.s3) === 0) r.s0 = 1;
    // Discard a few outputs so that nearby paths decorrelate fully.
    for (let i = 0; i < 4; i++) r.next();
    return r;
  }

  /** Next uniform 32-bit unsigned integer in `[0, 2^32)`. */
  next(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Unbiased uniform integer in `[0, n)`; `n` must be an integer in `[1, 2^32]`. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= 4294967296) || Math.floor(n) !== n) {
      throw new RangeError(`nextInt(n): n must be an integer in [1, 2^32], got ${n}`);
    }
    if ((n & (n - 1)) === 0 && n <= 1073741824) return this.next() & (n - 1);
    const limit = 4294967296 - (4294967296 % n);
    let r = this.next();
    while (r >= limit) r = this.next();
    return r % n;
  }

  /** Uniform float in `[0, 1)` with 32 random bits. */
  nextFloat(): number {
    return this.next() / 4294967296;
  }

  /** Uniform float in `[lo, hi)`. */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.nextFloat();
  }

  /** In-place Fisher–Yates shuffle of an array-like (typed arrays included); returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i] as number;
      a[i] = a[j] as number;
      a[j] = t;
    }
    return a;
  }

  /** The state as four uint32 numbers; feed it to {@link Rng.setState} (or {@link Rng.fromState}) to resume. */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Restores a state from {@link Rng.getState}. Throws UsageError on a malformed or all-zero state. */
  setState(state: readonly number[]): void {
    if (
      !Array.isArray(state) ||
      state.length !== 4 ||
      !state.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff) ||
      state.every((v) => v === 0)
    ) {
      throw new UsageError(
        `invalid RNG state ${JSON.stringify(state)}: expected four uint32 numbers, not all zero (from Rng.getState())`,
      );
    }
    this.s0 = (state[0] as number) | 0;
    this.s1 = (state[1] as number) | 0;
    this.s2 = (state[2] as number) | 0;
    this.s3 = (state[3] as number) | 0;
  }

  /** A generator restored from a saved state. */
  static fromState(state: readonly number[]): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** An independent copy with the same state. */
  clone(): Rng {
    const r = new Rng(0);
    r.s0 = this.s0;
    r.s1 = this.s1;
    r.s2 = this.s2;
    r.s3 = this.s3;
    return r;
  }
}
