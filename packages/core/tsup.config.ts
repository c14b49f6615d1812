import { packageConfig } from '../../tsup.base';

// shims: node.ts resolves the installed @dirac/zoo from its own location (import.meta.url in the CJS build).
export default packageConfig(
  { index: 'src/index.ts', node: 'src/node.ts', onnx: 'src/onnx/index.ts' },
  { shims: true },
);
