import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from './errors';
import {
  wasmBatchNormApplies,
  wasmBatchNormBackward,
  wasmBatchNormForward,
  wasmBatchNormInference,
} from './kernels/wasm-batchnorm';

/** Batch-norm parameters and running statistics of one layer, each of shape [C]. */
export interface BatchNormParams {
  gamma: tf.Tensor;
  beta: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  eps: number;
}

/** Statistics of one training-mode batch: the mean and the biased variance over every axis but the last. */
export interface BatchStats {
  mean: tf.Tensor;
  variance: tf.Tensor;
  /** Elements per channel the statistics were computed over. */
  count: number;
}

/** `x·scale + shift` with `scale = γ/√(var+ε)`; written with plain ops because tf.batchNorm's gradient is slow. */
function affine(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
) {
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(mean, scale)));
}

/**
 * Inference-mode batch norm over the last (channel) axis using the running statistics, followed by a ReLU
 * when `opts.relu` (one SIMD pass on tfjs-backend-wasm; not differentiable there, like any inference path).
 */
export function batchNormInference(
  x: tf.Tensor,
  p: BatchNormParams,
  opts: BatchNormTrainingOptions = {},
): tf.Tensor {
  if (wasmBatchNormApplies(x) && !tapeRecording()) {
    const host = (t: tf.Tensor) => t.dataSync() as Float32Array;
    const y = wasmBatchNormInference(
      x,
      {
        gamma: host(p.gamma),
        beta: host(p.beta),
        mean: host(p.mean),
        variance: host(p.variance),
        eps: p.eps,
      },
      opts.relu ?? false,
    );
    if (y) return y;
  }
  return tf.tidy(() => {
    const y = affine(x, p.mean, p.variance, p.gamma, p.beta, p.eps);
    return opts.relu ? tf.relu(y) : y;
  });
}

/** Whether gradients are being recorded (a tape is active): kernels written outside tf ops must not run. */
function tapeRecording(): boolean {
  const engine = tf.engine() as unknown as { isTapeOn?: () => boolean };
  return typeof engine.isTapeOn === 'function' ? engine.isTapeOn() : true;
}

/** Options of {@link batchNormTraining}. */
export interface BatchNormTrainingOptions {
  /** Apply a ReLU to the output (fused into the same pass where the backend allows). */
  relu?: boolean;
}

/**
 * Training-mode batch norm: normalizes with the batch's own statistics (biased variance, as PyTorch) and
 * returns them so the caller can update the running statistics. On tfjs-backend-wasm it runs as SIMD
 * kernels on the backend's heap (two passes forward, two backward, ReLU fused); elsewhere it is written
 * with tf ops and a hand-written gradient (`dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))`), which takes
 * half the element-wise passes over the activations that differentiating the forward ops would.
 */
export function batchNormTraining(
  x: tf.Tensor,
  p: Pick<BatchNormParams, 'gamma' | 'beta' | 'eps'>,
  opts: BatchNormTrainingOptions = {},
): { y: tf.Tensor; stats: BatchStats } {
  const count = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  if (wasmBatchNormApplies(x)) {
    const { y, mean, variance } = simdBatchNorm(x, p, opts.relu ?? false);
    return { y, stats: { mean, variance, count } };
  }
  const { y, mean, variance } = opsBatchNorm(x, p);
  return { y: opts.relu ? tf.relu(y) : y, stats: { mean, variance, count } };
}

interface BatchNormResult {
  y: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
}

function simdBatchNorm(
  x: tf.Tensor,
  p: Pick<BatchNormParams, 'gamma' | 'beta' | 'eps'>,
  relu: boolean,
): BatchNormResult {
  let stats: { mean: tf.Tensor; variance: tf.Tensor } | undefined;
  const bn = tf.customGrad((input, gamma, beta, save) => {
    const xIn = input as tf.Tensor;
    const g = (gamma as tf.Tensor).dataSync() as Float32Array;
    const fwd = wasmBatchNormForward(xIn, g, (beta as tf.Tensor).dataSync() as Float32Array, p.eps, relu);
    if (!fwd) throw new Error('the SIMD batch norm no longer applies to this tensor');
    stats = { mean: tf.keep(tf.tensor1d(fwd.mean)), variance: tf.keep(tf.tensor1d(fwd.variance)) };
    (save as tf.GradSaveFunc)([xIn, fwd.y]);
    return {
      value: fwd.y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as [tf.Tensor, tf.Tensor];
        const r = wasmBatchNormBackward(dy, xs, ys, g, fwd, relu);
        if (!r) throw new Error('the SIMD batch-norm gradient does not apply to this tensor');
        return [
          r.dx,
          tf.tensor(r.dGamma, (gamma as tf.Tensor).shape),
          tf.tensor(r.dBeta, (beta as tf.Tensor).shape),
        ];
      },
    };
  });
  const y = bn(x, p.gamma, p.beta);
  return { y, ...stats! };
}

function opsBatchNorm(x: tf.Tensor, p: Pick<BatchNormParams, 'gamma' | 'beta' | 'eps'>): BatchNormResult {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const count = x.shape.slice(0, -1).reduce((a, d) => a * d, 1);
  let stats: { mean: tf.Tensor; variance: tf.Tensor } | undefined;
  const bn = tf.customGrad((input, gamma, beta, save) => {
    const xIn = input as tf.Tensor;
    const mean = tf.mean(xIn, axes);
    const centred = tf.sub(xIn, mean);
    const variance = tf.mean(tf.square(centred), axes);
    const invStd = tf.rsqrt(tf.add(variance, p.eps));
    const xhat = tf.mul(centred, invStd);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
    (save as tf.GradSaveFunc)([xhat, invStd, gamma as tf.Tensor]);
    return {
      value: tf.add(tf.mul(xhat, gamma as tf.Tensor), beta as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, inv, g] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.sum(tf.mul(dy, xh), axes);
        const centredDy = tf.sub(dy, tf.div(dBeta, count));
        const dx = tf.mul(tf.sub(centredDy, tf.mul(xh, tf.div(dGamma, count))), tf.mul(g, inv));
        return [dx, dGamma, dBeta];
      },
    };
  });
  const y = bn(x, p.gamma, p.beta);
  return { y, ...stats! };
}

/**
 * PyTorch's running-statistics update: `running = (1-m)·running + m·batch`, with the batch variance
 * made unbiased (×n/(n-1)) as PyTorch does. Returns new tensors; the caller disposes the old ones.
 */
export function updateRunningStats(
  running: { mean: tf.Tensor; variance: tf.Tensor },
  batch: BatchStats,
  momentum: number,
): { mean: tf.Tensor; variance: tf.Tensor } {
  return tf.tidy(() => {
    const unbias = batch.count > 1 ? batch.count / (batch.count - 1) : 1;
    const mean = tf.add(tf.mul(running.mean, 1 - momentum), tf.mul(batch.mean, momentum));
    const variance = tf.add(
      tf.mul(running.variance, 1 - momentum),
      tf.mul(batch.variance, momentum * unbias),
    );
    return { mean, variance };
  });
}

/**
 * Folds an inference-mode batch norm that follows a conv into the conv's weight and bias:
 * `W' = W·s`, `b' = β + (b − μ)·s` with `s = γ/√(var+ε)` per output channel (the last weight axis).
 */
export function foldBatchNorm(
  weight: tf.Tensor,
  bias: tf.Tensor | null,
  p: BatchNormParams,
): { weight: tf.Tensor; bias: tf.Tensor } {
  const cout = weight.shape[weight.rank - 1]!;
  for (const [name, t] of Object.entries({
    gamma: p.gamma,
    beta: p.beta,
    mean: p.mean,
    variance: p.variance,
  })) {
    if (t.size !== cout) {
      throw new ShapeError(
        `batch-norm '${name}' has ${t.size} elements but the conv has ${cout} output channels`,
      );
    }
  }
  return tf.tidy(() => {
    const s = tf.mul(tf.reshape(p.gamma, [cout]), tf.rsqrt(tf.add(tf.reshape(p.variance, [cout]), p.eps)));
    const b0 = bias ? tf.reshape(bias, [cout]) : tf.zeros([cout]);
    return {
      weight: tf.mul(weight, s),
      bias: tf.add(tf.reshape(p.beta, [cout]), tf.mul(tf.sub(b0, tf.reshape(p.mean, [cout])), s)),
    };
  });
}
