import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNpy, serializeNpy } from '../src/io/npy';
import { DEFAULT_CONFIG } from '../src/run';
import { dirac, tempDir, torchFixtures } from './cli-helpers';

describe('dirac --version', () => {
  it('prints the version of @dirac/train', async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const r = await dirac([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });
});

describe('dirac train --help', () => {
  it('states the defaults of a new run as DEFAULT_CONFIG has them', async () => {
    const r = await dirac(['train', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    const d = DEFAULT_CONFIG;
    for (const [flag, value] of [
      ['--epochs <n>', d.epochs],
      ['--batch-size <n>', d.batchSize],
      ['--lr <x>', d.lr],
      ['--schedule <name>', d.schedule],
      ['--weight-decay <x>', d.weightDecay],
      ['--momentum <x>', d.momentum],
      ['--nesterov', d.nesterov ? 'on' : 'off'],
      ['--label-smoothing <x>', d.labelSmoothing],
      ['--seed <n>', d.seed],
      ['--grad-guard <factor>', d.gradGuard],
    ] as const)
      expect(help).toMatch(new RegExp(`${flag.replace(/[<>]/g, '\\$&')} [^(]*\\(new runs: ${value}\\)`));
    expect(help).toContain('--no-nesterov');
    expect(help).toContain('--no-winograd');
  });
});

describe('dirac status', () => {
  it('describes a run directory, as text and as JSON; a folder that is not a run is one error line', async () => {
    const dir = tempDir();
    const config = { ...DEFAULT_CONFIG, data: 'cifar', epochs: 12 };
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ config, spec: config.model, created: 'now' }));
    const text = await dirac(['status', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(
      `${dir}: diracnet-34-1 on cifar10, onecycle schedule, peak lr 0.1, batch 128, 12 epochs`,
    );
    expect(text.stdout).toMatch(/progress +epoch 1 of 12, step 0; no checkpoint yet/);
    const json = await dirac(['status', dir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ runDir: dir, epochsDone: 0, finished: false });
    const bad = await dirac(['status', join(dir, 'nowhere')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^dirac: error: .*is not a run directory/);
  });
});

describe('dirac info', () => {
  it.each([
    ['diracnet-28-10', ['--dataset', 'cifar10'], 36_450_090, 36_423_050],
    ['diracnet-18', [], 11_523_368, 11_511_784],
    ['diracnet-34', [], 21_638_952, 21_616_232],
  ])('%s --json prints upstream counts', async (name, extra, trainable, folded) => {
    const r = await dirac(['info', name, ...extra, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ trainableParams: trainable, foldedParams: folded });
    expect(j.forwardFlops).toBeGreaterThan(0);
  });

  it('prints a readable layer table', async () => {
    const r = await dirac(['info', 'diracnet-34-1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/group2\.block9\.conv/);
    expect(r.stdout).toMatch(/trainable parameters/);
  });

  it.each([
    [['info', 'diracnet-27-1'], /6n \+ 4/],
    [['info', 'resnext-50'], /unknown model/],
    [['info', 'diracnet-18', '--width', 'wide'], /--width must be a number/],
  ])('bad input %j: one error line, non-zero exit', async (args, message) => {
    const r = await dirac(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/^dirac: error: /);
  });
});

function npyInput(meta: { file: string; shape: number[] }, dir: string): string {
  const bytes = readFileSync(join(torchFixtures, meta.file));
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const path = join(dir, 'x.npy');
  writeFileSync(path, serializeNpy({ shape: meta.shape, data }));
  return path;
}

function maxRel(got: Float32Array, want: number[]): number {
  const ref = Math.max(...want.map(Math.abs));
  return Math.max(...want.map((v, i) => Math.abs(v - got[i]!))) / ref;
}

describe('dirac import-torch, predict and fold on upstream checkpoints', () => {
  for (const file of ['cifar-diracnet10-w0.25.pt', 'cifar-diracnet10-w0.25.legacy.pt']) {
    it(`${file}: import, predict gives upstream's logits, fold keeps them`, async () => {
      const meta = JSON.parse(readFileSync(join(torchFixtures, 'cifar-diracnet10-w0.25.json'), 'utf8'));
      const dir = tempDir();
      const imported = await dirac([
        'import-torch',
        join(torchFixtures, file),
        '--out',
        join(dir, 'training'),
        '--json',
      ]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(JSON.parse(imported.stdout)).toMatchObject({
        family: 'cifar',
        form: 'training',
        depth: 10,
        numClasses: 10,
      });
      const x = npyInput(meta.input, dir);
      for (const model of ['training', 'folded']) {
        if (model === 'folded') {
          const f = await dirac([
            'fold',
            join(dir, 'training'),
            '--out',
            join(dir, 'folded'),
            '--json',
            '--backend',
            'cpu',
          ]);
          expect(f.code, f.stderr).toBe(0);
          expect(JSON.parse(f.stdout).ok).toBe(true);
        }
        const p = await dirac([
          'predict',
          '--model',
          join(dir, model),
          '--input',
          x,
          '--output',
          join(dir, `${model}.npy`),
          '--backend',
          'cpu',
        ]);
        expect(p.code, p.stderr).toBe(0);
        const y = parseNpy(new Uint8Array(readFileSync(join(dir, `${model}.npy`))));
        expect(y.shape).toEqual([2, 10]);
        expect(maxRel(y.data, meta.logits.data)).toBeLessThan(1e-4);
      }
    });
  }

  it('folded ImageNet state_dict imports as the folded form and predicts upstream logits', async () => {
    const meta = JSON.parse(
      readFileSync(join(torchFixtures, 'imagenet-diracnet18-tiny-folded.json'), 'utf8'),
    );
    const dir = tempDir();
    const r = await dirac([
      'import-torch',
      join(torchFixtures, 'imagenet-diracnet18-tiny-folded.legacy.pt'),
      '--out',
      join(dir, 'm'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const p = await dirac([
      'predict',
      '--model',
      join(dir, 'm'),
      '--input',
      npyInput(meta.input, dir),
      '--output',
      join(dir, 'y.npy'),
    ]);
    expect(p.code, p.stderr).toBe(0);
    expect(
      maxRel(parseNpy(new Uint8Array(readFileSync(join(dir, 'y.npy')))).data, meta.logits.data),
    ).toBeLessThan(1e-4);
  });

  it.each([
    ['malicious.pt', /refusing to load/],
    ['malicious.legacy.pt', /refusing to load/],
    ['views.pt', /not an upstream DiracNet|missing/],
  ])('%s is refused with one clear line and nothing is written', async (file, message) => {
    const dir = tempDir();
    const r = await dirac(['import-torch', join(torchFixtures, file), '--out', join(dir, 'out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('a file that is not a checkpoint and a missing file get clear errors', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.pt'), 'just some text, not a checkpoint');
    for (const f of [join(dir, 'notes.pt'), join(dir, 'absent.pt')]) {
      const r = await dirac(['import-torch', f, '--out', join(dir, 'out')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^dirac: error: /);
    }
    expect(readdirSync(dir)).toEqual(['notes.pt']);
  });

  it('predict rejects NHWC input and a directory that is not a model', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.npy'), serializeNpy({ shape: [1, 32, 32, 3], data: new Float32Array(3072) }));
    const imported = await dirac([
      'import-torch',
      join(torchFixtures, 'cifar-diracnet10-w0.25.pt'),
      '--out',
      join(dir, 'm'),
    ]);
    expect(imported.code).toBe(0);
    const r = await dirac([
      'predict',
      '--model',
      join(dir, 'm'),
      '--input',
      join(dir, 'x.npy'),
      '--output',
      join(dir, 'y.npy'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NCHW/);
    const r2 = await dirac([
      'predict',
      '--model',
      dir,
      '--input',
      join(dir, 'x.npy'),
      '--output',
      join(dir, 'y.npy'),
    ]);
    expect(r2.stderr).toMatch(/model directory/);
    expect(existsSync(join(dir, 'y.npy'))).toBe(false);
  });
});
