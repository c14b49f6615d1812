import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '../../..');
export const cliPath = join(repoRoot, 'packages/train/dist/cli.js');
export const sharedData = resolve(repoRoot, '../shared/data');
export const cifarArchive = join(sharedData, 'cifar-10-binary.tar.gz');
export const hasCifar = existsSync(cifarArchive);
export const torchFixtures = join(repoRoot, 'packages/models/test/fixtures/torch');

/** Runs the built `dirac` CLI (build first: `npm run build`). */
export function dirac(args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}) {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' before the tests`);
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
    env: { ...process.env, CI: 'true', ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

export function tempDir(prefix = 'dirac-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
