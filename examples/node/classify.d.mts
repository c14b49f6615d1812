import type { Prediction } from '@dirac/infer';
/** Runs the classify example; returns the top-k of each image. */
export function main(
  argv: string[],
  print?: (line: string) => void,
): Promise<{ image: string; top: Prediction[] }[]>;
