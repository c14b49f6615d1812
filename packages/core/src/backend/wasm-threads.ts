/**
 * Multithreaded tfjs wasm backend in Node.js.
 *
 * tfjs-backend-wasm 4.x never uses threads in Node: its `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired
 * to false there, its pthread workers would start from `blob:` URLs (which Node's worker_threads reject),
 * the worker would then `importScripts` the Emscripten glue from another Blob, and the XNNPACK pool is
 * capped at half of `os.cpus().length` (1 on a 2-core machine). {@link prepareWasmThreads} fixes all of
 * that for the one backend initialisation that follows it, by wrapping the registered 'wasm' backend
 * factory:
 *
 * - the flag is set to true, so tfjs loads `tfjs-backend-wasm-threaded-simd.wasm` and its glue;
 * - the global `Worker` the glue instantiates is replaced, during initialisation only, by a subclass of
 *   Node's `Worker` that ignores the blob URL and starts an inline (`eval`) bootstrap which runs the
 *   package's own pthread worker script (`wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`); the
 *   subclass rewrites the worker's 'load' message to point at the glue file on disk instead of a Blob;
 * - `os.cpus()` reports 2·threads entries while the module starts, so the pool gets `threads` threads
 *   (`setThreadsCount` is honoured up to that cap);
 * - pthread workers are never `ref()`ed: they do not keep the process alive, so a CLI exits by itself
 *   when its work is done (all computation is synchronous on the main thread, so nothing is lost);
 * - the spare Emscripten pool workers the pool did not take (it pre-spawns 8) are terminated.
 *
 * If anything fails (no SharedArrayBuffer / shared wasm memory, files missing, a worker error, a 60 s
 * timeout), the factory falls back to the ordinary single-threaded SIMD module and
 * {@link wasmThreadsInfo} says why.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setKernelHelperThreads } from '../kernels/wasm-helpers';
import { ownLocation } from '../own-location';

/** What {@link prepareWasmThreads} arranged (or why not). */
export interface WasmThreadsResult {
  /** threads the wasm backend will use once it initialises (1: single-threaded) */
  threads: number;
  reason: string;
}

const BACKEND = 'wasm';
/** tfjs-backend-wasm caps its XNNPACK pool at 8 threads (it pre-spawns 8 Emscripten workers). */
const MAX_THREADS = 8;
const INIT_TIMEOUT_MS = 60_000;
const WASM_PKG = '@tensorflow/tfjs-backend-wasm';

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

type Factory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

interface Plan {
  threads: number;
  reason: string;
}

let plan: Plan = { threads: 1, reason: 'prepareWasmThreads() was not called' };
let wrappedFactory: Factory | undefined;
let outcome: WasmThreadsResult | undefined;

interface EmscriptenPThread {
  unusedWorkers: { terminate(): unknown }[];
}

interface WasmBackendLike {
  wasm?: { tfjs?: { getThreadsCount?: () => number }; PThread?: EmscriptenPThread };
}

function wasmBackendInstance(): WasmBackendLike | undefined {
  // tf.findBackend() would start initialising the backend; the registry only holds initialised ones.
  return tf.engine().registry[BACKEND] as unknown as WasmBackendLike | undefined;
}

/**
 * Number of threads the initialised wasm backend's XNNPACK pool uses (1 = single-threaded), or 0 when the
 * wasm backend has not been initialised yet.
 */
export function wasmThreadsCount(): number {
  const n = wasmBackendInstance()?.wasm?.tfjs?.getThreadsCount?.();
  return typeof n === 'number' && n > 0 ? n : 0;
}

/** The thread count in use (see {@link wasmThreadsCount}) and why, including any fallback at init time. */
export function wasmThreadsInfo(): WasmThreadsResult {
  const threads = wasmThreadsCount();
  if (threads === 0)
    return { threads: 0, reason: `wasm backend not initialised yet; planned: ${plan.reason}` };
  return { threads, reason: outcome?.reason ?? plan.reason };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

function sharedWasmMemoryWorks(): boolean {
  try {
    if (typeof SharedArrayBuffer === 'undefined') return false;
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return mem.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** Code of every pthread worker: run the package's worker script with Node's `require` in scope. */
const WORKER_BOOT = `
const { workerData } = require('node:worker_threads');
new Function('require', '__filename', workerData.source)(require, workerData.gluePath);
`;

interface NodeSetup {
  os: typeof import('node:os');
  Worker: typeof import('node:worker_threads').Worker;
  gluePath: string;
  workerSource: string;
  setThreadsCount: (n: number) => void;
}

/**
 * Imports a Node built-in by a computed name, so that browser bundlers (which would try to resolve a literal
 * `import('node:os')`) leave it alone; this code only runs in Node.
 */
function nodeBuiltin<T>(name: string): Promise<T> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name) as Promise<T>;
}

/** Loads the Node modules and locates the threaded glue and worker script next to tfjs-backend-wasm. */
async function nodeSetup(): Promise<NodeSetup> {
  const [os, wt, mod, wasm] = await Promise.all([
    nodeBuiltin<typeof import('node:os')>('node:os'),
    nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads'),
    nodeBuiltin<typeof import('node:module')>('node:module'),
    import('@tensorflow/tfjs-backend-wasm'),
  ]);
  const req = mod.createRequire(ownLocation() ?? `${process.cwd()}/index.js`);
  const gluePath = req.resolve(`${WASM_PKG}/wasm-out/tfjs-backend-wasm-threaded-simd.js`);
  const workerJs = req(`${WASM_PKG}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`) as {
    wasmWorkerContents?: unknown;
  };
  if (typeof workerJs.wasmWorkerContents !== 'string') throw new Error('pthread worker script not found');
  // The script is stored in a template literal, which turned its "\n" escapes into real newlines.
  const workerSource = workerJs.wasmWorkerContents.replace(/\n/g, '\\n');
  const osModule = (os as unknown as { default?: typeof import('node:os') }).default ?? os;
  return { os: osModule, Worker: wt.Worker, gluePath, workerSource, setThreadsCount: wasm.setThreadsCount };
}

/** Runs `init` with the globals the threaded glue needs in Node, restoring them afterwards. */
async function withThreadedGlue(
  setup: NodeSetup,
  threads: number,
  init: () => Promise<tf.KernelBackend>,
): Promise<tf.KernelBackend> {
  const { os, gluePath, workerSource } = setup;
  const spawned: { terminate(): Promise<number> }[] = [];
  let failInit: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    failInit = reject;
  });
  let initialising = true;

  class PThreadWorker extends setup.Worker {
    constructor(url?: unknown) {
      if (typeof url === 'string' && url.startsWith('blob:')) URL.revokeObjectURL(url);
      super(WORKER_BOOT, { eval: true, workerData: { source: workerSource, gluePath } });
      spawned.push(this);
      // The glue rethrows worker errors (an uncaught exception); during start-up, fall back instead.
      const on = this.on.bind(this);
      this.on = ((event: string | symbol, listener: (...args: unknown[]) => void) => {
        if (event !== 'error') return on(event, listener);
        return on('error', (...args: unknown[]) => {
          if (initialising) failInit(args[0]);
          else listener(...args);
        });
      }) as typeof this.on;
    }
    override postMessage(
      message: unknown,
      transfer?: readonly import('node:worker_threads').TransferListItem[],
    ) {
      const m = message as { cmd?: string; urlOrBlob?: unknown } | null;
      // The glue sends itself as a Blob; the worker can only importScripts() a file path.
      if (m && m.cmd === 'load') message = { ...m, urlOrBlob: gluePath };
      super.postMessage(message, transfer);
    }
    // Never keep the process alive for a pthread: the main thread does (and waits for) all the work.
    override ref(): void {}
  }

  const workerDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    get: () => PThreadWorker,
    set: () => {}, // the glue assigns Node's Worker here; keep ours
  });
  const cpus = os.cpus;
  os.cpus = () => {
    const real = cpus.call(os);
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]!);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${INIT_TIMEOUT_MS / 1000} s`)),
      INIT_TIMEOUT_MS,
    );
  });
  try {
    const backend = await Promise.race([init(), failed, timeout]);
    const pthread = (backend as unknown as WasmBackendLike).wasm?.PThread;
    if (pthread) {
      // The pool took its threads at start-up; the spare pre-spawned workers only cost memory.
      for (const w of pthread.unusedWorkers) w.terminate();
      pthread.unusedWorkers = [];
    }
    return backend;
  } catch (e) {
    for (const w of spawned) void w.terminate();
    throw e;
  } finally {
    initialising = false;
    clearTimeout(timer);
    os.cpus = cpus;
    delete (globalThis as { Worker?: unknown }).Worker;
    if (workerDescriptor) Object.defineProperty(globalThis, 'Worker', workerDescriptor);
  }
}

function makeFactory(original: Factory, setup: NodeSetup): Factory {
  return async () => {
    const threads = plan.threads;
    if (threads <= 1) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      outcome = { threads: 1, reason: plan.reason };
      return original();
    }
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setup.setThreadsCount(threads);
    try {
      const backend = await withThreadedGlue(setup, threads, async () => original());
      outcome = { threads, reason: plan.reason };
      setKernelHelperThreads(setup.Worker, threads - 1);
      return backend;
    } catch (e) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      setup.setThreadsCount(1);
      outcome = { threads: 1, reason: `threaded wasm failed to start (${errorText(e)}); using 1 thread` };
      return original();
    }
  };
}

/**
 * Makes the next initialisation of the tfjs 'wasm' backend use `threads` worker threads in Node.js
 * (default: every core, at most 8). Call it BEFORE `tf.setBackend('wasm')` (or anything else that
 * initialises the backend, `tf.findBackend('wasm')` included); calling it again before then changes the
 * count. Pthread workers are unref'ed, so they never keep the process alive.
 *
 * Resolves to the planned thread count and a reason; {@link wasmThreadsCount} reports what the backend
 * actually uses once initialised (the threaded start-up falls back to 1 thread on failure).
 */
export async function prepareWasmThreads(threads?: number): Promise<WasmThreadsResult> {
  if (!isNode) {
    return { threads: 1, reason: 'not Node.js: tfjs-backend-wasm manages its own threads in browsers' };
  }
  // A backend initialisation already under way (tf.findBackend('wasm') starts one) cannot be changed:
  // let it finish so that the answer below is the truth.
  const pending = (tf.engine() as unknown as { pendingBackendInit?: Promise<unknown> | null })
    .pendingBackendInit;
  if (pending) await pending.catch(() => undefined);
  if (wasmBackendInstance()) {
    const n = wasmThreadsCount();
    return { threads: n, reason: 'the wasm backend is already initialised; its thread count is fixed' };
  }
  let setup: NodeSetup;
  try {
    setup = await nodeSetup();
  } catch (e) {
    plan = { threads: 1, reason: `threaded wasm files not found (${errorText(e)})` };
    return { ...plan };
  }
  const cores =
    typeof setup.os.availableParallelism === 'function'
      ? setup.os.availableParallelism()
      : setup.os.cpus().length;
  const wanted = Math.floor(threads ?? cores);
  if (!(wanted > 1)) {
    plan = {
      threads: 1,
      reason: `${threads == null ? 'one core' : '1 thread requested'}: single-threaded wasm`,
    };
  } else if (!sharedWasmMemoryWorks()) {
    plan = { threads: 1, reason: 'this Node.js has no SharedArrayBuffer-backed wasm memory' };
  } else if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    plan = { threads: 1, reason: 'no WebAssembly SIMD (tfjs only ships a threaded SIMD binary)' };
  } else {
    const n = Math.min(wanted, MAX_THREADS);
    plan = {
      threads: n,
      reason:
        `${n} threads (${cores} logical cores${wanted > MAX_THREADS ? `, tfjs caps the pool at ${MAX_THREADS}` : ''}); ` +
        'worker threads are unref-ed, so the process exits by itself',
    };
  }
  const engine = tf.engine();
  const entry = engine.registryFactory[BACKEND];
  if (!entry) {
    plan = { threads: 1, reason: 'the wasm backend is not registered' };
    return { ...plan };
  }
  if (entry.factory !== wrappedFactory) {
    const wrapped = makeFactory(entry.factory, setup);
    tf.removeBackend(BACKEND);
    tf.registerBackend(BACKEND, wrapped, entry.priority);
    wrappedFactory = wrapped;
  }
  return { ...plan };
}
