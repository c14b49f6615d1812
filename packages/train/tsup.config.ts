import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Gradient registrations are ESM-only deep imports of tfjs-core, which Node cannot load: the Node builds inline
// them (see src/loop.ts).
const noExternal = [/tfjs-core\/dist\/register_all_gradients/];
const library = packageConfig(
  { index: 'src/index.ts', browser: 'src/browser.ts' },
  { clean: false, noExternal },
);

// For bundlers (the "browser" export condition) the deep import stays a deep import, so the gradients and the
// ops they use come from the app's own tfjs-core instead of a second copy inside this file.
const browserBundle = {
  entry: { 'browser.web': 'src/browser.ts' },
  format: ['esm'] as const,
  platform: 'browser' as const,
  target: 'es2022',
  sourcemap: true,
  clean: false,
  treeshake: true,
  external: [/^@dirac\//, /^@tensorflow\//],
};

export default defineConfig([
  ...(Array.isArray(library) ? library : [library]),
  { ...browserBundle, format: [...browserBundle.format] },
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
