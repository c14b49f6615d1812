import * as tf from '@tensorflow/tfjs-core';
// Gradient functions are registered only by this deep ESM import of tfjs-core (absent from the Node bundle
// that '@tensorflow/tfjs-core' resolves to); tsup inlines it. It must stay in a module that is used, since
// this package declares no side effects.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  type BatchStats,
  DiracError,
  forward,
  type ModelSpec,
  type TensorMap,
  updateRunningStats,
} from '@dirac/core';
import type { Batch } from './evaluate';
import { crossEntropy } from './loss';
import { Sgd, type SgdOptions } from './optim/sgd';
import { type GuardVerdict, globalNorm, gradientNorms, type StepGuard } from './optim/step-guard';

/** The loss became NaN or infinite: the run stops and the last good checkpoint is kept. */
export class TrainingDivergedError extends DiracError {
  constructor(message: string) {
    super('E_DIVERGED', message);
  }
}

/** Result of one optimization step. */
export interface StepResult {
  loss: number;
  correct: number;
  n: number;
  /** Global gradient norm (measured only with a guard). */
  gradNorm?: number;
  /** The gradient norm over the guard's median, once it has one. */
  gradRatio?: number;
  /** Set when the guard refused the step (twice): nothing was updated, running statistics included. */
  skipped?: SkippedStep;
  /**
   * Set when the guard refused the step's first gradient and it was computed again: `accepted` when the
   * second one passed (the first was a transient fault) and the step went ahead with it.
   */
  recomputed?: { first: SkippedStep; norm: number; accepted: boolean; norms?: Record<string, number> };
}

/** Why a step was refused: its gradient norm, the median it was judged against, and its largest gradients. */
export interface SkippedStep extends GuardVerdict {
  /** The three parameters with the largest gradient norms (a NaN first), largest first. */
  largest: { name: string; norm: number }[];
  /** Every parameter's gradient norm, to tell where a faulty gradient came from. */
  norms: Record<string, number>;
}

/** One forward and backward pass of a step, not yet applied. */
interface Attempt {
  loss: number;
  correct: number;
  grads: Record<string, tf.Tensor>;
  stats: Map<string, BatchStats>;
  dispose(): void;
}

const BUFFER_ROLES = new Set(['mean', 'var']);

/**
 * Holds a training-form model as tf variables and runs SGD steps on it: forward in train mode (batch
 * statistics), backward, update, then the running statistics.
 */
export class TrainableModel {
  readonly variables: Record<string, tf.Variable> = {};
  readonly trainable: Record<string, tf.Variable> = {};
  readonly optimizer: Sgd;
  /** When set, steps whose gradient it refuses are skipped (see {@link StepGuard}). */
  guard?: StepGuard;
  private readonly bnMomentum = new Map<string, number>();

  constructor(
    readonly spec: ModelSpec,
    tensors: TensorMap,
    sgd: SgdOptions,
    private readonly labelSmoothing = 0,
  ) {
    for (const [name, t] of Object.entries(tensors)) {
      const isBuffer = BUFFER_ROLES.has(name.slice(name.lastIndexOf('.') + 1));
      const v = tf.variable(t, !isBuffer);
      this.variables[name] = v;
      if (!isBuffer) this.trainable[name] = v;
    }
    this.optimizer = new Sgd(sgd);
    const stack = [...spec.layers];
    while (stack.length) {
      const l = stack.pop()!;
      if (l.type === 'batchnorm') this.bnMomentum.set(l.name, l.momentum);
      if (l.type === 'residual') stack.push(...l.body, ...l.shortcut);
    }
  }

  /** The model's tensors (variables), usable wherever a TensorMap is. */
  get tensors(): TensorMap {
    return this.variables;
  }

  /**
   * One SGD step on a batch; throws {@link TrainingDivergedError} (without updating) on a non-finite loss.
   * With a {@link guard}, a gradient it refuses (or a non-finite loss) is computed once more from the same
   * weights and batch: the computation is deterministic, so a second result that passes means the first was
   * a transient fault, and the step goes ahead with it (`recomputed` tells); a second refusal skips the step
   * (`skipped`), updating nothing.
   */
  step(batch: Batch, lr: number): StepResult {
    const [h, w, c] = this.spec.inputShape;
    const x = tf.tensor4d(batch.x, [batch.n, h, w, c]);
    const y = tf.tensor1d(batch.y, 'int32');
    let attempt: Attempt | undefined;
    try {
      attempt = this.attempt(x, y);
      let judged = this.judge(attempt);
      let recomputed: StepResult['recomputed'];
      if (judged?.skipped) {
        const first = judged.skipped;
        attempt.dispose();
        attempt = this.attempt(x, y);
        judged = this.judge(attempt);
        recomputed = {
          first,
          norm: judged?.gradNorm ?? Number.NaN,
          accepted: !judged?.skipped,
          ...(judged ? { norms: judged.norms } : {}),
        };
      }
      if (!Number.isFinite(attempt.loss))
        throw new TrainingDivergedError(
          `the loss became ${attempt.loss} (learning rate ${lr}); stopping with the last good checkpoint kept — lower --lr`,
        );
      if (!judged?.skipped) {
        this.optimizer.step(this.trainable, attempt.grads, lr);
        this.updateRunningStats(attempt.stats);
      }
      const { norms: _, ...verdict } = judged ?? {};
      return {
        loss: attempt.loss,
        correct: attempt.correct,
        n: batch.n,
        ...verdict,
        ...(recomputed ? { recomputed } : {}),
      };
    } finally {
      attempt?.dispose();
      tf.dispose([x, y]);
    }
  }

  /** Forward and backward on a batch: the loss, hits, gradients by our names and the batch statistics. */
  private attempt(x: tf.Tensor4D, y: tf.Tensor1D): Attempt {
    const stats = new Map<string, BatchStats>();
    let correct: tf.Tensor | undefined;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(this.spec, this.variables, x, {
          mode: 'train',
          onBatchStats: (name, s) => stats.set(name, s),
        });
        correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32')));
        return crossEntropy(logits, y, this.labelSmoothing);
      }, Object.values(this.trainable));
      const loss = value.dataSync()[0]!;
      const hits = correct!.dataSync()[0]!;
      value.dispose();
      // tf.variableGrads keys gradients by the engine's variable names, not ours.
      const byName = Object.fromEntries(Object.entries(this.trainable).map(([n, v]) => [n, grads[v.name]!]));
      return {
        loss,
        correct: hits,
        grads: byName,
        stats,
        dispose: () => {
          tf.dispose(Object.values(byName));
          for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
        },
      };
    } catch (e) {
      for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
      throw e;
    } finally {
      tf.dispose(correct as tf.Tensor);
    }
  }

  /** The guard's verdict on an attempt (a non-finite loss is refused like a non-finite gradient). */
  private judge(
    a: Attempt,
  ):
    | (Pick<StepResult, 'gradNorm' | 'gradRatio' | 'skipped'> & { norms: Record<string, number> })
    | undefined {
    if (!this.guard) return undefined;
    const norms = gradientNorms(a.grads);
    const verdict = this.guard.check(Number.isFinite(a.loss) ? globalNorm(norms) : Number.NaN);
    if (verdict.accept)
      return {
        gradNorm: verdict.norm,
        norms,
        ...(verdict.median ? { gradRatio: verdict.norm / verdict.median } : {}),
      };
    const largest = Object.entries(norms)
      .map(([name, norm]) => ({ name, norm }))
      .sort((p, q) => (Number.isNaN(q.norm) ? 1 : 0) - (Number.isNaN(p.norm) ? 1 : 0) || q.norm - p.norm)
      .slice(0, 3);
    return { gradNorm: verdict.norm, norms, skipped: { ...verdict, largest, norms } };
  }

  private updateRunningStats(stats: Map<string, BatchStats>): void {
    for (const [name, s] of stats) {
      const mean = this.variables[`${name}.mean`]!;
      const variance = this.variables[`${name}.var`]!;
      const next = updateRunningStats({ mean, variance }, s, this.bnMomentum.get(name) ?? 0.1);
      mean.assign(next.mean);
      variance.assign(next.variance);
      tf.dispose([next.mean, next.variance]);
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
    this.optimizer.dispose();
  }
}
