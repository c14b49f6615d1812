/**
 * @dirac/core/onnx — folded DiracNets as ONNX models, built in memory: the graph builder behind
 * `dirac export --format onnx` and @dirac/infer's onnxruntime engine, float16 and int8 (QDQ) variants with
 * activation calibration, and `metadata_props` helpers. Kept out of the main entry so that apps that never
 * use ONNX do not load protobufjs.
 *
 * @packageDocumentation
 */
export {
  type CalibrateOptions,
  type CalibrationTable,
  calibrateActivations,
  opKey,
} from './calibrate';
export {
  type ExportOnnxOptions,
  exportOnnx,
  ONNX_DEFAULT_OPSET,
  ONNX_OPSET_RANGE,
  type OnnxQuantization,
} from './export';
export {
  type ExportOp,
  type HostTensor,
  type LoweredModel,
  lowerModel,
  modelMetadata,
  transposeData,
} from './lower';
export { readOnnxMetadata, withOnnxMetadata } from './metadata';
export { ModelProto, OnnxAttributeType, OnnxDataType, onnxRoot } from './proto';
