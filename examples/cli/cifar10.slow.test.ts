/**
 * Runs examples/cli/cifar10.sh (included by the docs' training, resume and fold/export guides) end to end
 * on a few hundred CIFAR-10 images: train, resume for a second epoch, evaluate, fold, export. Real data, so
 * a slow test; needs the packages built and ../shared/data/cifar-10-binary.tar.gz.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { bash, built, cifar } from './cli-helpers';

const work = mkdtempSync(join(tmpdir(), 'dirac-cli-cifar-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it.skipIf(!built || !existsSync(cifar))(
  'cifar10.sh: trains, resumes, evaluates, folds and exports',
  async () => {
    const run = join(work, 'run');
    const r = await bash('cifar10.sh', [cifar, run], { TRAIN_LIMIT: '256', TEST_LIMIT: '200' });
    expect(r.code, r.out).toBe(0);
    const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(epochs).toHaveLength(2);
    // dirac eval --json (pretty-printed) among the training progress lines
    expect(r.out).toMatch(/"n": 200,/);
    expect(r.out).toMatch(/"top1": (0|1)(\.\d+)?,/);
    // the int8 export's speed against float32 (bench/onnx-variants.bench.mjs)
    expect(r.out).toMatch(/batch 64: model\.onnx \d+ img\/s \(x1\.00\), model\.int8\.onnx \d+ img\/s/);
    for (const f of [
      'model',
      'folded',
      'folded-again',
      'model.onnx',
      'model.int8.onnx',
      'web-model',
      'curves.svg',
    ]) {
      expect(readdirSync(run)).toContain(f);
    }
    expect(readdirSync(join(run, 'folded-again'))).toContain('weights.fp16.safetensors');
  },
  600_000,
);
