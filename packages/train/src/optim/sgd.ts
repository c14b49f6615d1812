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
