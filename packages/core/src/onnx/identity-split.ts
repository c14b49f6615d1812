import type { ExportOp } from './lower';

type ConvOp = Extract<ExportOp, { op: 'conv' }>;

/**
 * A folded Dirac conv is a scaled identity (the Dirac delta, now one per channel on the kernel's centre) plus a
 * small filter. Per-channel int8 weights give each output channel one scale, set by its identity tap, which is
 * 10–130x the other taps in a trained DiracNet (bench/identity-dominance.mjs): those then round to a few int8 steps. int8 export therefore
 * splits such a conv into `conv(x, W − diag(d)) + d ⊙ x`: the small filter gets its own per-channel scales, and
 * the identity path is a 1x1 conv whose int8 weights hold `d` exactly (depthwise when the conv keeps the
 * channel count; a widening conv has the identity on its first input-many channels, as `dirac_` makes it).
 *
 * @returns `d`, the centre-tap diagonal per output channel (0 past the inputs), for a conv that computes a
 *   same-size output (stride 1, square odd kernel padded by half of it) whose diagonal dominates (the median
 *   over the diagonal's channels of |d| / the largest other tap is at least 2); undefined for any other conv
 */
export function identitySplit(op: ConvOp): Float32Array | undefined {
  const [kh, kw, ci, co] = op.weight.shape as [number, number, number, number];
  const half = (kh - 1) / 2;
  const [[t, b], [l, r]] = op.padding;
  if (kh !== kw || kh % 2 !== 1 || op.stride[0] !== 1 || op.stride[1] !== 1) return undefined;
  if (t !== half || b !== half || l !== half || r !== half) return undefined;
  const w = op.weight.data;
  const centre = (half * kw + half) * ci;
  const d = new Float32Array(co);
  const ratios: number[] = [];
  for (let o = 0; o < Math.min(ci, co); o++) {
    d[o] = w[(centre + o) * co + o]!;
    let other = 0;
    for (let k = 0; k < kh * kw * ci; k++)
      if (k !== centre + o) other = Math.max(other, Math.abs(w[k * co + o]!));
    ratios.push(other > 0 ? Math.abs(d[o]!) / other : Number.POSITIVE_INFINITY);
  }
  ratios.sort((x, y) => x - y);
  return ratios[ratios.length >> 1]! >= 2 ? d : undefined;
}

/** The conv's weight without the identity part: `W − diag(d)` on the kernel's centre (same `[kh, kw, in, out]`). */
export function withoutIdentity(op: ConvOp, d: Float32Array): Float32Array {
  const [kh, kw, ci, co] = op.weight.shape as [number, number, number, number];
  const half = (kh - 1) / 2;
  const out = Float32Array.from(op.weight.data);
  for (let o = 0; o < Math.min(ci, co); o++) {
    const i = ((half * kw + half) * ci + o) * co + o;
    out[i] = out[i]! - d[o]!;
  }
  return out;
}

/** The identity path as a 1x1 conv weight `[1, 1, in, out]` (HWIO): `d[o]` at input `o`, zero elsewhere. */
export function identityWeight(op: ConvOp, d: Float32Array): Float32Array {
  const [, , ci, co] = op.weight.shape as [number, number, number, number];
  const w = new Float32Array(ci * co);
  for (let o = 0; o < Math.min(ci, co); o++) w[o * co + o] = d[o]!;
  return w;
}

/** The calibration key of the split conv's filter-only output. */
export function splitKey(key: string): string {
  return `${key}.split`;
}

/** The calibration key of the split conv's identity path, `d ⊙ x`. */
export function identityKey(key: string): string {
  return `${key}.identity`;
}
