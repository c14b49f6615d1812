export {
  type ExportOnnxOptions,
  exportOnnx,
  ONNX_DEFAULT_OPSET,
  ONNX_OPSET_RANGE,
} from '@dirac/core/onnx';
export {
  type ExportTfjsOptions,
  exportTfjsGraphModel,
  type TfjsGraphModel,
  type TfjsGraphModelJson,
  type TfjsShard,
  type TfNode,
  type TfTensorInfo,
} from './tfjs-graph';
