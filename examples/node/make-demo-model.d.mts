import type { ModelSpec } from '@dirac/core';
/** Builds, folds and saves a random-weights demo model; returns its spec. */
export function makeDemoModel(
  dir: string,
  options?: { imagenet?: boolean; seed?: number },
): Promise<ModelSpec>;
