import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeModel, type ModelSpec, type ZooProvenance } from '@dirac/core';
import { loadModelDir } from '@dirac/core/node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { cifarArchive, dirac, hasCifar, tempDir } from './cli-helpers';

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; testTop1: number });

const tiny = ['--data', cifarArchive, '--epochs', '1', '--train-limit', '256', '--test-limit', '100'];
const train = (out: string, ...extra: string[]) =>
  dirac(['train', '--model', 'diracnet-10-0.5', ...tiny, '--out', out, ...extra]);

describe.skipIf(!hasCifar)(
  'dirac train --init: warm start from a finished run (needs ../shared/data)',
  () => {
    const dir = tempDir('dirac-init-');
    const source = join(dir, 'source');

    beforeAll(async () => {
      const r = await train(source, '--batch-size', '64');
      expect(r.code, r.stderr).toBe(0);
    }, 300_000);

    it('starts from the source weights, records the source run and continues its epochs in curves and the zoo', async () => {
      const run = join(dir, 'warm');
      // lr 0: every trained parameter stays as loaded; only batch-norm's running statistics move
      const r = await train(run, '--lr', '0', '--init', source);
      expect(r.code, r.stderr).toBe(0);
      const [a, b] = await Promise.all([
        loadModelDir(join(source, 'model')),
        loadModelDir(join(run, 'model')),
      ]);
      try {
        const trained = Object.keys(a.tensors).filter((k) => !/\.(mean|var)$/.test(k));
        expect(trained.length).toBeGreaterThan(20);
        for (const k of trained)
          expect(tf.max(tf.abs(tf.sub(a.tensors[k]!, b.tensors[k]!))).arraySync(), k).toBe(0);
      } finally {
        disposeModel(a);
        disposeModel(b);
      }
      const json = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
      expect(json.config.init).toBe(source);
      expect(json.init).toMatchObject({
        from: source,
        command: expect.stringMatching(/^dirac train --model diracnet-10-0\.5 /),
        epochs: 1,
        history: [expect.objectContaining({ epoch: 1 })],
      });
      expect(lines(join(run, 'metrics.jsonl')).map((m) => m.epoch)).toEqual([1]);

      const zoo = join(dir, 'zoo');
      const add = await dirac([
        'zoo',
        'add',
        run,
        '--data',
        cifarArchive,
        '--zoo',
        zoo,
        '--calibration-size',
        '0',
      ]);
      expect(add.code, add.stderr).toBe(0);
      const entry = join(zoo, 'cifar10', 'diracnet-10-0.5');
      const spec = JSON.parse(readFileSync(join(entry, 'model.json'), 'utf8')) as ModelSpec;
      const provenance = spec.metadata!.provenance as ZooProvenance;
      expect(provenance.command).toContain(`--init ${source}`);
      expect(provenance.init).toMatchObject({ from: source, epochs: 1, cpuTimeSeconds: expect.any(Number) });
      expect(provenance.init).not.toHaveProperty('history');
      const log = lines(join(entry, 'metrics.jsonl'));
      expect(log.map((m) => m.epoch)).toEqual([1, 2]);
      expect(log[0]!.testTop1).toBe(lines(join(source, 'metrics.jsonl'))[0]!.testTop1);
    }, 600_000);

    it('keeps every earlier cycle when warm-starting from a warm-started run, and marks each restart', async () => {
      const warm = join(dir, 'warm');
      const third = join(dir, 'third');
      const r = await train(third, '--lr', '0', '--init', warm);
      expect(r.code, r.stderr).toBe(0);
      const json = JSON.parse(readFileSync(join(third, 'run.json'), 'utf8'));
      expect(json.init).toMatchObject({ from: warm, epochs: 1, init: { from: source, epochs: 1 } });
      expect(json.init.history.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2]);
      expect(json.init.history[0].testTop1).toBe(lines(join(source, 'metrics.jsonl'))[0]!.testTop1);
      const svg = readFileSync(join(third, 'curves.svg'), 'utf8');
      expect(svg.match(/>restart</g)).toHaveLength(4); // after epochs 1 and 2, on both panels
    }, 600_000);

    it.each([
      [['--init', 'nowhere'], /--init: 'nowhere' is neither a run directory/],
      [['--init', 'SOURCE/folded'], /--init needs the training form .* is folded/],
      [
        ['--init', 'SOURCE', '--model', 'diracnet-10-1'],
        /--init: .* does not fit diracnet-10-1|is \[.*\] in/,
      ],
      [['--init', 'SOURCE', '--resume', 'SOURCE'], /--init starts a new run/],
    ])('refuses %j with one clear line', async (args, message) => {
      const out = join(dir, `bad-${Math.random().toString(36).slice(2)}`);
      const r = await dirac([
        'train',
        ...tiny,
        '--out',
        out,
        ...args.map((a) => a.replace('SOURCE', source)),
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  },
);
