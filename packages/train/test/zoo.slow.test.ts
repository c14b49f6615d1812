import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { disposeModel, forward, type ModelSpec, type ZooIndex } from '@dirac/core';
import { loadModelDir, sha256Hex } from '@dirac/core/node';
import { loadPretrained } from '@dirac/models';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { installUpstream } from '../src/zoo/upstream-import';
import { cifarArchive, dirac, hasCifar, sharedData, tempDir, torchFixtures } from './cli-helpers';

const cifarSha = () =>
  readFileSync(join(sharedData, 'SHA256SUMS'), 'utf8')
    .split('\n')
    .find((l) => l.includes('cifar-10-binary.tar.gz'))!
    .split(/\s+/)[0];

describe.skipIf(!hasCifar)('zoo: publish a run, classify, loadPretrained (needs ../shared/data)', () => {
  const dir = tempDir('dirac-zoo-');
  const zoo = join(dir, 'zoo');
  const env = { DIRAC_ZOO_INDEX: join(zoo, 'index.json'), DIRAC_CACHE_DIR: join(dir, 'cache') };

  beforeAll(async () => {
    const train = await dirac([
      'train',
      '--model',
      'diracnet-10-1',
      '--data',
      cifarArchive,
      '--out',
      join(dir, 'run'),
      '--epochs',
      '1',
      '--train-limit',
      '256',
      '--test-limit',
      '100',
      '--batch-size',
      '64',
    ]);
    expect(train.code, train.stderr).toBe(0);
  }, 300_000);

  it('refuses an unfinished run with one line and writes nothing', async () => {
    const partial = join(dir, 'partial');
    mkdirSync(partial);
    writeFileSync(join(partial, 'run.json'), readFileSync(join(dir, 'run', 'run.json')));
    const r = await dirac(['zoo', 'add', partial, '--data', cifarArchive, '--zoo', join(dir, 'zoo2')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/has not finished \(0 of 1 epochs/);
    await expect(readFile(join(dir, 'zoo2', 'index.json'))).rejects.toThrow();
  });

  it('adds the run with metrics measured on all 10,000 test images and full provenance', async () => {
    const note = 'resumed twice before resumes were recorded';
    const r = await dirac([
      'zoo',
      'add',
      join(dir, 'run'),
      '--data',
      cifarArchive,
      '--zoo',
      zoo,
      '--note',
      note,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const index = JSON.parse(await readFile(join(zoo, 'index.json'), 'utf8')) as ZooIndex;
    expect(index.default).toBe('cifar10/diracnet-10-1');
    const entry = index.entries.find((e) => e.name === 'cifar10/diracnet-10-1')!;
    expect(entry.files.map((f) => f.path)).toEqual([
      'model.json',
      'weights.safetensors',
      'weights.fp16.safetensors',
    ]);
    for (const f of entry.files) {
      const bytes = await readFile(join(zoo, entry.path, f.path));
      expect([bytes.byteLength, sha256Hex(bytes)]).toEqual([f.bytes, f.sha256]);
    }
    expect(index.entries.find((e) => e.name === 'imagenet/diracnet-18')).toMatchObject({
      files: [],
      source: 'converted-from-upstream',
    });
    const spec = JSON.parse(await readFile(join(zoo, entry.path, 'model.json'), 'utf8')) as ModelSpec;
    const meta = spec.metadata as Record<string, Record<string, unknown>>;
    expect(meta.metrics).toMatchObject({ dataset: 'cifar10', split: 'test', n: 10_000 });
    expect(meta.metrics!.top1).toBe(entry.metrics!.top1);
    // the int8 variant: measured on ONNX Runtime, its activation ranges kept for @dirac/infer's dtype 'int8'
    expect(meta.metrics!.int8).toMatchObject({ calibration: { images: 256, method: 'minmax' } });
    expect(entry.metrics!.top1Int8).toBe((meta.metrics!.int8 as { top1: number }).top1);
    expect(Object.keys((meta.quantization!.int8 as { ranges: object }).ranges).length).toBeGreaterThan(5);
    expect(meta.provenance).toMatchObject({
      command: expect.stringMatching(/^dirac train --model diracnet-10-1 .*--epochs 1/),
      commit: expect.stringMatching(/^[0-9a-f]{40}(-dirty)?$/),
      dataset: { name: 'cifar10', file: 'cifar-10-binary.tar.gz', sha256: cifarSha() },
      epochs: 1,
      note,
    });
    expect(meta.provenance!.cpuTimeSeconds).toBeGreaterThan(0);
    expect(meta.provenance).not.toHaveProperty('resumes'); // this run never resumed
    for (const f of ['metrics.jsonl', 'curves.svg', 'curves.png']) {
      await expect(readFile(join(zoo, entry.path, f))).resolves.toBeTruthy();
    }
  });

  it('classifies the bundled photo with the default entry, and names a missing upstream import', async () => {
    const r = await dirac(['classify', '--json', '--top', '3'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { model: string; results: { image: string; top: unknown[] }[] };
    expect(out.model).toBe('cifar10/diracnet-10-1');
    expect(out.results[0]!.image).toMatch(/chelsea\.png$/);
    expect(out.results[0]!.top).toHaveLength(3);
    const missing = await dirac(['classify', '--model', 'diracnet-18'], { env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/npx dirac zoo import diracnet-18/);
  });

  it('loadPretrained gives the same logits as the entry folder, by full and short name, fp16 close', async () => {
    await tf.setBackend('cpu');
    const byDir = await loadModelDir(join(zoo, 'cifar10/diracnet-10-1'));
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const want = tf.tidy(() => forward(byDir.spec, byDir.tensors, x).arraySync() as number[][]);
    for (const [name, dtype, tol] of [
      ['cifar10/diracnet-10-1', 'float32', 1e-6],
      ['diracnet-10-1', 'float16', 2e-2],
    ] as const) {
      const before = tf.memory().numTensors;
      const m = await loadPretrained(name, { zoo: join(zoo, 'index.json'), dtype });
      const got = tf.tidy(() => forward(m.spec, m.tensors, x).arraySync() as number[][]);
      const worst = Math.max(...got.flat().map((v, i) => Math.abs(v - want.flat()[i]!)));
      expect(worst).toBeLessThan(tol * 10);
      disposeModel(m);
      expect(tf.memory().numTensors).toBe(before);
    }
    await expect(loadPretrained('imagenet/diracnet-34', { zoo: join(zoo, 'index.json') })).rejects.toThrow(
      /dirac zoo import diracnet-34/,
    );
    x.dispose();
    disposeModel(byDir);
  });
});

describe('zoo import (upstream ImageNet weights)', () => {
  const fixture = join(torchFixtures, 'imagenet-diracnet18-tiny-folded.pt');

  it('refuses a file whose sha256 does not match upstream, downloaded or local, writing nothing', async () => {
    const dir = tempDir('dirac-zoo-import-');
    const local = await dirac(['zoo', 'import', 'diracnet-18', '--file', fixture, '--zoo', join(dir, 'z')]);
    expect(local.code).not.toBe(0);
    expect(local.stderr).toMatch(
      /not upstream's diracnet18v2folded-a2174e15\.pth: its sha256 starts [0-9a-f]{8}/,
    );
    const body = readFileSync(fixture);
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const downloaded = await dirac(
      ['zoo', 'import', 'diracnet-18', '--url', `http://127.0.0.1:${port}/x.pth`, '--zoo', join(dir, 'z')],
      { env: { DIRAC_CACHE_DIR: join(dir, 'cache') } },
    );
    server.close();
    expect(downloaded.stderr).toMatch(/its sha256 starts/);
    await expect(readFile(join(dir, 'z', 'index.json'))).rejects.toThrow();
    const unknown = await dirac(['zoo', 'import', 'resnet-18']);
    expect(unknown.stderr).toMatch(/diracnet-18 and diracnet-34 only/);
  });

  it('installs a checked file as imagenet/<model> with ImageNet labels and OpenCV preprocessing', async () => {
    await tf.setBackend('cpu');
    const dir = tempDir('dirac-zoo-import-');
    const bytes = new Uint8Array(readFileSync(fixture));
    const upstream = { url: 'file:fixture', file: 'fixture.pt', sha256Prefix: sha256Hex(bytes).slice(0, 8) };
    await installUpstream('diracnet-18', upstream, bytes, dir);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ZooIndex;
    expect(index.entries).toHaveLength(1);
    expect(index.entries[0]).toMatchObject({
      name: 'imagenet/diracnet-18',
      source: 'converted-from-upstream',
    });
    const m = await loadPretrained('diracnet-18', { zoo: join(dir, 'index.json') });
    expect(m.spec.labels?.[0]).toBe('tench');
    expect(m.spec.labels).toHaveLength(1000);
    expect(m.spec.preprocessing).toMatchObject({ resize: 256, crop: 224, interpolation: 'bilinear-opencv' });
    disposeModel(m);
  });
});
