import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * Named parameter and buffer tensors of a model. Names are `<layer name>.<role>`, for example
 * `group0.block0.conv.weight`, `group0.block0.conv.a`, `group0.block0.bn.mean`.
 *
 * Layouts are TensorFlow.js': conv weights `[kh, kw, in, out]` (1-D: `[k, in, out]`, 3-D:
 * `[kd, kh, kw, in, out]`), linear weights `[in, out]`, activations NHWC.
 */
export type TensorMap = Record<string, Tensor>;

/** Which of the two forms of a DiracNet a spec describes. */
export type ModelForm = 'training' | 'folded';

/** Explicit padding per spatial axis as [before, after] pairs (2-D: [[top, bottom], [left, right]]). */
export type Padding = [number, number][];

/** How a Dirac conv re-parameterizes its weight. */
export type DiracParameterization = 'v1' | 'v2';

/** Plain convolution; weight `<name>.weight`, optional bias `<name>.bias`. */
export interface ConvLayerSpec {
  type: 'conv';
  name: string;
  inChannels: number;
  outChannels: number;
  /** Kernel size per spatial axis (2-D: [kh, kw]). */
  kernel: number[];
  /** Stride per spatial axis. */
  stride: number[];
  padding: Padding;
  bias: boolean;
}

/**
 * Dirac-parameterized convolution (training form only):
 * `W_hat = a·δ + b·W/‖W‖` with ‖W‖ the L2 norm of each whole output filter.
 * v2: per-output-channel `a`, `b` of shape [out]. v1: scalar `a`, `b` of shape [1] and a δ tiled over
 * the input channels so that the identity path holds after NCReLU.
 * Tensors: `<name>.weight`, `<name>.a`, `<name>.b`, optional `<name>.bias`.
 */
export interface DiracConvLayerSpec extends Omit<ConvLayerSpec, 'type'> {
  type: 'diracConv';
  parameterization: DiracParameterization;
}

/** Batch normalization over the channel axis; tensors `<name>.gamma|beta|mean|var`. */
export interface BatchNormLayerSpec {
  type: 'batchnorm';
  name: string;
  channels: number;
  /** Added to the variance; upstream (PyTorch) uses 1e-5. */
  eps: number;
  /** Running-statistics momentum as PyTorch defines it (new = (1-m)·old + m·batch); 0.1 upstream. */
  momentum: number;
}

/** Element-wise max(x, 0). */
export interface ReluLayerSpec {
  type: 'relu';
}

/** Concatenated ReLU of v1 DiracNets: concat(relu(x), -relu(-x)) on channels; doubles the channels. */
export interface NCReluLayerSpec {
  type: 'ncrelu';
}

/** Max pooling with explicit padding (padded cells never win). */
export interface MaxPoolLayerSpec {
  type: 'maxpool';
  kernel: number[];
  stride: number[];
  padding: Padding;
}

/** Average over every spatial position (any input size); output [N, C]. */
export interface GlobalAvgPoolLayerSpec {
  type: 'globalAvgPool';
}

/** Fully connected layer on [N, C]; tensors `<name>.weight` [in, out] and `<name>.bias` [out]. */
export interface LinearLayerSpec {
  type: 'linear';
  name: string;
  inFeatures: number;
  outFeatures: number;
}

/**
 * `body(x) + shortcut(x)`; an empty shortcut is the identity. Only the ResNet/WRN baselines use it:
 * DiracNets are plain chains.
 */
export interface ResidualLayerSpec {
  type: 'residual';
  name: string;
  body: LayerSpec[];
  shortcut: LayerSpec[];
}

/** One layer of a model: specs are plain JSON, tensors live in a {@link TensorMap}. */
export type LayerSpec =
  | ConvLayerSpec
  | DiracConvLayerSpec
  | BatchNormLayerSpec
  | ReluLayerSpec
  | NCReluLayerSpec
  | MaxPoolLayerSpec
  | GlobalAvgPoolLayerSpec
  | LinearLayerSpec
  | ResidualLayerSpec;

/** How raw images become network input. */
export interface Preprocessing {
  /** 'cifar': 32x32 as is; 'imagenet': resize shorter side to `resize`, centre crop `crop`. */
  kind: 'cifar' | 'imagenet';
  /** Shorter-side resize target (ImageNet). */
  resize?: number;
  /** Centre-crop size; the network input is crop x crop. */
  crop: number;
  /** Resize interpolation; upstream ImageNet models were trained with OpenCV's bilinear. */
  interpolation?: 'bilinear-opencv' | 'bilinear' | 'nearest';
  /** Per-channel RGB mean and std on the 0..1 scale. */
  mean: [number, number, number];
  std: [number, number, number];
}

/** The network families of the paper. */
export type ModelFamily = 'cifar' | 'imagenet';

/** The architectures of the paper: DiracNets and the baselines they are compared against. */
export type ModelArch = 'diracnet' | 'plain' | 'wrn' | 'resnet';

/** A whole network as plain JSON: architecture, form and everything needed to run it but the tensors. */
export interface ModelSpec {
  format: 'dirac-model';
  formatVersion: 1;
  /** Registry name, e.g. `diracnet-34-1`. */
  name: string;
  family: ModelFamily;
  arch: ModelArch;
  form: ModelForm;
  depth: number;
  width: number;
  numClasses: number;
  /** Network input [height, width, channels] (NHWC); ImageNet models accept any size. */
  inputShape: [number, number, number];
  layers: LayerSpec[];
  labels?: string[];
  preprocessing?: Preprocessing;
  /** Free-form provenance and metrics. */
  metadata?: Record<string, unknown>;
  /** The weight files of a saved model, with their integrity hashes (set when saved to a directory). */
  weights?: WeightsFile[];
}

/** A weights file of a saved model; `path` is relative to model.json. */
export interface WeightsFile {
  path: string;
  dtype: 'float32' | 'float16';
  bytes: number;
  /** Lower-case hex sha256 of the file's bytes. */
  sha256: string;
}

/** A spec with its tensors: the unit every package passes around. */
export interface Model {
  spec: ModelSpec;
  tensors: TensorMap;
}

/** Options of {@link verifyFold}. */
export interface VerifyFoldOptions {
  /** Input to compare on (NHWC); default: seeded standard normal of `batch` images. */
  input?: Tensor;
  batch?: number;
  seed?: number;
  /** Relative tolerance on max |Δ| / max |reference|; default 1e-5. */
  tolerance?: number;
}

/** What {@link verifyFold} measured. */
export interface FoldReport {
  maxAbsError: number;
  /** max |Δ| divided by max |training-form output|. */
  maxRelError: number;
  tolerance: number;
  ok: boolean;
  inputShape: number[];
  trainingParams: number;
  foldedParams: number;
}

/** Backends the project knows about. */
export type BackendName = 'tensorflow' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** What {@link useBackend} chose and why. */
export interface BackendInfo {
  name: BackendName;
  /** Human-readable reason for the choice, including what was tried and failed. */
  reason: string;
  /** Whether computation runs on a GPU. */
  gpu: boolean;
  /** Worker threads used (wasm) or undefined where it does not apply. */
  threads?: number;
  /** Backends tried before this one, with why each was rejected. */
  rejected: { name: string; why: string }[];
}

/** Where a zoo entry converted from upstream comes from (it is converted on the user's machine). */
export interface ZooUpstream {
  /** Download URL of upstream's file. */
  url: string;
  /** Upstream's file name; its `-<hex>` suffix is the first hex digits of the file's sha256. */
  file: string;
  sha256Prefix: string;
}

/** One entry of the zoo index. */
export interface ZooEntry {
  /** The name users pass to `load()` / `loadPretrained()`: `<dataset>/<model>`, e.g. `cifar10/diracnet-34-1`. */
  name: string;
  dataset: string;
  /** The registry name of the network, e.g. `diracnet-34-1`. */
  model: string;
  arch: ModelArch;
  depth: number;
  width: number;
  /** Path of the entry directory relative to the index file's folder. */
  path: string;
  /** model.json and the weights files, with sizes and hashes (empty for entries converted on the user's machine). */
  files: { path: string; bytes: number; sha256: string; dtype?: 'float32' | 'float16' }[];
  params: number;
  /** Headline metrics (`top1`, `top5`, `top1Fp16`, `top1Int8` on the test set), measured by `dirac eval`. */
  metrics?: Record<string, number>;
  /** Where the weights came from: trained here, or converted from upstream on the user's machine. */
  source: 'trained-here' | 'converted-from-upstream';
  upstream?: ZooUpstream;
}

/** `zoo/index.json`. */
export interface ZooIndex {
  formatVersion: 1;
  /** The entry `dirac classify` uses when no model is named. */
  default?: string;
  entries: ZooEntry[];
}

/** Accuracy of a zoo model as measured by `dirac eval`, stored in its model.json (`metadata.metrics`). */
export interface ZooMetrics {
  dataset: string;
  split: string;
  /** Number of images evaluated. */
  n: number;
  top1: number;
  top5: number;
  loss: number;
  /** The same with the float16 weights. */
  fp16?: { top1: number; top5: number; loss: number };
  /**
   * The same as an int8 QDQ network on ONNX Runtime (per-channel int8 weights, uint8 activations with the
   * ranges in `metadata.quantization.int8`, calibrated on `calibration.images` training images).
   */
  int8?: { top1: number; top5: number; loss: number; calibration: { images: number; method: string } };
  /** The command that measured them, and when. */
  command: string;
  measured: string;
}

/** One resume of a training run: when, where in the run, and from which commit. */
export interface ZooResume {
  at: string;
  /** Epochs completed when it resumed. */
  epoch: number;
  /** Steps into the next epoch when it resumed. */
  step: number;
  commit?: string;
  /** Settings the resume changed (`dirac train --resume <run> --epochs 160`): each one's value before and after. */
  changed?: Record<string, { from: unknown; to: unknown }>;
}

/** The run a warm-started (`dirac train --init`) run took its starting weights from. */
export interface ZooInit {
  /** The `--init` path as given. */
  from: string;
  command?: string;
  commit?: string;
  started?: string;
  epochs?: number;
  wallTimeSeconds?: number;
  cpuTimeSeconds?: number;
  resumes?: ZooResume[];
  /** That run's own warm start, if any. */
  init?: ZooInit;
}

/** How a zoo model was made, stored in its model.json (`metadata.provenance`). */
export interface ZooProvenance {
  /** The exact training command. */
  command: string;
  /** The git commit the trainer ran from (`-dirty` when it had local changes). */
  commit?: string;
  dataset: { name: string; file: string; sha256: string };
  hardware: { cpu: string; cores: number; memoryGiB: number; backend: string; threads?: number };
  epochs: number;
  /** Training wall time over every session, in seconds. */
  wallTimeSeconds: number;
  /**
   * CPU time of the training process (every thread) over every session, in seconds: the compute it took,
   * which pauses do not inflate. Absent for runs begun before it was recorded.
   */
  cpuTimeSeconds?: number;
  started: string;
  finished: string;
  /** Every `--resume` of the run. */
  resumes?: ZooResume[];
  /** Where the starting weights came from, for a warm-started run (its epochs and wall time not included above). */
  init?: ZooInit;
  /** What the recorded fields cannot say (given to `dirac zoo add --note`). */
  note?: string;
}
