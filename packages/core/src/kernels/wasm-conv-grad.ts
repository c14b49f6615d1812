/**
 * Fast convolution-gradient kernels for the tfjs wasm backend.
 *
 * tfjs-backend-wasm 4.x has no `Conv2DBackpropFilter` kernel (so `tf.grad` of a conv throws on wasm) and
 * its `Conv2DBackpropInput` is a scalar C loop (2–3 GFLOP/s). Both gradients are rewritten here as forward
 * `Conv2D` calls, which the wasm backend runs through XNNPACK:
 *
 * - filter gradient: a convolution with batch and channels swapped. x becomes [Ci, H, W, N], dy becomes the
 *   filter [oh, ow, N, Co], the forward stride becomes the dilation, and the [Ci, kh, kw, Co] result is
 *   transposed to [kh, kw, Ci, Co].
 * - input gradient, stride 1: a convolution of dy with the spatially flipped, in/out-swapped filter.
 * - input gradient, stride s > 1: a sub-pixel ("phase") decomposition. Input row h = q·s + r only receives
 *   filter taps a ≡ (r + padTop) mod s, so each of the s·s phases is a stride-1 correlation of dy with a
 *   small sub-filter. All phases share one Conv2D (sub-filters stacked along the output channels as
 *   (ry, rx, ci)), and DepthToSpace interleaves them back into dx. No zero-dilated dy, no Slice/Concat on
 *   the hot path (a crop is only needed when the input size is not a multiple of the stride).
 *
 * The kernels compute with tf ops under `tf.tidy` (the engine does not record gradients inside kernels),
 * then hand the result's data to the engine by taking one extra backend reference before disposing the
 * temporary tensor, so nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { wasmConvFilterGrad } from './wasm-conv-filter-grad';
import { wasmConv2d, wasmConv2dApplies, wasmConv2dRuns } from './wasm-conv2d';
import { wasmSimdKernelEnabled } from './wasm-heap';
import { maxPoolGradWrap } from './wasm-maxpool-grad';
import { winogradConv, winogradRuns } from './wasm-winograd';
import { WrappedKernel } from './wrapped-kernel';

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
type Backend = tf.KernelBackend;

const KERNEL_INPUT = 'Conv2DBackpropInput';
const KERNEL_CONV = 'Conv2D';
const KERNEL_FILTER = 'Conv2DBackpropFilter';
const BACKEND = 'wasm';

interface ConvGradAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/* ------------------------------------------------------------------------------------------------ */
/* tensor plumbing                                                                                    */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Wraps a kernel input as a Tensor that may be disposed freely: kernel inputs are usually Tensors already,
 * but a TensorInfo gets its own backend reference so that disposing the wrapper leaves the caller's data.
 */
function asTensor(info: tf.TensorInfo, backend: Backend, owned: tf.Tensor[]): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  backend.incRef(info.dataId);
  const t = tf.engine().makeTensorFromTensorInfo(info, backend);
  owned.push(t);
  return t;
}

/** Runs `compute` in a tidy scope and returns its result as a TensorInfo the engine adopts. */
function runAsKernel(
  backend: Backend,
  inputs: tf.TensorInfo[],
  compute: (...ts: tf.Tensor[]) => tf.Tensor,
): tf.TensorInfo {
  const owned: tf.Tensor[] = [];
  try {
    const ts = inputs.map((i) => asTensor(i, backend, owned));
    const out = tf.tidy(() => {
      const r = compute(...ts);
      return ts.includes(r) ? tf.clone(r) : r; // never hand back (and then dispose) an input
    });
    // The engine wraps the returned TensorInfo in a new Tensor without taking a reference, so keep the
    // data alive with one more reference and drop ours.
    backend.incRef(out.dataId);
    const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
    out.dispose();
    return info;
  } finally {
    for (const t of owned) t.dispose();
  }
}

/** The parts of tfjs-backend-wasm's BackendWasm used to write a tensor straight into the wasm heap. */
interface HeapAccess {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

function heapAccess(): HeapAccess | undefined {
  const b = tf.backend() as unknown as Partial<HeapAccess>;
  return typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function'
    ? (b as HeapAccess)
    : undefined;
}

/** A new float32 tensor on the wasm heap plus views of it and of `src` (taken after the allocation). */
function heapOutput(
  heap: HeapAccess,
  src: tf.Tensor,
  shape: number[],
): { out: tf.Tensor4D; from: Float32Array; to: Float32Array } {
  const info = heap.makeOutput(shape, 'float32');
  const out = tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D; // owns the data from here on
  // Views last: makeOutput may grow (and so move) the heap.
  return { out, from: heap.typedArrayFromHeap(src), to: heap.typedArrayFromHeap(info) };
}

/**
 * Crops [N, H, W, C] spatially, optionally also swapping N and C (→ [C, h, w, N]), in one JavaScript
 * pass over the wasm heap. tfjs's wasm Slice first copies the whole input out of the heap (readSync) and
 * then copies runs from JavaScript: ~10 ms for 2 MB here, against well under 1 ms for this.
 */
function cropOnHeap(
  t: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
  swapNC: boolean,
): tf.Tensor4D | undefined {
  const heap = heapAccess();
  if (!heap || t.dtype !== 'float32') return undefined;
  const [n, H, W, c] = t.shape;
  const h = H - top - bottom;
  const w = W - left - right;
  const { out, from, to } = heapOutput(heap, t, swapNC ? [c, h, w, n] : [n, h, w, c]);
  if (swapNC) {
    const plane = h * w * n;
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < h; y++) {
        let s = ((b * H + y + top) * W + left) * c;
        let d = y * w * n + b;
        for (let x = 0; x < w; x++, d += n) {
          for (let k = 0, dk = d; k < c; k++, dk += plane) to[dk] = from[s++]!;
        }
      }
    }
  } else {
    const run = w * c;
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < h; y++) {
        const s = ((b * H + y + top) * W + left) * c;
        to.set(from.subarray(s, s + run), (b * h + y) * run);
      }
    }
  }
  return out;
}

/** Crops a 4-D NHWC tensor spatially. */
function crop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return t;
  const fast = cropOnHeap(t, top, bottom, left, right, false);
  if (fast) return fast;
  const [n, h, w, c] = t.shape;
  return tf.slice(t, [0, top, left, 0], [n, h - top - bottom, w - left - right, c]);
}

/** Zero-pads and/or crops so that the explicit paddings handed to conv2d are never negative. */
function splitPads(
  t: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): { t: tf.Tensor4D; pad: Pad4 } {
  const c = (v: number) => Math.max(0, -v);
  const p = (v: number) => Math.max(0, v);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) t = crop(t, c(top), c(bottom), c(left), c(right));
  return {
    t,
    pad: [
      [0, 0],
      [p(top), p(bottom)],
      [p(left), p(right)],
      [0, 0],
    ],
  };
}

interface Geometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
}

function geometry(
  inputShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvGradAttrs,
): Geometry {
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outC: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** NCHW attrs are handled by transposing to NHWC; explicit paddings follow the layout. */
function nhwcPad(attrs: ConvGradAttrs): ConvGradAttrs['pad'] {
  if (attrs.dataFormat !== 'NCHW' || typeof attrs.pad !== 'object') return attrs.pad;
  const p = attrs.pad;
  return [p[0]!, p[2]!, p[3]!, p[1]!] as tf.backend_util.ExplicitPadding;
}

/* ------------------------------------------------------------------------------------------------ */
/* filter gradient                                                                                    */
/* ------------------------------------------------------------------------------------------------ */

/**
 * dW[a,b,ci,co] = Σ x[n, i·sh + a − pt, j·sw + b − pl, ci] · dy[n,i,j,co], as one forward Conv2D.
 * Internal (exported for tests): tensors must live on the active backend.
 */
export function conv2dBackpropFilterNHWC(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  attrs: ConvGradAttrs,
): tf.Tensor4D {
  const g = geometry(x.shape, filterShape, attrs);
  if (g.sh === 1 && g.sw === 1) {
    const simd = wasmConvFilterGrad(x, dy, filterShape, g.padTop, g.padLeft);
    if (simd) return simd;
  }
  const [, oh, ow] = dy.shape;
  // Rows of the padded input the forward conv read: [0, (oh−1)·sh + kh). Its bottom padding in input
  // terms is that extent minus (pt + H): negative when the last input rows were never read (crop them).
  const bottom = g.kh + (oh - 1) * g.sh - g.inH - g.padTop;
  const right = g.kw + (ow - 1) * g.sw - g.inW - g.padLeft;
  const pad: Pad4 = [
    [0, 0],
    [g.padTop, Math.max(0, bottom)],
    [g.padLeft, Math.max(0, right)],
    [0, 0],
  ];
  const cropB = Math.max(0, -bottom);
  const cropR = Math.max(0, -right);
  // [Ci, H, W, N]; the crop rides along with the transpose when there is one
  const xt =
    (cropB > 0 || cropR > 0 ? cropOnHeap(x, 0, cropB, 0, cropR, true) : undefined) ??
    (tf.transpose(crop(x, 0, cropB, 0, cropR), [3, 1, 2, 0]) as tf.Tensor4D);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, N, Co]
  const y =
    g.sh === 1 && g.sw === 1 ? tf.conv2d(xt, dyt, 1, pad) : tf.conv2d(xt, dyt, 1, pad, 'NHWC', [g.sh, g.sw]); // [Ci, kh, kw, Co]
  return tf.transpose(y, [1, 2, 0, 3]);
}

/* ------------------------------------------------------------------------------------------------ */
/* input gradient                                                                                     */
/* ------------------------------------------------------------------------------------------------ */

/** One spatial axis of the phase decomposition. */
interface AxisPlan {
  /** taps of the combined sub-filter */
  taps: number;
  /** padding before dy (negative: crop) */
  before: number;
  /** padding after dy (negative: crop) */
  after: number;
  /** phases per output position (the stride) */
  phases: number;
  /** output positions per phase */
  q: number;
  /** tap index of the original filter for (t, r), or −1 for a zero */
  source: Int32Array;
  /** for each phase, its index among the phases that receive any tap (−1: always zero, e.g. 1×1 s2) */
  slot: Int32Array;
  /** number of phases with taps */
  active: number;
}

/**
 * For input position h = q·s + r the forward taps are a = cr + m·s with c = r + pad, cs = ⌊c/s⌋,
 * cr = c mod s, and they read dy[q + cs − m]. A shared stride-1 correlation reading dy[q + t − P] covers
 * every phase with t = cs − m + P.
 */
function planAxis(k: number, s: number, pad: number, inSize: number, outSize: number): AxisPlan {
  const cs: number[] = [];
  const cr: number[] = [];
  const m: number[] = [];
  let P = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < s; r++) {
    const c = r + pad;
    cs.push(Math.floor(c / s));
    cr.push(c % s);
    const mr = cr[r]! < k ? Math.ceil((k - cr[r]!) / s) : 0;
    m.push(mr);
    if (mr > 0) P = Math.max(P, mr - 1 - cs[r]!);
  }
  if (!Number.isFinite(P)) P = 0; // no taps at all (cannot happen for k ≥ 1)
  let last = 0;
  for (let r = 0; r < s; r++) if (m[r]! > 0) last = Math.max(last, cs[r]! + P);
  const taps = last + 1;
  const source = new Int32Array(taps * s).fill(-1);
  for (let r = 0; r < s; r++) {
    for (let mm = 0; mm < m[r]!; mm++) {
      const t = cs[r]! - mm + P;
      source[t * s + r] = cr[r]! + mm * s;
    }
  }
  const q = Math.ceil(inSize / s);
  const slot = new Int32Array(s).fill(-1);
  let active = 0;
  for (let r = 0; r < s; r++) if (m[r]! > 0) slot[r] = active++;
  return { taps, before: P, after: q - 1 + taps - outSize - P, phases: s, q, source, slot, active };
}

/**
 * Builds the combined filter [th, tw, Co, G·Ci] from W [kh, kw, Ci, Co], G = phases with taps, ordered
 * (ry, rx), channels (group, ci). Phases without taps (e.g. 3 of 4 for a 1×1 stride-2 conv) are left out.
 */
function phaseFilter(w: Float32Array, g: Geometry, ph: AxisPlan, pw: AxisPlan): Float32Array {
  const { kw, inC: ci, outC: co } = g;
  const groups = ph.active * pw.active;
  const oc = groups * ci;
  const out = new Float32Array(ph.taps * pw.taps * co * oc);
  for (let th = 0; th < ph.taps; th++) {
    for (let ry = 0; ry < ph.phases; ry++) {
      const a = ph.source[th * ph.phases + ry]!;
      if (a < 0) continue;
      for (let tw = 0; tw < pw.taps; tw++) {
        for (let rx = 0; rx < pw.phases; rx++) {
          const b = pw.source[tw * pw.phases + rx]!;
          if (b < 0) continue;
          const group = ph.slot[ry]! * pw.active + pw.slot[rx]!;
          const dstBase = (th * pw.taps + tw) * co * oc + group * ci;
          const srcBase = (a * kw + b) * ci * co;
          for (let i = 0; i < ci; i++) {
            const src = srcBase + i * co;
            let dst = dstBase + i;
            for (let o = 0; o < co; o++, dst += oc) out[dst] = w[src + o]!;
          }
        }
      }
    }
  }
  return out;
}

/**
 * dx for NHWC dy [N, oh, ow, Co] and filter [kh, kw, Ci, Co]. Internal (exported for tests): tensors
 * must live on the active backend.
 */
export function conv2dBackpropInputNHWC(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: ConvGradAttrs,
): tf.Tensor4D {
  const g = geometry(inputShape, filter.shape, attrs);
  const [, oh, ow] = dy.shape;
  if (g.sh === 1 && g.sw === 1) {
    // dx = dy ⋆ flip(W)ᵀ with padding k − 1 − p (before) and whatever makes the output H × W (after).
    const wf = flippedTransposed(filter);
    const top = g.kh - 1 - g.padTop;
    const left = g.kw - 1 - g.padLeft;
    const { t, pad } = splitPads(dy, top, g.inH + g.kh - 1 - oh - top, left, g.inW + g.kw - 1 - ow - left);
    return tf.conv2d(t, wf, 1, pad);
  }
  const ph = planAxis(g.kh, g.sh, g.padTop, g.inH, oh);
  const pw = planAxis(g.kw, g.sw, g.padLeft, g.inW, ow);
  // The filter is read in place on the heap (dataSync would copy it out first).
  const heap = heapAccess();
  const wv =
    heap && filter.dtype === 'float32'
      ? heap.typedArrayFromHeap(filter)
      : (filter.dataSync() as Float32Array);
  const wp = tf.tensor4d(phaseFilter(wv, g, ph, pw), [
    ph.taps,
    pw.taps,
    g.outC,
    ph.active * pw.active * g.inC,
  ]);
  const { t, pad } = splitPads(dy, ph.before, ph.after, pw.before, pw.after);
  const phases = tf.conv2d(t, wp, 1, pad) as tf.Tensor4D; // [N, qh, qw, G·Ci]
  return interleavePhases(phases, ph, pw, g.inH, g.inW);
}

/**
 * flip(W)ᵀ: [kh, kw, Co, Ci] with out[a, b, o, i] = W[kh−1−a, kw−1−b, i, o]. Written from the heap in
 * JavaScript when possible: wasm's Reverse costs ~0.8 ms even for a 3x3x16x16 filter.
 */
function flippedTransposed(filter: tf.Tensor4D): tf.Tensor4D {
  const heap = heapAccess();
  if (!heap || filter.dtype !== 'float32') {
    return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  }
  const [kh, kw, ci, co] = filter.shape;
  const w = heap.typedArrayFromHeap(filter);
  const out = new Float32Array(w.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const src = ((kh - 1 - a) * kw + (kw - 1 - b)) * ci * co;
      const dst = (a * kw + b) * co * ci;
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[dst + o * ci + i] = w[src + i * co + o]!;
    }
  }
  return tf.tensor4d(out, [kh, kw, co, ci]);
}

/**
 * [N, qh, qw, G·C] (groups = phases with taps, see {@link phaseFilter}) → [N, h, w, C] with row q·sh + ry
 * and column p·sw + rx; phases without taps are zeros; rows ≥ h and columns ≥ w are dropped. wasm's
 * DepthToSpace and rank-6 Transpose are generic per-element loops (17 ms and 8 ms for 2 MB here); this
 * JavaScript pass writes the heap sequentially (under 1 ms).
 */
function interleavePhases(
  phases: tf.Tensor4D,
  ph: AxisPlan,
  pw: AxisPlan,
  h: number,
  w: number,
): tf.Tensor4D {
  const [n, qh, qw, cc] = phases.shape;
  const sh = ph.phases;
  const sw = pw.phases;
  const c = cc / (ph.active * pw.active);
  const heap = heapAccess();
  if (!heap) {
    // Generic route: put the zero phases back as channels, then interleave with a rank-6 transpose.
    let full: tf.Tensor = phases;
    if (ph.active < sh || pw.active < sw) {
      const parts: tf.Tensor[] = [];
      const zeros = tf.zeros([n, qh, qw, c]);
      for (let ry = 0; ry < sh; ry++) {
        for (let rx = 0; rx < sw; rx++) {
          const iy = ph.slot[ry]!;
          const ix = pw.slot[rx]!;
          parts.push(
            iy < 0 || ix < 0 ? zeros : tf.slice(phases, [0, 0, 0, (iy * pw.active + ix) * c], [n, qh, qw, c]),
          );
        }
      }
      full = tf.concat(parts, 3);
    }
    const six = tf.reshape(full, [n, qh, qw, sh, sw, c]);
    const big = tf.reshape(tf.transpose(six, [0, 1, 3, 2, 4, 5]), [n, qh * sh, qw * sw, c]) as tf.Tensor4D;
    return crop(big, 0, qh * sh - h, 0, qw * sw - w);
  }
  const { out, from: src, to: dst } = heapOutput(heap, phases, [n, h, w, c]);
  let d = 0;
  for (let b = 0; b < n; b++) {
    for (let row = 0; row < h; row++) {
      const iy = ph.slot[row % sh]!;
      if (iy < 0) {
        dst.fill(0, d, d + w * c);
        d += w * c;
        continue;
      }
      const base = (b * qh + Math.floor(row / sh)) * qw * cc + iy * pw.active * c;
      for (let col = 0; col < w; col++) {
        const ix = pw.slot[col % sw]!;
        if (ix < 0) {
          dst.fill(0, d, d + c);
          d += c;
          continue;
        }
        let s = base + Math.floor(col / sw) * cc + ix * c;
        for (let k = 0; k < c; k++) dst[d++] = src[s++]!;
      }
    }
  }
  return out;
}

/* ------------------------------------------------------------------------------------------------ */
/* kernels                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

function toNHWC(t: tf.Tensor, format: 'NHWC' | 'NCHW'): tf.Tensor4D {
  return (format === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) : t) as tf.Tensor4D;
}

function shapeNHWC(shape: number[], format: 'NHWC' | 'NCHW'): [number, number, number, number] {
  const [a, b, c, d] = shape as [number, number, number, number];
  return format === 'NCHW' ? [a, c, d, b] : [a, b, c, d];
}

const filterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as unknown as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
  const format = a.dataFormat ?? 'NHWC';
  const nhwcAttrs: ConvGradAttrs = { ...a, dataFormat: 'NHWC', pad: nhwcPad(a) };
  return runAsKernel(backend as Backend, [x, dy], (xt, dyt) =>
    conv2dBackpropFilterNHWC(toNHWC(xt, format), toNHWC(dyt, format), a.filterShape, nhwcAttrs),
  );
};

const inputKernel: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as unknown as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
  const format = a.dataFormat ?? 'NHWC';
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    if (inputWrap.stock) return inputWrap.stock.kernelFunc(args);
  }
  const nhwcAttrs: ConvGradAttrs = { ...a, dataFormat: 'NHWC', pad: nhwcPad(a) };
  return runAsKernel(backend as Backend, [dy, filter], (dyt, ft) => {
    const dx = conv2dBackpropInputNHWC(
      shapeNHWC(a.inputShape, format),
      toNHWC(dyt, format),
      ft as tf.Tensor4D,
      nhwcAttrs,
    );
    return format === 'NCHW' ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
  });
};

/**
 * `Identity` (tf.clone) sharing the input's data, as the cpu and webgl backends do: tfjs-wasm's copies it,
 * and the gradient tape clones every tensor it saves for backprop (every conv input, every batch-norm
 * input and output), which cost 8% of a DiracNet-34-1 training step in copies. Tensors are immutable and no
 * wasm kernel writes into its inputs (Reshape already shares data the same way).
 */
const identityKernel: tf.KernelFunc = (args) => {
  const { inputs, backend } = args;
  const { x } = inputs as unknown as { x: tf.TensorInfo };
  if (x.dtype === 'string') return identityWrap.stock!.kernelFunc(args);
  (backend as Backend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
};

const identityWrap = new WrappedKernel('Identity', identityKernel);

interface Conv2DAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Stride-1 NHWC float32 convolutions with 16k output channels run on our SIMD kernel; others stock. */
const convKernel: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as unknown as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as Conv2DAttrs;
  if ((a.dataFormat ?? 'NHWC') === 'NHWC' && wasmConv2dApplies(x, filter)) {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
    );
    const unitSteps =
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      info.dilationHeight === 1 &&
      info.dilationWidth === 1;
    if (unitSteps && wasmConv2dRuns(x, filter, info.outHeight, info.outWidth)) {
      return runAsKernel(backend as Backend, [x, filter], (xt, wt) => {
        const { top, left } = info.padInfo;
        const y = wasmConv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, top, left, info.outHeight, info.outWidth);
        if (!y) throw new Error('wasmConv2d declined operands that wasmConv2dRuns accepted');
        return y;
      });
    }
  }
  if (!convWrap.stock) throw new Error('the stock wasm Conv2D kernel is missing');
  return convWrap.stock.kernelFunc(args);
};

const convWrap = new WrappedKernel(KERNEL_CONV, convKernel);
const inputWrap = new WrappedKernel(KERNEL_INPUT, inputKernel);

interface FusedConv2DAttrs extends Conv2DAttrs {
  activation?: string;
}

/**
 * Fused convolutions (a folded DiracNet's conv + bias + ReLU) of 8 or more images that the Winograd kernel
 * takes, with no or a linear/ReLU activation and a [Co] bias, run on it with the bias and ReLU in its output
 * transform; others stock (XNNPACK).
 */
const fusedConvKernel: tf.KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, filter, bias, preluActivationWeights } = inputs as unknown as Record<
    string,
    tf.TensorInfo | undefined
  >;
  const a = attrs as unknown as FusedConv2DAttrs;
  const activation = a.activation ?? 'linear';
  if (
    x &&
    filter &&
    !preluActivationWeights &&
    (activation === 'linear' || activation === 'relu') &&
    (a.dataFormat ?? 'NHWC') === 'NHWC'
  ) {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
    );
    const { top, left } = info.padInfo;
    const unitSteps =
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      info.dilationHeight === 1 &&
      info.dilationWidth === 1;
    // Small batches stay with XNNPACK, which splits pixels between threads (ours splits the batch, and
    // transforms the filter on every call): on DiracNet-34-1 Winograd is ahead from about 8 images.
    const batched = x.shape[0]! >= 8;
    const on = wasmSimdKernelEnabled('winogradInference');
    if (
      on &&
      unitSteps &&
      batched &&
      winogradRuns(x, filter, bias, top, left, info.outHeight, info.outWidth)
    ) {
      return runAsKernel(backend as Backend, bias ? [x, filter, bias] : [x, filter], (xt, wt, bt) => {
        const epilogue = { bias: bt, relu: activation === 'relu' };
        const y = winogradConv(xt as tf.Tensor4D, wt as tf.Tensor4D, epilogue);
        if (!y) throw new Error('winogradConv declined operands that winogradRuns accepted');
        return y;
      });
    }
  }
  if (!fusedConvWrap.stock) throw new Error('the stock wasm FusedConv2D kernel is missing');
  return fusedConvWrap.stock.kernelFunc(args);
};

const fusedConvWrap = new WrappedKernel('FusedConv2D', fusedConvKernel);

/** Our kernels that replace stock ones (the filter gradient has no stock kernel to replace). */
const wrapped = [inputWrap, convWrap, fusedConvWrap, identityWrap, maxPoolGradWrap];

function installFilterKernel(): void {
  const current = tf.getKernel(KERNEL_FILTER, BACKEND);
  if (current?.kernelFunc === filterKernel) return;
  if (current) tf.unregisterKernel(KERNEL_FILTER, BACKEND);
  tf.registerKernel({
    kernelName: KERNEL_FILTER,
    backendName: BACKEND,
    kernelFunc: filterKernel,
    // Runs when the wasm backend initialises: if '@tensorflow/tfjs-backend-wasm' was imported after our
    // registration, its stock input kernel replaced ours; put ours back (and bind the stock one).
    setupFunc: (b) => {
      if (installed) {
        for (const k of wrapped) k.install(b as Backend);
      }
    },
  });
}

let installed = false;

/**
 * Registers the fast `Conv2DBackpropFilter` and `Conv2DBackpropInput` kernels for the 'wasm' backend, and a
 * `Conv2D` that runs stride-1 convolutions with 16k output channels on our SIMD kernel (wasm-conv2d.ts), and
 * an `Identity` that shares data instead of copying it, and a faster `MaxPoolGrad`.
 * Idempotent; works before or after the wasm backend initialises. Call it after importing
 * '@tensorflow/tfjs-backend-wasm' (if the import comes later, the stock input kernel is displaced again
 * when the backend initialises).
 */
export function registerWasmConvGradKernels(): void {
  installed = true;
  // tf.findBackend would start initialising the backend; the registry only lists initialised ones.
  for (const k of wrapped) k.install(tf.engine().registry[BACKEND]);
  installFilterKernel();
}

/** Restores the stock wasm kernels (input gradient: scalar loop; filter gradient: none). For benchmarks. */
export function unregisterWasmConvGradKernels(): void {
  installed = false;
  if (tf.getKernel(KERNEL_FILTER, BACKEND)?.kernelFunc === filterKernel) {
    tf.unregisterKernel(KERNEL_FILTER, BACKEND);
  }
  for (const k of wrapped) k.uninstall();
}
