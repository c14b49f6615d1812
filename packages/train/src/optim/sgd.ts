import { wasmHeapViews } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';

/** Options of {@link Sgd}. */
export interface SgdOptions {
  momentum: number;
  nesterov?: boolean;
  /** L2 weight decay, applied only to parameters {@link decays} selects. */
  weightDecay: number;
}

/**
 * Upstream's rule: weight decay only on parameters with two or more dimensions (conv and FC weights);
 * Dirac a and b, batch-norm γ and β and biases are excluded.
 */
export function decays(param: tf.Tensor): boolean {
  return param.rank >= 2;
}

/**
 * SGD with momentum exactly as torch.optim.SGD: `g ← g + wd·w`; `buf ← m·buf + g` (`buf = g` on the first
 * step); `w ← w − lr·(nesterov ? g + m·buf : buf)`. Momentum buffers persist across learning-rate changes
 * (upstream rebuilt its optimizer at each LR step, which reset them; we keep them, as PyTorch's LR
 * schedulers do, and save them in checkpoints so resume is exact).
 */
export class Sgd {
  readonly buffers = new Map<string, tf.Variable>();
  constructor(readonly options: SgdOptions) {}

  /** Applies one update to `params` given `grads` (same names); disposes nothing it does not own. */
  step(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    for (const [name, w] of Object.entries(params)) {
      const g0 = grads[name];
      if (!g0) continue;
      if (this.stepInPlace(name, w, g0, lr)) continue;
      tf.tidy(() => {
        const g = weightDecay > 0 && decays(w) ? tf.add(g0, tf.mul(w, weightDecay)) : g0;
        let update = g;
        if (momentum > 0) {
          const buf = this.buffers.get(name);
          if (buf) buf.assign(tf.add(tf.mul(buf, momentum), g));
          else this.buffers.set(name, tf.variable(tf.clone(g), false));
          const b = this.buffers.get(name)!;
          update = nesterov ? tf.add(g, tf.mul(b, momentum)) : b;
        }
        w.assign(tf.sub(w, tf.mul(update, lr)));
      });
    }
  }

  /**
   * The same update as {@link step}, as one JavaScript pass over the wasm heap; false when not possible.
   * The new weights go to a new tensor (assigned to the variable) rather than over the old data: the wasm
   * backend caches convolution operators, with their packed filters, by the filter's data id, so writing a
   * filter in place would leave convolutions running on stale weights.
   */
  private stepInPlace(name: string, w: tf.Variable, g: tf.Tensor, lr: number): boolean {
    const { momentum, nesterov, weightDecay } = this.options;
    if (!wasmHeapViews([w, g], [])) return false;
    let buf = this.buffers.get(name);
    const first = !buf;
    if (momentum > 0 && !buf) {
      const zeros = tf.zeros(w.shape);
      buf = tf.variable(zeros, false);
      zeros.dispose();
      this.buffers.set(name, buf);
    }
    const next = tf.zeros(w.shape);
    const views = wasmHeapViews(buf ? [w, g, next, buf] : [w, g, next], buf ? [next, buf] : [next]);
    if (!views) {
      next.dispose();
      return false;
    }
    const [W, G, N, B] = views as [Float32Array, Float32Array, Float32Array, Float32Array | undefined];
    const wd = weightDecay > 0 && decays(w) ? weightDecay : 0;
    for (let i = 0; i < W.length; i++) {
      const d = G[i]! + wd * W[i]!;
      let u = d;
      if (B) {
        const b = first ? d : momentum * B[i]! + d;
        B[i] = b;
        u = nesterov ? d + momentum * b : b;
      }
      N[i] = W[i]! - lr * u;
    }
    w.assign(next);
    next.dispose();
    return true;
  }

  /** Momentum buffers for a checkpoint. */
  state(): Record<string, tf.Tensor> {
    return Object.fromEntries(this.buffers);
  }

  /** Restores momentum buffers from a checkpoint (takes ownership of the tensors). */
  load(state: Record<string, tf.Tensor>): void {
    this.dispose();
    for (const [name, t] of Object.entries(state)) {
      this.buffers.set(name, tf.variable(t, false));
      t.dispose();
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
