import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

const library = packageConfig({ index: 'src/index.ts' }, { clean: false });

export default defineConfig([
  ...(Array.isArray(library) ? library : [library]),
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
    clean: false,
    external: [/^@dirac\//],
  },
]);
