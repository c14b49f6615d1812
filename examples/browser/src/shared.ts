/** What the page and the worker report (also read by the browser test through `window.__dirac`). */
export interface RunReport {
  status: 'done' | 'error';
  /** Where it ran: the page or a Web Worker. */
  where: 'page' | 'worker';
  /** The tfjs backend that ran the model. */
  backend?: string;
  /** Top-5 of each image, in order. */
  results?: { image: string; top: { label: string; index: number; probability: number }[] }[];
  /** load() time and average classify time, ms. */
  loadMs?: number;
  classifyMs?: number;
  error?: string;
  /** Page only: top-1 index of the first image read through each kind of input (they must agree). */
  inputKinds?: Record<string, number>;
}

/** A request to the worker. */
export interface WorkerRequest {
  modelUrl: string;
  imageUrls: string[];
  backend: string;
  wasmPath: string;
}

/** Where the tfjs wasm binaries are served from: the repository's node_modules by default. */
export const DEFAULT_WASM_PATH = '/node_modules/@tensorflow/tfjs-backend-wasm/dist/';
