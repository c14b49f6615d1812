import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '../../..');
export const cliPath = join(repoRoot, 'packages/train/dist/cli.js');
export const sharedData = resolve(repoRoot, '../shared/data');
export const cifarArchive = join(sharedData, 'cifar-10-binary.tar.gz');
export const hasCifar = existsSync(cifarArchive);
export const torchFixtures = join(repoRoot, 'packages/models/test/fixtures/torch');

/** Result of a CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the built `dirac` CLI (build first: `npm run build`). Asynchronous on purpose: a synchronous spawn
 * would block the test worker's event loop and vitest's RPC with it.
 */
export function dirac(
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' before the tests`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, CI: 'true', ...options.env },
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, signal });
    });
  });
}

export function tempDir(prefix = 'dirac-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
