import { wasmHeapViews } from '@dirac/core';
import * as tf from '@tensorflow/tfjs-core';

/** Options of {@link StepGuard}. */
export interface StepGuardOptions {
  /**
   * A step whose gradient norm exceeds `factor` times the median of the recent accepted steps' norms is
   * refused. 0 refuses only non-finite norms.
   */
  factor: number;
  /** Accepted norms the median is taken over (default 200). */
  window?: number;
  /** Steps accepted unconditionally (finite norms) before the median is trusted (default 20). */
  warmup?: number;
}

/** What the guard decided about one step. */
export interface GuardVerdict {
  accept: boolean;
  norm: number;
  /** Median of the recent accepted norms; undefined while warming up. */
  median?: number;
}

/** The guard's memory, for checkpoints: the recent accepted norms, oldest first. */
export interface StepGuardState {
  norms: number[];
}

/**
 * Refuses optimization steps whose gradient is far larger than recent ones. Normal training moves the
 * global gradient norm slowly (a few times over an epoch); a single gradient ten times the running median
 * is a fault (a corrupt batch, a numerical accident in a kernel) whose update would throw the weights far
 * off their basin, as happened to a DiracNet-34-1 run here (its parameters jumped to 1e4–1e5 in one epoch).
 * Skipping it costs one batch.
 */
export class StepGuard {
  private norms: number[] = [];
  private readonly window: number;
  private readonly warmup: number;

  constructor(
    readonly options: StepGuardOptions,
    state?: StepGuardState,
  ) {
    if (!(options.factor >= 0)) throw new RangeError(`guard factor must be >= 0; got ${options.factor}`);
    this.window = options.window ?? 200;
    this.warmup = options.warmup ?? 20;
    if (state) this.norms = state.norms.filter(Number.isFinite).slice(-this.window);
  }

  /** Judges a step's gradient norm; accepted norms join the window. */
  check(norm: number): GuardVerdict {
    if (!Number.isFinite(norm)) return { accept: false, norm, median: this.median() };
    const median = this.median();
    if (median !== undefined && this.options.factor > 0 && norm > this.options.factor * median)
      return { accept: false, norm, median };
    this.norms.push(norm);
    if (this.norms.length > this.window) this.norms.shift();
    return { accept: true, norm, median };
  }

  /** Median of the window, once it holds `warmup` norms. */
  median(): number | undefined {
    if (this.norms.length < this.warmup) return undefined;
    const sorted = [...this.norms].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }

  state(): StepGuardState {
    return { norms: [...this.norms] };
  }
}

/**
 * Euclidean norm of each gradient. On the wasm backend a JavaScript pass over the heap (cheaper than two
 * tfjs ops per tensor); elsewhere tfjs ops.
 */
export function gradientNorms(grads: Record<string, tf.Tensor>): Record<string, number> {
  const names = Object.keys(grads);
  const tensors = names.map((n) => grads[n]!);
  const views = wasmHeapViews(tensors, []);
  const squares = views
    ? views.map(sumOfSquares)
    : tf.tidy(() => tf.stack(tensors.map((g) => tf.sum(tf.square(g)))).dataSync());
  return Object.fromEntries(names.map((n, i) => [n, Math.sqrt(squares[i]!)]));
}

function sumOfSquares(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return s;
}

/** The global norm from per-tensor norms. */
export function globalNorm(norms: Record<string, number>): number {
  let s = 0;
  for (const n of Object.values(norms)) s += n * n;
  return Math.sqrt(s);
}
