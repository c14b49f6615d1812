/**
 * Our own WebAssembly SIMD kernels running on tfjs-backend-wasm's heap.
 *
 * The kernels (kernels/simd/*.wat) import the backend's memory, so they read and write tensors in place:
 * no copy in or out of JavaScript. This file finds that memory, instantiates a kernel module against it
 * (the shared-memory build for the threaded backend, the plain one otherwise), and hands out tensor
 * offsets, new output tensors and a small scratch area for per-channel vectors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeBase64, type HelperPool, helperPool } from './wasm-helpers';

/** The parts of tfjs-backend-wasm's emscripten module and BackendWasm that are used here. */
interface EmscriptenModule {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  wasmMemory?: WebAssembly.Memory;
  asm?: { memory?: WebAssembly.Memory };
}
interface BackendWasmLike {
  wasm: EmscriptenModule;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** Which of our SIMD kernels are used, and how; the others fall back to tf ops. */
export interface WasmSimdKernelSwitches {
  /** Training-mode batch norm (+ ReLU), forward and backward. */
  batchNorm?: boolean;
  /** Within `batchNorm`: split each batch norm's pixels with the helper thread (Node). */
  batchNormThreads?: boolean;
  /** Filter gradient of stride-1 convolutions. */
  filterGrad?: boolean;
  /** Stride-1 Conv2D (forward, and the input gradient of stride-1 convolutions). */
  conv?: boolean;
  /**
   * Within `conv` and `filterGrad`: training's 3×3 padding-1 convolutions and both their gradients by
   * Winograd's F(4×4, 3×3) (36 instead of 144 products per 4×4 outputs; steps about 1.4x faster). Off by
   * default: its gradients differ from the direct kernels' by up to ~0.6% (relative, DiracNet-34-1) and a
   * run diverged after 7 epochs with it (most likely from the helper-thread re-run fixed since, not proven).
   */
  winograd?: boolean;
  /** The fused 3×3 convolution + bias + ReLU of folded models (inference, 8 or more images) by Winograd. */
  winogradInference?: boolean;
}

const switches: Required<WasmSimdKernelSwitches> = {
  batchNorm: true,
  batchNormThreads: true,
  filterGrad: true,
  conv: true,
  winograd: false,
  winogradInference: true,
};

/** Turns our SIMD kernels on or off (for benchmarks and tests); returns the previous settings. */
export function configureWasmSimdKernels(s: WasmSimdKernelSwitches): Required<WasmSimdKernelSwitches> {
  const before = { ...switches };
  Object.assign(switches, Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)));
  return before;
}

/** Whether the kernel family is switched on. */
export function wasmSimdKernelEnabled(kind: keyof WasmSimdKernelSwitches): boolean {
  return switches[kind];
}

function asWasmBackend(b: tf.KernelBackend): BackendWasmLike | undefined {
  const w = b as unknown as Partial<BackendWasmLike>;
  return w.wasm && typeof w.wasm._malloc === 'function' && w.dataIdMap && typeof w.makeOutput === 'function'
    ? (w as BackendWasmLike)
    : undefined;
}

/** A kernel module bound to one wasm backend's heap. */
export class HeapKernels<E> {
  readonly exports: E;
  private scratchPtr = 0;
  private scratchBytes = 0;

  constructor(
    private readonly backend: BackendWasmLike,
    private readonly memory: WebAssembly.Memory,
    binary: Uint8Array,
  ) {
    // Synchronous compile: the modules are a few hundred bytes, well under browsers' main-thread limit.
    const instance = new WebAssembly.Instance(new WebAssembly.Module(binary as BufferSource), {
      env: { memory },
    });
    this.exports = instance.exports as E;
  }

  /** Byte offset of a float32 tensor's data on the heap. */
  offset(t: tf.TensorInfo): number {
    const entry = this.backend.dataIdMap.get(t.dataId);
    if (!entry) throw new Error('tensor is not on the wasm backend');
    return entry.memoryOffset;
  }

  /** A new float32 tensor on the heap (owned by the caller) and its byte offset. */
  output(shape: number[]): { tensor: tf.Tensor; ptr: number } {
    const info = this.backend.makeOutput(shape, 'float32');
    return { tensor: tf.engine().makeTensorFromTensorInfo(info), ptr: this.offset(info) };
  }

  /** Helper threads that can run this heap's kernels too (Node, threaded backend), if any. */
  helpers(): HelperPool | undefined {
    return helperPool(this.memory);
  }

  /** Into how many parts a batch of `n` items is split: this thread plus the started helper threads. */
  batchParts(n: number): number {
    return Math.max(1, Math.min((this.helpers()?.available ?? 0) + 1, n));
  }

  /**
   * Runs export `fn` of kernel module `module` over batch items [0, n) in `parts` parts (see
   * {@link batchParts}): part 0 on this thread, the others on helper threads, all at once.
   * `args(n0, n1, part)` gives the arguments of the call for items [n0, n1).
   */
  runBatch(
    module: string,
    fn: keyof E & string,
    n: number,
    parts: number,
    args: (n0: number, n1: number, part: number) => number[],
  ): void {
    const call = (i: number) => args(Math.round((i * n) / parts), Math.round(((i + 1) * n) / parts), i);
    const own = () => (this.exports[fn] as (...a: number[]) => void)(...call(0));
    const pool = this.helpers();
    if (parts <= 1 || !pool) {
      own();
      return;
    }
    pool.run(
      module,
      fn,
      Array.from({ length: parts - 1 }, (_, i) => call(i + 1)),
      own,
    );
  }

  /** At least `bytes` of scratch memory (16-byte aligned), reused across calls. */
  scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratchPtr) this.backend.wasm._free(this.scratchPtr);
      this.scratchBytes = Math.max(bytes, 4096);
      this.scratchPtr = this.backend.wasm._malloc(this.scratchBytes + 16);
    }
    return (this.scratchPtr + 15) & ~15;
  }

  /** A view of the heap; take it after any allocation, which may grow (and so move) the heap. */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.memory.buffer, ptr, length);
  }
}

const bound = new WeakMap<object, Map<string, HeapKernels<unknown>>>();

function heapMemory(backend: BackendWasmLike): WebAssembly.Memory | undefined {
  const memory = backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/**
 * Whether our SIMD kernels can run on the active backend: it is tfjs-backend-wasm and its heap is reachable
 * (otherwise training falls back to tfjs ops, several times slower).
 */
export function wasmSimdKernelsAvailable(): boolean {
  const backend = asWasmBackend(tf.backend());
  return Boolean(backend && heapMemory(backend));
}

/**
 * The kernel module `name` bound to the active backend, or undefined when that backend is not
 * tfjs-backend-wasm (or its heap cannot be reached).
 */
export function heapKernels<E>(
  name: string,
  binaries: { shared: string; unshared: string },
): HeapKernels<E> | undefined {
  const backend = asWasmBackend(tf.backend());
  if (!backend) return undefined;
  let forBackend = bound.get(backend);
  if (!forBackend) {
    forBackend = new Map();
    bound.set(backend, forBackend);
  }
  let kernels = forBackend.get(name);
  if (!kernels) {
    const memory = heapMemory(backend);
    if (!memory) return undefined;
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    kernels = new HeapKernels<unknown>(
      backend,
      memory,
      decodeBase64(shared ? binaries.shared : binaries.unshared),
    );
    forBackend.set(name, kernels);
  }
  return kernels as HeapKernels<E>;
}
