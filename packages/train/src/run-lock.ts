import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@dirac/core';

/** Who trains a run directory: its `run.lock` while a `dirac train` process works in it. */
export interface RunLockOwner {
  pid: number;
  host: string;
  since: string;
}

const LOCK = 'run.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of a run directory's lock, if any (a lock left by a process that is gone is not one). */
export async function runLockOwner(runDir: string): Promise<RunLockOwner | undefined> {
  let owner: RunLockOwner;
  try {
    owner = JSON.parse(await readFile(join(runDir, LOCK), 'utf8')) as RunLockOwner;
  } catch {
    return undefined;
  }
  if (owner.host === hostname() && !alive(owner.pid)) return undefined;
  return owner;
}

/**
 * Takes the run directory for this process, so that two processes never train (and checkpoint) the same run.
 * A lock left by a process of this machine that is gone (SIGKILL, a crash) is taken over.
 *
 * @returns the release function (idempotent)
 * @throws UsageError naming the process that holds the run
 */
export async function lockRun(runDir: string): Promise<() => Promise<void>> {
  const path = join(runDir, LOCK);
  const me: RunLockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    // Written whole, then linked into place: the link fails if the lock exists, and a reader never sees half.
    const tmp = `${path}.${process.pid}`;
    await writeFile(tmp, `${JSON.stringify(me)}\n`);
    try {
      await link(tmp, path);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await rm(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await rm(tmp, { force: true });
    }
    const owner = await runLockOwner(runDir);
    if (owner) {
      const where = owner.host === me.host ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`;
      throw new UsageError(
        `'${runDir}' is being trained by ${where} (since ${owner.since}); stop it first, or delete ${path} if that process is gone`,
      );
    }
    // A stale lock: removed, then the link is tried again. Two processes doing this at the same instant could
    // each remove the other's fresh lock; only simultaneous takeovers of a dead process's run can race so.
    await rm(path, { force: true });
  }
  throw new UsageError(`could not lock '${runDir}': another process keeps taking ${path}`);
}
