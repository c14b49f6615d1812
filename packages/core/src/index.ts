/**
 * The Dirac parameterization, exact folding, the layer interpreter for both forms, backends (with fast wasm
 * conv-gradient kernels and threads), safetensors and the typed interfaces every `@dirac` package shares.
 *
 * @packageDocumentation
 */
export { wasmHeapViews } from './backend/heap';
export { type BackendRequest, type UseBackendOptions, useBackend } from './backend/use-backend';
export { prepareWasmThreads, wasmThreadsCount } from './backend/wasm-threads';
export {
  type BatchNormParams,
  type BatchStats,
  batchNormInference,
  batchNormTraining,
  foldBatchNorm,
  updateRunningStats,
} from './batchnorm';
export { type ConvEpilogue, type ConvGeometry, convNd } from './conv';
export { diracDelta, diracWeight, ncrelu, normalizeFilters, tiledDiracDelta } from './dirac';
export * from './errors';
export { countParams, disposeModel, fold, foldSpec, verifyFold } from './fold';
export { type ForwardOptions, forward, requireTensor } from './forward';
export { resizeBilinearOpenCV, resizeCore, roundHalfEven } from './image/resize';
export { sha256HexAsync } from './io/digest';
export * from './io/model-bytes';
export * from './io/safetensors';
export { registerWasmConvGradKernels } from './kernels/wasm-conv-grad';
export {
  configureWasmSimdKernels,
  type WasmSimdKernelSwitches,
  wasmSimdKernelsAvailable,
} from './kernels/wasm-heap';
export { checkTensors, expectedTensorShapes, shapesOf } from './spec-tensors';
export type * from './types';
export { checkZooIndex, findZooEntry, looksLikeZooName, ZOO_URL } from './zoo';
