import { packageConfig } from '../../tsup.base';

// No shims: code that needs its own location calls ownLocation() (src/own-location.ts), which works in both
// builds; tsup's ESM shim would import 'path' and 'url' into the browser entry.
export default packageConfig({ index: 'src/index.ts', node: 'src/node.ts', onnx: 'src/onnx/index.ts' });
