import { defineConfig, type Options } from 'tsup';

/** Shared tsup settings: ESM + CJS + .d.ts for every entry point, Node 20 target. */
export function packageConfig(entry: Record<string, string>, extra: Partial<Options> = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    treeshake: true,
    // Entry points of one package share classes (errors!) through the package's own name, never by copy.
    external: [/^@dirac\//],
    splitting: false,
    ...extra,
  });
}
