import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot, tempDir } from './cli-helpers';

const park = (...args: string[]) =>
  spawnSync(process.execPath, [join(repoRoot, 'scripts/park-run.mjs'), ...args], { encoding: 'utf8' });

/** A run directory whose checkpoints are at the given global steps, the last one latest. */
function fakeRun(dir: string, steps: number[]): void {
  mkdirSync(join(dir, 'checkpoints'), { recursive: true });
  for (const step of steps) {
    const name = `ckpt-${String(step).padStart(9, '0')}`;
    mkdirSync(join(dir, 'checkpoints', name));
    writeFileSync(join(dir, 'checkpoints', name, 'state.json'), JSON.stringify({ globalStep: step }));
    writeFileSync(join(dir, 'checkpoints', name, 'tensors.safetensors'), `weights at ${step}`);
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ latest: name }));
  }
  writeFileSync(join(dir, 'run.json'), '{"config":{}}');
  writeFileSync(join(dir, 'metrics.jsonl'), `{"epoch":${steps.length}}\n`);
  writeFileSync(join(dir, 'run.lock'), 'pid');
}

it('park-run saves only the latest checkpoint, restores it, and never goes backwards', () => {
  const root = tempDir();
  const run = join(root, 'run');
  const parked = join(root, 'parked');
  fakeRun(run, [100, 200, 300]);

  const saved = park('save', run, parked);
  expect(saved.status, saved.stderr).toBe(0);
  expect(saved.stdout).toMatch(/saved .* \(ckpt-000000300, step 300\)/);
  expect(readdirSync(join(parked, 'checkpoints'))).toEqual(['ckpt-000000300']);
  expect(readdirSync(parked).sort()).toEqual(['checkpoint.json', 'checkpoints', 'metrics.jsonl', 'run.json']);

  // The parked copy is as far along as the run: saving again, or restoring over the run, is refused.
  expect(park('save', run, parked).stderr).toMatch(/already at step 300/);
  expect(park('restore', parked, run).stderr).toMatch(/already at step 300/);

  const elsewhere = join(root, 'elsewhere');
  const restored = park('restore', parked, elsewhere);
  expect(restored.status, restored.stderr).toBe(0);
  expect(readFileSync(join(elsewhere, 'checkpoints/ckpt-000000300/tensors.safetensors'), 'utf8')).toBe(
    'weights at 300',
  );

  // The run moves on; saving replaces the parked copy.
  fakeRun(run, [400]);
  expect(park('save', run, parked).status).toBe(0);
  expect(readdirSync(join(parked, 'checkpoints'))).toEqual(['ckpt-000000400']);
  expect(readdirSync(root).filter((d) => d.startsWith('.'))).toEqual([]);

  expect(park('save', join(root, 'nothing'), parked).stderr).toMatch(/holds no run/);
  expect(park('push', run, parked).stderr).toMatch(/usage/);
  expect(existsSync(join(parked, 'run.lock'))).toBe(false);
});
