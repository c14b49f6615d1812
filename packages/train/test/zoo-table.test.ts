import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from './cli-helpers';

it('the zoo tables in README.md and zoo/README.md are rendered from zoo/index.json', async () => {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts/zoo-table.mjs'), '--check']);
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  expect(stderr).toBe('');
  expect(code).toBe(0);
});
