import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@dirac/core';
import { afterAll, describe, expect, it } from 'vitest';
import { lockRun, runLockOwner } from './run-lock';

const root = mkdtempSync(join(tmpdir(), 'dirac-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dir = (name: string) => mkdtempSync(join(root, `${name}-`));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('lockRun', () => {
  it('holds the run for this process until released, and refuses a second holder by name', async () => {
    const d = dir('held');
    const release = await lockRun(d);
    expect(await runLockOwner(d)).toMatchObject({ pid: process.pid, host: hostname() });
    const err = await lockRun(d).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(new RegExp(`is being trained by process ${process.pid} \\(since `));
    await release();
    await release(); // idempotent
    expect(await runLockOwner(d)).toBeUndefined();
    expect(readdirSync(d)).toEqual([]);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const d = dir('stale');
    const pid = deadPid();
    writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid, host: hostname(), since: 'then' }));
    expect(await runLockOwner(d)).toBeUndefined();
    const release = await lockRun(d);
    expect(await runLockOwner(d)).toMatchObject({ pid: process.pid });
    await release();
    expect(existsSync(join(d, 'run.lock'))).toBe(false);
  });

  it('lets exactly one of several takeovers of the same stale lock win, however they interleave', async () => {
    const d = dir('race');
    writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid: deadPid(), host: hostname(), since: 'then' }));
    // All three contenders find the stale lock; then each removes it only after the one before has finished:
    // the later ones must not remove the winner's fresh lock.
    let found = 0;
    let allFound: () => void = () => undefined;
    const gate = new Promise<void>((ok) => {
      allFound = ok;
    });
    const contenders: Array<Promise<() => Promise<void>>> = [];
    for (let i = 0; i < 3; i++)
      contenders.push(
        lockRun(d, {
          beforeTakeover: async () => {
            if (++found === 3) allFound();
            await gate;
            if (i > 0) await contenders[i - 1]!.catch(() => undefined);
          },
        }),
      );
    const results = await Promise.allSettled(contenders);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const r of results.slice(1)) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(UsageError);
    expect(await runLockOwner(d)).toMatchObject({ pid: process.pid });
    await (results[0] as PromiseFulfilledResult<() => Promise<void>>).value();
    expect(readdirSync(d)).toEqual([]);
  });

  it("refuses a lock of another machine's process, which it cannot check", async () => {
    const d = dir('remote');
    writeFileSync(join(d, 'run.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', since: 'then' }));
    await expect(lockRun(d)).rejects.toThrow(/process 1 on elsewhere/);
  });
});
