import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/run';
import { cifarArchive, cliPath, dirac, hasCifar, sharedData, tempDir } from './cli-helpers';

const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** Node arguments of a small JSON-mode run of DiracNet-10-0.5 (1,024 training images, batch 32). */
function smallRun(out: string, epochs: number, checkpointEvery: number): string[] {
  return [
    cliPath,
    'train',
    ...['--model', 'diracnet-10-0.5', '--data', cifarArchive, '--out', out, '--epochs', String(epochs)],
    ...['--train-limit', '1024', '--test-limit', '200', '--batch-size', '32'],
    ...['--checkpoint-every', String(checkpointEvery), '--json'],
  ];
}

describe.skipIf(!hasCifar)('training on real CIFAR-10 (needs ../shared/data)', () => {
  it('DiracNet-10-1 learns: well above chance on 1,000 test images after one epoch on 4,000 images', async () => {
    const out = join(tempDir(), 'run');
    const r = await dirac(
      [
        'train',
        '--model',
        'diracnet-10-1',
        '--data',
        cifarArchive,
        '--out',
        out,
        '--epochs',
        '1',
        '--train-limit',
        '4000',
        '--test-limit',
        '1000',
        '--batch-size',
        '32',
        '--lr',
        '0.05',
        '--schedule',
        'cosine',
        '--seed',
        '1',
      ],
      { timeoutMs: 900_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const [m] = metrics(out);
    // Measured here: 31% (chance is 10%).
    expect(m.testTop1).toBeGreaterThan(0.2);
    expect(m).toMatchObject({ epoch: 1, trainImages: 4000, testImages: 1000 });
    for (const k of ['lr', 'trainLoss', 'trainTop1', 'testLoss', 'testTop5', 'imagesPerSecond', 'wallTime'])
      expect(m[k]).toEqual(expect.any(Number));
    expect(m.cpuTime).toBeGreaterThan(0);
    expect(m.skippedSteps).toBe(0);
    expect(m.maxGradRatio).toBeGreaterThan(1);
    for (const f of [
      'curves.svg',
      'curves.png',
      'model/model.json',
      'folded/model.json',
      'folded/weights.fp16.safetensors',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    const ev = await dirac([
      'eval',
      '--model',
      join(out, 'folded'),
      '--data',
      cifarArchive,
      '--limit',
      '1000',
      '--json',
    ]);
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.n).toBe(1000);
    expect(Math.abs(e.top1 - m.testTop1)).toBeLessThan(0.005);
    expect(e.perClass).toHaveLength(10);
  });

  it('resumes after SIGKILL with no epoch lost or repeated', async () => {
    const out = join(tempDir(), 'run');
    const args = smallRun(out, 2, 10);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, { env: { ...process.env, CI: 'true' } });
      let checkpoints = 0;
      child.stdout.on('data', (d: Buffer) => {
        checkpoints += (d.toString().match(/"type":"checkpoint"/g) ?? []).length;
        // Kill mid-epoch 2, after a step checkpoint.
        if (checkpoints >= 5) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) =>
        signal === 'SIGKILL'
          ? resolve()
          : reject(new Error(`training ended before it was killed (${signal})`)),
      );
    });
    expect(metrics(out)).toHaveLength(1);
    // A setting changed on resume is recorded in the resume and kept in run.json for later resumes.
    const r = await dirac(['train', '--resume', out, '--json', '--grad-guard', '5'], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const start = JSON.parse(r.stdout.split('\n')[0]!);
    expect(start).toMatchObject({ type: 'start', resumed: true, epoch: 1 });
    expect(start.step).toBeGreaterThan(0);
    // The resume is recorded for the zoo's provenance: where in the run, when, from which commit.
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.resumes).toEqual([
      expect.objectContaining({
        epoch: 1,
        step: start.step,
        command: expect.stringMatching(/^dirac train --resume /),
        backend: 'wasm',
        changed: { gradGuard: { from: 10, to: 5 } },
      }),
    ]);
    expect(run.config.gradGuard).toBe(5);
    expect(Date.parse(run.resumes[0].at)).toBeGreaterThan(Date.parse(run.created));
    const m = metrics(out);
    expect(m.map((x) => x.epoch)).toEqual([1, 2]);
    expect(m.map((x) => x.trainImages)).toEqual([1024, 1024]);
    // CPU time carries over the kill like wall time: epoch 2 adds to epoch 1's total.
    expect(m[1].cpuTime).toBeGreaterThan(m[0].cpuTime);
    expect(readdirSync(join(out, 'checkpoints')).filter((d) => d.startsWith('.'))).toEqual([]);
  });

  it('SIGINT stops mid-epoch after a checkpoint (exit 130), and the resume loses no image', async () => {
    const out = join(tempDir(), 'run');
    const args = smallRun(out, 1, 5);
    const events: { type: string; step?: number; epoch?: number }[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { env: { ...process.env, CI: 'true' } });
      let buffered = '';
      let sent = false;
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const l of lines) events.push(JSON.parse(l));
        // After the first step checkpoint (step 5 of 32): the stop comes mid-epoch.
        if (!sent && events.some((e) => e.type === 'checkpoint')) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(130);
    const stopped = events.find((e) => e.type === 'stopped')!;
    expect(stopped).toMatchObject({ epoch: 1 });
    expect(stopped.step).toBeGreaterThan(5);
    expect(stopped.step).toBeLessThan(32);
    expect(events.at(-2)?.type).toBe('checkpoint'); // the stop's own checkpoint, just before
    const pointer = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).latest;
    const state = JSON.parse(readFileSync(join(out, 'checkpoints', pointer, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ epoch: 0, stepInEpoch: stopped.step });
    expect(existsSync(join(out, 'metrics.jsonl'))).toBe(false);
    const r = await dirac(['train', '--resume', out], { timeoutMs: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`resuming at epoch 1, step ${stopped.step}`);
    expect(metrics(out).map((m) => [m.epoch, m.trainImages])).toEqual([[1, 1024]]);
  });

  it('the gradient guard skips steps, logs and counts them, and stops a run whose every step it refuses', async () => {
    const out = join(tempDir(), 'run');
    // A factor of 1e-9 refuses every step once the guard has its 20-step median: steps 21-32 of epoch 1,
    // then epoch 2 until 25 refusals in a row stop the run.
    const r = await dirac(
      [
        'train',
        ...smallRun(out, 2, 100)
          .slice(2)
          .filter((a) => a !== '--json'),
        '--grad-guard',
        '1e-9',
      ],
      { timeoutMs: 600_000 },
    );
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n');
    const skips = lines.filter((l) => l.startsWith('dirac: skipped '));
    expect(skips).toHaveLength(25);
    expect(skips[0]).toMatch(
      /^dirac: skipped epoch 1 step 21: gradient norm \S+ against a median of \S+ \(largest: \S+ \S+, \S+ \S+, \S+ \S+\)$/,
    );
    // Each was computed twice before being skipped.
    const again = lines.filter((l) => / computed again: .* refused too$/.test(l));
    expect(again).toHaveLength(25);
    expect(again[0]).toMatch(/^dirac: epoch 1 step 21: gradient norm /);
    expect(r.stderr).toMatch(/dirac: error: .*refused 25 steps in a row/);
    // guard.jsonl keeps every event with each parameter's gradient norm, for studying faults afterwards.
    const guard = readFileSync(join(out, 'guard.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(guard.map((e) => e.type)).toEqual(
      Array.from({ length: 25 }, () => ['recomputed', 'skipped']).flat(),
    );
    expect(guard[1]).toMatchObject({ epoch: 1, step: 21 });
    expect(Object.keys(guard[1].norms)).toContain('fc.weight');
    expect(guard[0].first.norms['fc.weight']).toBe(guard[1].norms['fc.weight']);
    const [m] = metrics(out);
    expect(m).toMatchObject({ epoch: 1, skippedSteps: 12 });
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.config.gradGuard).toBe(1e-9);
  });

  it('refuses to train a run that another live process is training, naming it', async () => {
    const out = tempDir();
    const config = { ...DEFAULT_CONFIG, model: 'diracnet-10-0.5', data: cifarArchive, epochs: 1 };
    writeFileSync(join(out, 'run.json'), JSON.stringify({ config, spec: config.model, created: 'now' }));
    // this test's own process stands for the other trainer
    writeFileSync(
      join(out, 'run.lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), since: 'now' }),
    );
    const r = await dirac(['train', '--resume', out, '--train-limit', '64']);
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('dirac: error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`is being trained by process ${process.pid} \\(since now\\)`));
    expect(existsSync(join(out, 'run.lock'))).toBe(true); // still the other process's
  });

  it('bad inputs get one clear error line and a non-zero exit, with nothing half-written', async () => {
    const dir = tempDir();
    const short = join(dir, 'short');
    writeFileSync(join(dir, 'garbage.tar.gz'), 'not an archive at all');
    const cases: [string[], RegExp][] = [
      [['train', '--model', 'diracnet-11-1', '--data', cifarArchive, '--out', join(dir, 'a')], /6n \+ 4/],
      [['train', '--data', join(dir, 'missing.tar.gz'), '--out', join(dir, 'b')], /missing\.tar\.gz/],
      [['train', '--data', join(dir, 'garbage.tar.gz'), '--out', join(dir, 'c')], /garbage\.tar\.gz/],
      [
        ['train', '--data', cifarArchive, '--out', join(dir, 'garbage.tar.gz', 'run')],
        /cannot create run directory/,
      ],
      [['train', '--data', cifarArchive, '--out', join(dir, 'd'), '--schedule', 'linear'], /--schedule/],
      [['train', '--resume', short], /not a run directory/],
      [['eval', '--model', dir, '--data', cifarArchive], /model directory/],
    ];
    for (const [args, message] of cases) {
      const r = await dirac(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('dirac: error')).length,
      ).toBe(1);
    }
    for (const d of ['a', 'b', 'c', 'd']) expect(existsSync(join(dir, d, 'checkpoint.json'))).toBe(false);
  });

  it('refuses to resume a run with a different model', async () => {
    const out = join(tempDir(), 'run');
    const r1 = await dirac([
      'train',
      '--model',
      'diracnet-10-0.25',
      '--data',
      cifarArchive,
      '--out',
      out,
      '--epochs',
      '1',
      '--train-limit',
      '64',
      '--test-limit',
      '10',
      '--batch-size',
      '32',
    ]);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await dirac(['train', '--resume', out, '--model', 'diracnet-16-1']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/is a run of diracnet-10-0.25/);
  });
});

const samples = join(sharedData, 'imagenet-samples-100');

describe.skipIf(!existsSync(samples))('training on an ImageNet-style folder (needs ../shared/data)', () => {
  it('trains, evaluates and folds a small ImageNet DiracNet from class folders of real JPEGs', async () => {
    const labels = JSON.parse(readFileSync(join(samples, 'labels.json'), 'utf8')) as
      | Record<string, { name: string }>
      | { file: string; name: string }[];
    const files = readdirSync(join(samples, 'images')).sort();
    expect(files.length).toBeGreaterThan(8);
    expect(labels).toBeDefined();
    const root = tempDir();
    // Two made-up classes of real photographs, copied at test time (nothing from ../shared is committed).
    files.slice(0, 12).forEach((f, i) => {
      for (const split of ['train', 'val']) {
        const dir = join(root, split, i % 2 ? 'odd' : 'even');
        mkdirSync(dir, { recursive: true });
        if (split === 'train' || i < 4)
          copyFileSync(join(samples, 'images', f), join(dir, `${i}${f.slice(f.lastIndexOf('.'))}`));
      }
    });
    const out = join(root, 'run');
    const r = await dirac(
      [
        'train',
        '--model',
        'diracnet-18',
        '--dataset',
        'imagefolder',
        '--data',
        root,
        '--out',
        out,
        '--epochs',
        '1',
        '--batch-size',
        '4',
        '--lr',
        '0.01',
      ],
      { timeoutMs: 600_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const [m] = metrics(out);
    expect(m).toMatchObject({ epoch: 1, trainImages: 12, testImages: 4 });
    const spec = JSON.parse(readFileSync(join(out, 'folded', 'model.json'), 'utf8'));
    expect(spec).toMatchObject({ family: 'imagenet', numClasses: 2, labels: ['even', 'odd'] });
    const ev = await dirac([
      'eval',
      '--model',
      join(out, 'folded'),
      '--dataset',
      'imagefolder',
      '--data',
      root,
      '--split',
      'val',
      '--json',
    ]);
    expect(ev.code, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).n).toBe(4);
  });
});
