#!/usr/bin/env node
/**
 * Folds a training-form DiracNet into its deployed form and checks that both give the same outputs:
 *
 *   node examples/node/fold-verify.mjs [diracnet-10-1]
 *
 * The weights are random (seeded) and the batch-norm statistics non-trivial, so folding is not an identity.
 * Needs the packages built (`npm run build`).
 */
import { disposeModel, fold, useBackend, verifyFold } from '@dirac/core';
import { buildModel, initParams } from '@dirac/models';

/**
 * Builds a model, folds it and verifies the fold; prints and returns the report.
 * @param {string} [name] a CIFAR or ImageNet DiracNet name
 * @param {(line: string) => void} [print] where results go (default: console.log)
 */
export async function main(name = 'diracnet-10-1', print = console.log) {
  // #region fold
  const spec = buildModel(name); // training form: each block is ReLU → conv(Ŵ) → BN
  const training = { spec, tensors: initParams(spec, 1) };
  const folded = fold(training); // deployed form: each block is ReLU → conv(weight, bias)
  const report = verifyFold(training, folded); // the same random batch through both forms
  print(`${spec.name}: max relative error ${report.maxRelError.toExponential(1)} (ok: ${report.ok})`);
  print(`parameters: ${report.trainingParams} while training, ${report.foldedParams} deployed`);
  // #endregion fold
  disposeModel(training);
  disposeModel(folded);
  return report;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  await useBackend('auto');
  await main(process.argv[2]);
  process.exit(0);
}
