/**
 * The browser example: loads a folded DiracNet from a URL and classifies images on the page, or asks
 * ./worker.ts to do the same inside a Web Worker (`?worker=1`).
 */
// #region imports
import '@tensorflow/tfjs-backend-webgl';
import { type DiracClassifier, type ImageInput, load, type ProgressInfo } from '@dirac/infer';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// #endregion imports
import { DEFAULT_WASM_PATH, type RunReport, type WorkerRequest } from './shared';

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? './dist/model/';
const imageUrls = params.getAll('image');
const backend = params.get('backend') ?? 'webgl';
const wasmPath = params.get('wasm') ?? DEFAULT_WASM_PATH;
const out = document.getElementById('out') as HTMLPreElement;
const bar = document.getElementById('progress') as HTMLProgressElement;

function report(r: RunReport): void {
  (window as unknown as { __dirac: RunReport }).__dirac = r;
  out.textContent =
    r.status === 'error'
      ? `error: ${r.error}`
      : `${r.where}, backend ${r.backend}: load ${r.loadMs?.toFixed(0)} ms, classify ${r.classifyMs?.toFixed(1)} ms/image\n\n` +
        (r.results ?? [])
          .map(
            (x) =>
              `${x.image}\n${x.top.map((p) => `  ${p.label.padEnd(12)} ${(100 * p.probability).toFixed(1)}%`).join('\n')}`,
          )
          .join('\n');
}

function onProgress(p: ProgressInfo): void {
  if (p.status === 'progress' && p.progress !== undefined) bar.value = p.progress;
  if (p.status === 'ready') bar.value = 100;
}

async function showImage(url: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.crossOrigin = 'anonymous';
  img.src = url;
  await img.decode();
  document.getElementById('images')!.append(img);
  return img;
}

/** The same image as an element, a canvas, an OffscreenCanvas, ImageData and an ImageBitmap: top-1 of each. */
async function inputKinds(model: DiracClassifier<ImageInput>, url: string): Promise<Record<string, number>> {
  const img = await showImage(url);
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(img, 0, 0);
  const offscreen = new OffscreenCanvas(canvas.width, canvas.height);
  offscreen.getContext('2d')!.drawImage(img, 0, 0);
  const bitmap = await createImageBitmap(img);
  const inputs: Record<string, ImageInput> = {
    HTMLImageElement: img,
    HTMLCanvasElement: canvas,
    OffscreenCanvas: offscreen,
    ImageData: ctx.getImageData(0, 0, canvas.width, canvas.height),
    ImageBitmap: bitmap,
  };
  const out: Record<string, number> = {};
  for (const [kind, input] of Object.entries(inputs))
    out[kind] = (await model.classify(input, { topk: 1 }))[0]!.index;
  bitmap.close();
  img.remove();
  return out;
}

async function onPage(): Promise<void> {
  // #region load
  setWasmPaths(wasmPath); // where the tfjs .wasm files are served (used by the wasm backend)
  const t0 = performance.now();
  const model: DiracClassifier<ImageInput> = await load(modelUrl, { backend, onProgress });
  const loadMs = performance.now() - t0;
  // #endregion load
  const results: RunReport['results'] = [];
  let total = 0;
  for (const url of imageUrls) {
    const img = await showImage(url);
    const t1 = performance.now();
    // #region classify
    const top = await model.classify(img); // [{ label, index, probability }] × 5, best first
    // #endregion classify
    total += performance.now() - t1;
    results.push({ image: url, top });
  }
  report({
    status: 'done',
    where: 'page',
    backend: model.backend,
    results,
    loadMs,
    classifyMs: total / Math.max(1, imageUrls.length),
    inputKinds: imageUrls[0] ? await inputKinds(model, imageUrls[0]) : undefined,
  });
  const file = document.getElementById('file') as HTMLInputElement;
  file.disabled = false;
  file.onchange = async () => {
    const f = file.files?.[0];
    if (!f) return;
    const bitmap = await createImageBitmap(f);
    const top = await model.classify(bitmap);
    bitmap.close();
    report({ status: 'done', where: 'page', backend: model.backend, results: [{ image: f.name, top }] });
  };
}

async function inWorker(): Promise<void> {
  // #region worker
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  // #endregion worker
  for (const url of imageUrls) await showImage(url);
  const absolute = (u: string) => new URL(u, location.href).href;
  const request: WorkerRequest = {
    modelUrl: absolute(modelUrl),
    imageUrls: imageUrls.map(absolute),
    backend,
    wasmPath: absolute(wasmPath),
  };
  const r = await new Promise<RunReport>((resolve) => {
    worker.onmessage = (e: MessageEvent<RunReport>) => resolve(e.data);
    worker.onerror = (e) => resolve({ status: 'error', where: 'worker', error: e.message });
    worker.postMessage(request);
  });
  worker.terminate();
  if (r.results) r.results = r.results.map((x, i) => ({ ...x, image: imageUrls[i] ?? x.image }));
  report(r);
}

(params.get('worker') ? inWorker() : onPage()).catch((e: unknown) =>
  report({
    status: 'error',
    where: params.get('worker') ? 'worker' : 'page',
    error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
  }),
);
