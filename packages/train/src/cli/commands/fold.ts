import { disposeModel, FoldVerificationError, fold, verifyFold } from '@dirac/core';
import { loadModelDir, saveModelDir } from '@dirac/core/node';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';

interface FoldOptions {
  out: string;
  tolerance: string;
  fp16?: boolean;
  backend?: string;
  json?: boolean;
}

export async function run(dir: string, opts: FoldOptions): Promise<number> {
  const tolerance = numberOption('tolerance', opts.tolerance, { min: 0 })!;
  await selectBackend(opts.backend, opts.json);
  const training = await loadModelDir(dir);
  const folded = fold(training);
  const report = verifyFold(training, folded, { tolerance, batch: 2, seed: 0 });
  emit(Boolean(opts.json), report, () =>
    [
      `fold verification on input [${report.inputShape.join(', ')}]:`,
      `  max abs error  ${report.maxAbsError.toExponential(3)}`,
      `  max rel error  ${report.maxRelError.toExponential(3)} (tolerance ${tolerance})`,
      `  parameters     ${report.trainingParams.toLocaleString('en-US')} -> ${report.foldedParams.toLocaleString('en-US')}`,
    ].join('\n'),
  );
  if (!report.ok) {
    disposeModel(training);
    disposeModel(folded);
    throw new FoldVerificationError(
      `folded model differs from the training form by ${report.maxRelError.toExponential(3)} relative (tolerance ${tolerance}); nothing written`,
    );
  }
  await saveModelDir(opts.out, folded, { dtypes: opts.fp16 ? ['float32', 'float16'] : ['float32'] });
  if (!opts.json) process.stderr.write(`dirac: folded model written to ${opts.out}\n`);
  disposeModel(training);
  disposeModel(folded);
  return 0;
}
