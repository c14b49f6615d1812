import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
  const text = await readLock(join(runDir, LOCK));
  return text === undefined ? undefined : liveOwner(text);
}

async function readLock(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function liveOwner(text: string): RunLockOwner | undefined {
  let owner: RunLockOwner;
  try {
    owner = JSON.parse(text) as RunLockOwner;
  } catch {
    return undefined;
  }
  if (owner.host === hostname() && !alive(owner.pid)) return undefined;
  return owner;
}

const unique = (path: string, what: string) =>
  `${path}.${what}.${process.pid}.${randomBytes(4).toString('hex')}`;

/**
 * Takes the run directory for this process, so that two processes never train (and checkpoint) the same run.
 * A lock left by a process of this machine that is gone (SIGKILL, a crash) is taken over.
 *
 * @param hooks for tests: `beforeTakeover` runs between finding a stale lock and removing it
 * @returns the release function (idempotent)
 * @throws UsageError naming the process that holds the run
 */
export async function lockRun(
  runDir: string,
  hooks: { beforeTakeover?: () => Promise<void> } = {},
): Promise<() => Promise<void>> {
  const path = join(runDir, LOCK);
  const me: RunLockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 4; attempt++) {
    if (await tryLink(path, `${JSON.stringify(me)}\n`)) {
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await rm(path, { force: true });
      };
    }
    const text = await readLock(path);
    if (text === undefined) continue; // released or taken over since: try again
    const owner = liveOwner(text);
    if (owner) {
      const where = owner.host === me.host ? `process ${owner.pid}` : `process ${owner.pid} on ${owner.host}`;
      throw new UsageError(
        `'${runDir}' is being trained by ${where} (since ${owner.since}); stop it first, or delete ${path} if that process is gone`,
      );
    }
    await hooks.beforeTakeover?.();
    await removeStale(path, text);
  }
  throw new UsageError(`could not lock '${runDir}': another process keeps taking ${path}`);
}

/** Writes the lock whole, then links it into place: false if a lock exists; a reader never sees half of one. */
async function tryLink(path: string, text: string): Promise<boolean> {
  const tmp = unique(path, 'new');
  await writeFile(tmp, text);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Removes the stale lock whose content was `stale`, and only that one: it is moved aside (atomic), and if what
 * was moved is not it (another process took the run over in between), it is linked back into place.
 */
async function removeStale(path: string, stale: string): Promise<void> {
  const aside = unique(path, 'stale');
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    if ((await readLock(aside)) !== stale) await link(aside, path).catch(() => undefined);
  } finally {
    await rm(aside, { force: true });
  }
}
