import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors';
import { registerWasmConvGradKernels } from '../kernels/wasm-conv-grad';
import type { BackendInfo, BackendName } from '../types';
import { prepareWasmThreads, wasmThreadsCount } from './wasm-threads';

/** What to ask {@link useBackend} for: a backend by name, 'auto', or 'gpu' (any GPU backend, or fail). */
export type BackendRequest = 'auto' | 'gpu' | BackendName;

/** Options of {@link useBackend}. */
export interface UseBackendOptions {
  /** wasm worker threads in Node (default: every core). Fixed once the wasm backend has started. */
  threads?: number;
  /** Called with warnings (default: console.warn). */
  warn?: (message: string) => void;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Imports a module by a computed name so that bundlers leave optional peers alone. */
async function optionalImport(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
}

type Attempt = () => Promise<{ ok: true; info: Omit<BackendInfo, 'rejected'> } | { ok: false; why: string }>;

async function activate(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/** tfjs-node(-gpu): tfjs-node-gpu silently runs on the CPU when CUDA is missing, so ask the backend. */
function tensorflowAttempt(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Attempt {
  return async () => {
    try {
      await optionalImport(pkg);
    } catch (e) {
      return { ok: false, why: `${pkg} is not installed (${errorText(e)})` };
    }
    if (!(await activate('tensorflow'))) return { ok: false, why: `${pkg} failed to initialise` };
    const gpu = Boolean((tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
    const reason = gpu
      ? `${pkg}: TensorFlow found a CUDA GPU`
      : `${pkg}: TensorFlow runs on the CPU${pkg.endsWith('gpu') ? ' (no usable CUDA GPU: check CUDA 11.2 and cuDNN 8.1)' : ''}`;
    return { ok: true, info: { name: 'tensorflow', gpu, reason } };
  };
}

const wasmAttempt =
  (threads: number | undefined): Attempt =>
  async () => {
    let threadNote = '';
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      // Safe to call every time: once the backend has started it reports the threads it really has.
      if (isNode) threadNote = (await prepareWasmThreads(threads)).reason;
      registerWasmConvGradKernels();
    } catch (e) {
      return { ok: false, why: `wasm backend unavailable (${errorText(e)})` };
    }
    if (!(await activate('wasm'))) return { ok: false, why: 'wasm backend failed to initialise' };
    const n = wasmThreadsCount();
    return {
      ok: true,
      info: {
        name: 'wasm',
        gpu: false,
        threads: n,
        reason: `WebAssembly SIMD, ${n} thread(s)${threadNote ? `: ${threadNote}` : ''}`,
      },
    };
  };

const cpuAttempt: Attempt = async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await activate('cpu'))) return { ok: false, why: 'cpu backend failed to initialise' };
  return { ok: true, info: { name: 'cpu', gpu: false, reason: 'pure JavaScript (slowest)' } };
};

function browserAttempt(name: 'webgpu' | 'webgl', pkg: string): Attempt {
  return async () => {
    try {
      if (!tf.findBackendFactory(name)) await optionalImport(pkg);
    } catch (e) {
      return { ok: false, why: `${pkg} is not installed (${errorText(e)})` };
    }
    if (!(await activate(name))) return { ok: false, why: `${name} is not available in this browser` };
    return { ok: true, info: { name, gpu: true, reason: `${name} on the GPU` } };
  };
}

function candidates(request: BackendRequest, threads: number | undefined): [string, Attempt][] {
  const node: [string, Attempt][] = [
    ['tensorflow', tensorflowAttempt('@tensorflow/tfjs-node-gpu')],
    ['tensorflow', tensorflowAttempt('@tensorflow/tfjs-node')],
    ['wasm', wasmAttempt(threads)],
    ['cpu', cpuAttempt],
  ];
  const browser: [string, Attempt][] = [
    ['webgpu', browserAttempt('webgpu', '@tensorflow/tfjs-backend-webgpu')],
    ['webgl', browserAttempt('webgl', '@tensorflow/tfjs-backend-webgl')],
    ['wasm', wasmAttempt(threads)],
    ['cpu', cpuAttempt],
  ];
  const all = isNode ? node : browser;
  if (request === 'auto') return all;
  if (request === 'gpu') return all.filter(([n]) => n !== 'wasm' && n !== 'cpu');
  return all.filter(([n]) => n === request);
}

/**
 * Selects and initialises the tensor engine, and says what it chose and why.
 *
 * 'auto' tries, in Node: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (optional peers), wasm (SIMD,
 * worker threads, fast conv gradients), cpu; in browsers: webgpu, webgl, wasm, cpu. 'gpu' accepts only a
 * backend that really runs on a GPU and throws {@link BackendError} otherwise (tfjs-node-gpu silently
 * falls back to the CPU when CUDA is missing: that is detected and refused). A named backend is used or
 * the call throws.
 */
export async function useBackend(
  request: BackendRequest = 'auto',
  options: UseBackendOptions = {},
): Promise<BackendInfo> {
  const warn = options.warn ?? ((m: string) => console.warn(`[dirac] ${m}`));
  const rejected: BackendInfo['rejected'] = [];
  const list = candidates(request, options.threads);
  if (list.length === 0)
    throw new BackendError(`backend '${request}' is not available ${isNode ? 'in Node' : 'in browsers'}`);
  for (const [name, attempt] of list) {
    const r = await attempt();
    if (!r.ok) {
      rejected.push({ name, why: r.why });
      continue;
    }
    if (request === 'gpu' && !r.info.gpu) {
      rejected.push({ name, why: r.info.reason });
      continue;
    }
    if (request === 'auto' && name === 'tensorflow' && !r.info.gpu && rejected.length === 0) {
      warn(`a GPU was asked for (@tensorflow/tfjs-node-gpu is installed) but not obtained: ${r.info.reason}`);
    }
    return { ...r.info, rejected };
  }
  const detail = rejected.map((x) => `${x.name}: ${x.why}`).join('; ');
  if (request === 'gpu') {
    throw new BackendError(
      `a GPU backend was required but none was obtained (${detail}). Refusing to fall back to the CPU.`,
    );
  }
  throw new BackendError(`no usable backend for '${request}' (${detail})`);
}
