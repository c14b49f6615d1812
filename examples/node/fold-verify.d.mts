import type { FoldReport } from '@dirac/core';
/** Builds a model, folds it and verifies the fold; prints and returns the report. */
export function main(name?: string, print?: (line: string) => void): Promise<FoldReport>;
