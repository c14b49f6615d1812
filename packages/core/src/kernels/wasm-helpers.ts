/**
 * Helper threads for our SIMD kernels in Node: each runs one export of a kernel module on tfjs-backend-wasm's
 * shared heap (its threaded build) while the main thread runs its own share of the same work, then both
 * meet at a barrier. Jobs go through a small shared control block with Atomics (no messages, no copies),
 * so a job costs microseconds. Browsers, the single-threaded backend, and Node before the threaded backend
 * started get no helpers: every kernel then simply runs on the calling thread.
 */
import {
  batchnormWasmShared,
  conv2dWasmShared,
  convFilterGradWasmShared,
  winogradWasmShared,
} from './simd/wasm-binaries.generated';

type WorkerCtor = typeof import('node:worker_threads').Worker;

/** Kernel modules a helper can run, by name (shared-memory builds). */
const MODULES: Record<string, string> = {
  batchnorm: batchnormWasmShared,
  convFilterGrad: convFilterGradWasmShared,
  conv2d: conv2dWasmShared,
  winograd: winogradWasmShared,
};

// Control block (Int32Array): job sequence, done sequence, ready flag, status, module, export, argc, args.
const JOB = 0;
const DONE = 1;
const READY = 2;
const STATUS = 3;
const MODULE = 4;
const EXPORT = 5;
const ARGC = 6;
const ARGS = 8;
const MAX_ARGS = 24;
const WAIT_MS = 120_000;

const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, modules, ctrl } = workerData;
const c = new Int32Array(ctrl);
const instances = modules.map(({ bytes, names }) => {
  const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  return names.map((n) => e[n]);
});
Atomics.store(c, ${READY}, 1);
let seen = 0;
for (;;) {
  // Atomics.wait can return without a new job (V8 wakes waiters for interrupts, e.g. when the shared heap
  // grows): without this loop the helper ran its last job again, over memory the caller had moved on from.
  while (Atomics.load(c, ${JOB}) === seen) Atomics.wait(c, ${JOB}, seen);
  seen = Atomics.load(c, ${JOB});
  try {
    const args = Array.from(c.subarray(${ARGS}, ${ARGS} + c[${ARGC}]));
    instances[c[${MODULE}]][c[${EXPORT}]](...args);
    c[${STATUS}] = 0;
  } catch (e) {
    c[${STATUS}] = 1;
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
`;

/** Bytes of a base64 string (the kernel binaries are embedded as base64). */
export function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let setup: { Worker: WorkerCtor; count: number } | undefined;

/**
 * Called when the threaded wasm backend starts in Node: kernels may use `count` helper threads (the
 * backend's thread count minus the calling thread).
 */
export function setKernelHelperThreads(Worker: WorkerCtor, count: number): void {
  setup = count > 0 ? { Worker, count } : undefined;
}

interface ModuleTable {
  names: string[][];
  index: Map<string, number>;
}

function moduleTable(): { table: ModuleTable; modules: { bytes: Uint8Array; names: string[] }[] } {
  const modules = Object.entries(MODULES).map(([, b64]) => {
    const bytes = decodeBase64(b64);
    const names = WebAssembly.Module.exports(new WebAssembly.Module(bytes as BufferSource)).map(
      (e) => e.name,
    );
    return { bytes, names };
  });
  const index = new Map(Object.keys(MODULES).map((name, i) => [name, i]));
  return { table: { names: modules.map((m) => m.names), index }, modules };
}

/** One helper thread and its control block. */
class Helper {
  private readonly ctrl: Int32Array;
  private seq = 0;

  constructor(
    Worker: WorkerCtor,
    memory: WebAssembly.Memory,
    modules: { bytes: Uint8Array; names: string[] }[],
  ) {
    const sab = new SharedArrayBuffer((ARGS + MAX_ARGS) * 4);
    this.ctrl = new Int32Array(sab);
    const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { memory, modules, ctrl: sab } });
    worker.unref(); // never keep the process alive: the main thread waits for every job it starts
    worker.on('error', () => {
      this.ctrl[READY] = 0;
    });
  }

  get ready(): boolean {
    return Atomics.load(this.ctrl, READY) === 1;
  }

  start(module: number, exportIndex: number, args: number[]): void {
    if (args.length > MAX_ARGS) throw new Error(`at most ${MAX_ARGS} kernel arguments`);
    const c = this.ctrl;
    c[MODULE] = module;
    c[EXPORT] = exportIndex;
    c[ARGC] = args.length;
    for (let i = 0; i < args.length; i++) c[ARGS + i] = args[i]!;
    this.seq++;
    Atomics.store(c, JOB, this.seq);
    Atomics.notify(c, JOB);
  }

  /**
   * A wake-up with no new job, as a late notify (the caller preempted between publishing a job and
   * notifying, while the helper already ran it) or an interrupt delivers one: a helper must not run its last
   * job again. For tests.
   */
  wakeWithoutJob(): void {
    Atomics.notify(this.ctrl, JOB);
  }

  wait(): void {
    const c = this.ctrl;
    const deadline = Date.now() + WAIT_MS;
    while (Atomics.load(c, DONE) !== this.seq) {
      Atomics.wait(c, DONE, Atomics.load(c, DONE), 50);
      if (Date.now() > deadline) throw new Error('a kernel helper thread stopped responding');
    }
    if (c[STATUS] !== 0) throw new Error('a kernel failed on a helper thread');
  }
}

/** The helper threads for one heap. */
export class HelperPool {
  private readonly helpers: Helper[];
  private readonly table: ModuleTable;
  /** Jobs finished on helper threads so far. */
  jobsDone = 0;

  constructor(Worker: WorkerCtor, memory: WebAssembly.Memory, count: number) {
    const { table, modules } = moduleTable();
    this.table = table;
    this.helpers = Array.from({ length: count }, () => new Helper(Worker, memory, modules));
  }

  /** Wakes every helper without giving it a job (see {@link Helper.wakeWithoutJob}). For tests. */
  wakeWithoutJob(): void {
    for (const h of this.helpers) h.wakeWithoutJob();
  }

  /** Helpers that have started (they boot asynchronously; until then the caller does all the work). */
  get available(): number {
    let n = 0;
    while (n < this.helpers.length && this.helpers[n]!.ready) n++;
    return n;
  }

  /**
   * Runs `jobs[i]` (an export of a kernel module with its arguments) on helper i while `own` runs here,
   * and returns after all of them finished.
   */
  run(module: string, exportName: string, jobs: number[][], own: () => void): void {
    const m = this.table.index.get(module);
    const e = m === undefined ? -1 : this.table.names[m]!.indexOf(exportName);
    if (m === undefined || e < 0) throw new Error(`unknown kernel ${module}.${exportName}`);
    if (jobs.length > this.available) throw new Error('more jobs than started helper threads');
    for (const [i, args] of jobs.entries()) this.helpers[i]!.start(m, e, args);
    try {
      own();
    } finally {
      for (let i = 0; i < jobs.length; i++) this.helpers[i]!.wait();
    }
    this.jobsDone += jobs.length;
  }
}

const pools = new WeakMap<WebAssembly.Memory, HelperPool>();

/** The helper pool of a shared heap, or undefined when kernels must run on the calling thread alone. */
export function helperPool(memory: WebAssembly.Memory): HelperPool | undefined {
  if (!setup || typeof SharedArrayBuffer === 'undefined' || !(memory.buffer instanceof SharedArrayBuffer)) {
    return undefined;
  }
  let pool = pools.get(memory);
  if (!pool) {
    pool = new HelperPool(setup.Worker, memory, setup.count);
    pools.set(memory, pool);
  }
  return pool;
}
