import type { Prediction } from '@dirac/infer';
/** Selects the backend, loads the model with the engine asked for and classifies one image. */
export function main(
  argv: string[],
  print?: (line: string) => void,
): Promise<{ backend: string; engine: string; top: Prediction[] }>;
