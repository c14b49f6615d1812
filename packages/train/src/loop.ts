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
  /** Set when the guard refused the step: nothing was updated, running statistics included. */
  skipped?: SkippedStep;
}

/** Why a step was refused: its gradient norm, the median it was judged against, and its largest gradient. */
export interface SkippedStep extends GuardVerdict {
  largest: { name: string; norm: number };
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
   * With a {@link guard}, a step it refuses updates nothing and comes back with `skipped` set.
   */
  step(batch: Batch, lr: number): StepResult {
    const [h, w, c] = this.spec.inputShape;
    const stats = new Map<string, BatchStats>();
    const x = tf.tensor4d(batch.x, [batch.n, h, w, c]);
    const y = tf.tensor1d(batch.y, 'int32');
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
      if (!Number.isFinite(loss)) {
        tf.dispose([value, ...Object.values(grads)]);
        throw new TrainingDivergedError(
          `the loss became ${loss} (learning rate ${lr}); stopping with the last good checkpoint kept — lower --lr`,
        );
      }
      // tf.variableGrads keys gradients by the engine's variable names, not ours.
      const byName = Object.fromEntries(Object.entries(this.trainable).map(([n, v]) => [n, grads[v.name]!]));
      const judged = this.judge(byName);
      if (!judged?.skipped) {
        this.optimizer.step(this.trainable, byName, lr);
        this.updateRunningStats(stats);
      }
      tf.dispose([value, ...Object.values(grads)]);
      return { loss, correct: correct!.dataSync()[0]!, n: batch.n, ...judged };
    } finally {
      for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
      tf.dispose([x, y, correct as tf.Tensor]);
    }
  }

  private judge(
    grads: Record<string, tf.Tensor>,
  ): Pick<StepResult, 'gradNorm' | 'gradRatio' | 'skipped'> | undefined {
    if (!this.guard) return undefined;
    const norms = gradientNorms(grads);
    const verdict = this.guard.check(globalNorm(norms));
    if (verdict.accept)
      return {
        gradNorm: verdict.norm,
        ...(verdict.median ? { gradRatio: verdict.norm / verdict.median } : {}),
      };
    let largest = { name: '', norm: -1 };
    for (const [name, norm] of Object.entries(norms)) {
      if (Number.isNaN(norm))
        return { gradNorm: verdict.norm, skipped: { ...verdict, largest: { name, norm } } };
      if (norm > largest.norm) largest = { name, norm };
    }
    return { gradNorm: verdict.norm, skipped: { ...verdict, largest } };
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
