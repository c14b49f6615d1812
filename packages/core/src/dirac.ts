import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors';
import type { DiracParameterization } from './types';

/** Guards the filter norm like torch.nn.functional.normalize (which upstream uses). */
const NORM_EPS = 1e-12;

function checkWeightShape(shape: readonly number[]): { spatial: number[]; cin: number; cout: number } {
  if (shape.length < 3 || shape.length > 5) {
    throw new ShapeError(
      `a conv weight must have rank 3, 4 or 5 ([...kernel, in, out]); got shape [${shape.join(', ')}]`,
    );
  }
  const cin = shape[shape.length - 2]!;
  const cout = shape[shape.length - 1]!;
  return { spatial: shape.slice(0, -2), cin, cout };
}

function deltaValues(shape: readonly number[], tiled: boolean): Float32Array {
  const { spatial, cin, cout } = checkWeightShape(shape);
  const values = new Float32Array(shape.reduce((p, d) => p * d, 1));
  // Row-major offset of the kernel centre; channels are the two innermost axes.
  let centre = 0;
  for (const k of spatial) centre = centre * k + Math.floor(k / 2);
  const base = centre * cin * cout;
  if (tiled) {
    if (cin % cout !== 0) {
      throw new ShapeError(`a tiled (v1) Dirac delta needs in (${cin}) to be a multiple of out (${cout})`);
    }
    for (let i = 0; i < cin; i++) values[base + i * cout + (i % cout)] = 1;
  } else {
    for (let i = 0; i < Math.min(cin, cout); i++) values[base + i * cout + i] = 1;
  }
  return values;
}

/**
 * The Dirac delta for a conv weight of the given shape in tfjs layout (`[...kernel, in, out]`): one at the
 * kernel centre for channel i → i, i < min(in, out); the same tensor as `torch.nn.init.dirac_` (transposed).
 */
export function diracDelta(shape: readonly number[]): tf.Tensor {
  return tf.tensor(deltaValues(shape, false), shape as number[], 'float32');
}

/**
 * The v1 delta: input channel i feeds output channel i mod out, so that after NCReLU
 * (`[relu(x), -relu(-x)]`, in = 2·out) the identity path sums back to x.
 */
export function tiledDiracDelta(shape: readonly number[]): tf.Tensor {
  return tf.tensor(deltaValues(shape, true), shape as number[], 'float32');
}

/** Each output filter divided by its L2 norm (norm over every axis but the last). */
export function normalizeFilters(weight: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const axes = weight.shape.slice(0, -1).map((_, i) => i);
    const norm = tf.sqrt(tf.sum(tf.square(weight), axes, true));
    return tf.div(weight, tf.maximum(norm, NORM_EPS));
  });
}

function checkScale(name: string, t: tf.Tensor, cout: number, parameterization: DiracParameterization) {
  const want = parameterization === 'v2' ? cout : 1;
  if (t.size !== want) {
    throw new ShapeError(
      `Dirac '${name}' must have ${want} element(s) for ${parameterization} (out = ${cout}); got shape [${t.shape.join(', ')}]`,
    );
  }
}

/**
 * The effective conv weight of a Dirac conv: `W_hat = a·δ + b·W/‖W‖`.
 * v2: `a`, `b` per output channel ([out]); v1: scalars ([1]) with the tiled delta.
 * Differentiable with respect to `weight`, `a` and `b`.
 */
export function diracWeight(
  weight: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  parameterization: DiracParameterization = 'v2',
): tf.Tensor {
  const { cout } = checkWeightShape(weight.shape);
  checkScale('a', a, cout, parameterization);
  checkScale('b', b, cout, parameterization);
  if (parameterization === 'v2' && onCpuMemory(weight)) return diracWeightV2OnHost(weight, a, b);
  return tf.tidy(() => {
    const delta = parameterization === 'v2' ? diracDelta(weight.shape) : tiledDiracDelta(weight.shape);
    const a1 = tf.reshape(a, [-1]);
    const b1 = tf.reshape(b, [-1]);
    return tf.add(tf.mul(delta, a1), tf.mul(normalizeFilters(weight), b1));
  });
}

/** Backends whose tensors live in CPU memory, where reading a weight back costs a copy, not a GPU sync. */
function onCpuMemory(t: tf.Tensor): boolean {
  const name = tf.getBackend();
  return t.dtype === 'float32' && (name === 'wasm' || name === 'cpu');
}

/**
 * v2 `W_hat = a·δ + b·W/‖W‖` and its gradient as plain loops over the weight values. The weights are small
 * (≤ 37k values for 64 channels), and on tfjs-wasm the half-dozen broadcasting ops the tf-op version takes
 * cost about 1 ms each per layer, forward and backward: a fifth of a DiracNet-34 training step.
 */
function diracWeightV2OnHost(weight: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const cout = weight.shape[weight.rank - 1]!;
  const rows = weight.size / cout;
  const { spatial, cin } = checkWeightShape(weight.shape);
  let centre = 0;
  for (const k of spatial) centre = centre * k + Math.floor(k / 2);
  const f = tf.customGrad((wIn, aIn, bIn, save) => {
    const w = (wIn as tf.Tensor).dataSync() as Float32Array;
    const av = (aIn as tf.Tensor).dataSync() as Float32Array;
    const bv = (bIn as tf.Tensor).dataSync() as Float32Array;
    const norm = new Float64Array(cout);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cout; c++) norm[c]! += w[r * cout + c]! ** 2;
    const n = Float64Array.from(norm, (v) => Math.max(Math.sqrt(v), NORM_EPS));
    const out = new Float32Array(w.length);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cout; c++) out[r * cout + c] = (bv[c]! * w[r * cout + c]!) / n[c]!;
    for (let i = 0; i < Math.min(cin, cout); i++) out[(centre * cin + i) * cout + i]! += av[i]!;
    (save as tf.GradSaveFunc)([]);
    return {
      value: tf.tensor(out, weight.shape),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const da = new Float32Array(cout);
        for (let i = 0; i < Math.min(cin, cout); i++) da[i] = g[(centre * cin + i) * cout + i]!;
        const db = new Float64Array(cout); // Σ g·W/n
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cout; c++) db[c]! += (g[r * cout + c]! * w[r * cout + c]!) / n[c]!;
        const dw = new Float32Array(w.length);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cout; c++) {
            const i = r * cout + c;
            // d(W/n)/dW projects out the filter direction while the norm is above its floor
            const proj = norm[c]! > NORM_EPS ** 2 ? (w[i]! / n[c]!) * db[c]! : 0;
            dw[i] = (bv[c]! / n[c]!) * (g[i]! - proj);
          }
        }
        return [
          tf.tensor(dw, weight.shape),
          tf.tensor(da, a.shape),
          tf.tensor(Float32Array.from(db), b.shape),
        ];
      },
    };
  });
  return f(weight, a, b);
}

/** NCReLU (v1): `concat(relu(x), -relu(-x))` on the channel (last) axis. */
export function ncrelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.concat([tf.relu(x), tf.neg(tf.relu(tf.neg(x)))], -1));
}
