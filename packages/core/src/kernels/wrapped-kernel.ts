import * as tf from '@tensorflow/tfjs-core';

/**
 * One of our kernels registered in place of a stock tfjs-backend-wasm kernel, which it keeps (to call for
 * the cases it does not cover, and to put back).
 */
export class WrappedKernel {
  /** The stock kernel it replaced, once installed. */
  stock: tf.KernelConfig | undefined;

  constructor(
    readonly name: string,
    readonly kernelFunc: tf.KernelFunc,
  ) {}

  /** Makes ours the registered kernel; idempotent. `backend`: the wasm backend when it is already up. */
  install(backend?: tf.KernelBackend): void {
    const current = tf.getKernel(this.name, 'wasm');
    if (current?.kernelFunc === this.kernelFunc) return;
    if (current) {
      this.stock = current;
      // Stock kernels bind their wasm function in setupFunc; run it when the backend is already up.
      if (backend) current.setupFunc?.(backend);
      tf.unregisterKernel(this.name, 'wasm');
    }
    tf.registerKernel({
      kernelName: this.name,
      backendName: 'wasm',
      kernelFunc: this.kernelFunc,
      setupFunc: (b) => this.stock?.setupFunc?.(b),
    });
  }

  /** Puts the stock kernel back (benchmarks, tests). */
  uninstall(): void {
    if (tf.getKernel(this.name, 'wasm')?.kernelFunc !== this.kernelFunc) return;
    tf.unregisterKernel(this.name, 'wasm');
    if (this.stock) tf.registerKernel(this.stock);
  }
}
