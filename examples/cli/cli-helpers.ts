/** Runs the CLI example scripts as a user would: bash, from the repository root, with `npx dirac`. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repo = resolve(__dirname, '..', '..');
/** Whether the packages are built (the scripts run the built `dirac` CLI). */
export const built = existsSync(join(repo, 'packages/train/dist/cli.js'));
export const cifar = resolve(repo, '../shared/data/cifar-10-binary.tar.gz');

if (!built) console.warn('CLI examples skipped: run `npm run build` first');

/** Runs examples/cli/<script> with bash; resolves with its exit code and stdout + stderr. */
export function bash(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((ok, fail) => {
    const child = spawn('bash', [join(__dirname, script), ...args], {
      cwd: repo,
      env: { ...process.env, CI: 'true', ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => ok({ code, out }));
  });
}
