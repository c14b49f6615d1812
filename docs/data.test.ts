/** The site's build-time data: the zoo table rows, the zoo files copied into the site, benchmark results. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zooAssets } from './.vitepress/site-assets';
import { readResults } from './benchmarks.data';
import { zooRows } from './zoo.data';

const work = mkdtempSync(join(tmpdir(), 'dirac-docs-data-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const trained = {
  name: 'cifar10/diracnet-10-1',
  dataset: 'cifar10',
  model: 'diracnet-10-1',
  arch: 'diracnet',
  depth: 10,
  width: 1,
  path: 'cifar10/diracnet-10-1',
  files: [
    { path: 'model.json', bytes: 900, sha256: 'a' },
    { path: 'weights.safetensors', bytes: 4_000_000, sha256: 'b', dtype: 'float32' },
    { path: 'weights.fp16.safetensors', bytes: 2_000_000, sha256: 'c', dtype: 'float16' },
  ],
  params: 1_000_000,
  metrics: { top1: 0.9012, top5: 0.995, top1Fp16: 0.9011 },
  source: 'trained-here',
};
const placeholder = {
  name: 'imagenet/diracnet-18',
  dataset: 'imagenet',
  arch: 'diracnet',
  depth: 18,
  width: 1,
  path: 'imagenet/diracnet-18',
  files: [],
  params: 11_511_784,
  source: 'converted-from-upstream',
};

describe('zoo table', () => {
  it('renders nothing for an empty index', () => {
    expect(zooRows({ formatVersion: 1, entries: [] })).toEqual([]);
  });

  it('flattens trained entries and upstream placeholders', () => {
    const [a, b] = zooRows({ formatVersion: 1, default: trained.name, entries: [trained, placeholder] });
    expect(a).toMatchObject({
      name: 'cifar10/diracnet-10-1',
      top1: 0.9012,
      top5: 0.995,
      bytes: 4_000_000,
      dtypes: ['float32', 'float16'],
      local: false,
      isDefault: true,
      modelJson: '/zoo/cifar10/diracnet-10-1/model.json',
    });
    expect(a!.curves).toBeUndefined();
    expect(b).toMatchObject({ name: 'imagenet/diracnet-18', local: true, isDefault: false, bytes: 0 });
    expect(b!.modelJson).toBeUndefined();
  });

  it('links the learning curves of entries whose folder has them', () => {
    const has = (path: string, file: string) => path === trained.path && file === 'curves.svg';
    const [a, b] = zooRows({ formatVersion: 1, entries: [trained, placeholder] }, 'x', has);
    expect(a!.curves).toBe('/zoo/cifar10/diracnet-10-1/curves.svg');
    expect(b!.curves).toBeUndefined();
  });

  it('fails the build on a malformed index', () => {
    expect(() => zooRows({ formatVersion: 2, entries: [] })).toThrow(/formatVersion/);
    expect(() => zooRows({ formatVersion: 1 })).toThrow(/entries/);
    expect(() => zooRows({ formatVersion: 1, entries: [{ ...trained, name: 3 }] })).toThrow(/name/);
  });

  it('copies the files of entries that have them into the site', () => {
    const zoo = join(work, 'zoo');
    mkdirSync(join(zoo, trained.path), { recursive: true });
    writeFileSync(
      join(zoo, 'index.json'),
      JSON.stringify({ formatVersion: 1, entries: [trained, placeholder] }),
    );
    expect(zooAssets(zoo).map((a) => a.url)).toEqual([
      'zoo/index.json',
      'zoo/cifar10/diracnet-10-1/model.json',
      'zoo/cifar10/diracnet-10-1/weights.safetensors',
      'zoo/cifar10/diracnet-10-1/weights.fp16.safetensors',
    ]);
    writeFileSync(join(zoo, trained.path, 'curves.svg'), '<svg/>');
    expect(zooAssets(zoo).map((a) => a.url)).toContain('zoo/cifar10/diracnet-10-1/curves.svg');
    writeFileSync(
      join(zoo, 'index.json'),
      JSON.stringify({ formatVersion: 1, entries: [{ ...trained, files: [{ path: '../../../x' }] }] }),
    );
    expect(() => zooAssets(zoo)).toThrow(/leaves zoo/);
  });
});

describe('benchmark results', () => {
  it('reads every committed result', () => {
    for (const r of readResults(join(__dirname, '..', 'bench', 'results'))) {
      expect(r.command).toMatch(/^(node|npx) /);
      expect(r.tables.length).toBeGreaterThan(0);
      expect(r.machine.cores).toBeGreaterThan(0);
    }
  });

  it('rejects a file that is not a result', () => {
    const dir = join(work, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.json'), JSON.stringify({ formatVersion: 1, tables: [] }));
    expect(() => readResults(dir)).toThrow(/not a benchmark result/);
    writeFileSync(
      join(dir, 'x.json'),
      JSON.stringify({
        formatVersion: 1,
        command: 'node x',
        date: '2026-01-01',
        tables: [{ title: 't', columns: ['a', 'b'], rows: [[1]] }],
      }),
    );
    expect(() => readResults(dir)).toThrow(/wrong length/);
  });
});
