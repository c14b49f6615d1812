import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCacheDir, userZooDir, zooIndexPaths } from './node';
import type { ZooIndex } from './types';
import { checkZooIndex, findZooEntry } from './zoo';

const entry = (name: string) => ({
  name,
  dataset: name.split('/')[0]!,
  model: name.split('/')[1]!,
  arch: 'diracnet' as const,
  depth: 10,
  width: 1,
  path: name,
  files: [],
  params: 1,
  source: 'trained-here' as const,
});

describe('zoo index', () => {
  const index: ZooIndex = {
    formatVersion: 1,
    entries: [entry('cifar10/diracnet-10-1'), entry('cifar100/diracnet-10-1'), entry('imagenet/diracnet-18')],
  };

  it('finds entries by full name, or by model name when only one entry has it', () => {
    expect(findZooEntry(index, 'cifar100/diracnet-10-1')?.dataset).toBe('cifar100');
    expect(findZooEntry(index, 'diracnet-18')?.name).toBe('imagenet/diracnet-18');
    expect(findZooEntry(index, 'diracnet-34')).toBeUndefined();
    expect(() => findZooEntry(index, 'diracnet-10-1')).toThrow(/ambiguous.*cifar10\/diracnet-10-1, cifar100/);
  });

  it('rejects JSON that is not an index', () => {
    expect(() => checkZooIndex({ entries: {} }, 'x.json')).toThrow(/x.json has no "entries" array/);
    expect(() => checkZooIndex({ entries: [{ name: 1 }] }, 'x.json')).toThrow(/without a name or path/);
    expect(checkZooIndex(index, 'x')).toBe(index);
  });
});

describe('zoo locations (Node)', () => {
  it('find the installed @dirac/zoo from outside the repository, and honour DIRAC_ZOO_INDEX first', async () => {
    const outside = realpathSync(mkdtempSync(join(tmpdir(), 'dirac-cwd-')));
    const found = await zooIndexPaths(outside);
    expect(found.some((p) => realpathSync(p) === resolve(__dirname, '../../../zoo/index.json'))).toBe(true);
    process.env.DIRAC_ZOO_INDEX = '/elsewhere/index.json';
    try {
      expect((await zooIndexPaths(outside))[0]).toBe('/elsewhere/index.json');
    } finally {
      delete process.env.DIRAC_ZOO_INDEX;
    }
  });

  it("keep converted models in the user's cache directory, never in node_modules", () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/c' }, 'linux', '/h')).toBe('/c/dirac');
    expect(defaultCacheDir({}, 'darwin', '/h')).toBe('/h/Library/Caches/dirac');
    expect(defaultCacheDir({ DIRAC_CACHE_DIR: '/d' }, 'linux', '/h')).toBe('/d');
    expect(userZooDir('/d')).toBe('/d/zoo');
  });
});
