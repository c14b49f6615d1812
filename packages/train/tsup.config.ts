import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Gradient registrations are ESM-only deep imports of tfjs-core: inline them (see src/loop.ts).
const noExternal = [/tfjs-core\/dist\/register_all_gradients/];
const library = packageConfig(
  { index: 'src/index.ts', browser: 'src/browser.ts' },
  { clean: false, noExternal },
);

export default defineConfig([
  ...(Array.isArray(library) ? library : [library]),
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
    clean: false,
    external: [/^@dirac\//],
    noExternal,
  },
]);
