import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@dirac/source'] },
  ssr: { resolve: { conditions: ['@dirac/source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'bench/**/*.test.ts',
      'examples/**/*.test.ts',
      'docs/**/*.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
