import type { Prediction } from '@dirac/infer';
/** Selects the backend, loads the model on it and classifies one image. */
export function main(
  argv: string[],
  print?: (line: string) => void,
): Promise<{ backend: string; top: Prediction[] }>;
