/**
 * The paper's networks (CIFAR DiracNet-depth-width, ImageNet DiracNet-18/34, plain, WRN and ResNet baselines),
 * their initialization and counts, a safe reader of upstream PyTorch checkpoints, and `loadPretrained()` for
 * the zoo.
 *
 * @packageDocumentation
 */
export { cifarWRN, imagenetResNet } from './baselines';
export { CIFAR10_CLASSES, type CifarOptions, cifarBlocksPerGroup, cifarDiracNet } from './cifar';
export { type LayerRow, layerTable, type ModelCounts, modelCounts } from './counts';
export { IMAGENET_BLOCKS, type ImagenetOptions, imagenetDiracNet } from './imagenet';
export {
  type ReadTorchCheckpointOptions,
  readTorchCheckpoint,
  type TorchCheckpoint,
  type TorchTensor,
} from './import/torch-checkpoint';
export { modelFromUpstream } from './import/upstream';
export { initParams } from './init';
export { CIFAR_PREPROCESSING, IMAGENET_PREPROCESSING } from './preprocessing';
export { type BuildOptions, buildModel, type DatasetName, MODEL_NAME_PATTERNS } from './registry';
export { type LoadPretrainedOptions, loadPretrained, UPSTREAM_IMAGENET, ZOO_URL } from './zoo';
