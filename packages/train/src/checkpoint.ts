import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, safetensorsToTensors, type TensorMap, tensorsToSafetensors } from '@dirac/core';
import { exists, writeFileAtomic } from '@dirac/core/node';
import type * as tf from '@tensorflow/tfjs-core';

/** What a checkpoint records besides tensors. */
export interface CheckpointState {
  version: 1;
  /** Epochs fully completed. */
  epoch: number;
  /** Steps completed within the current (next) epoch. */
  stepInEpoch: number;
  globalStep: number;
  /** Seconds of training so far, over every session of the run. */
  wallTime: number;
  /** CPU seconds of training so far (every thread), over every session; absent in runs begun without it. */
  cpuTime?: number;
  [key: string]: unknown;
}

const POINTER = 'checkpoint.json';
/** The latest checkpoints kept, whatever they are. */
const KEEP = 2;
/** Epoch-end checkpoints kept besides those, so that a run that went wrong can go back a few epochs. */
const EPOCH_ENDS_KEPT = 3;

function dirName(globalStep: number): string {
  return `ckpt-${String(globalStep).padStart(9, '0')}`;
}

/**
 * Writes a checkpoint so that a kill at any moment (SIGKILL included) leaves the previous one intact: the
 * files go into a temporary folder that is renamed into place, and only then does `checkpoint.json` (written
 * atomically) point at it. Of the older checkpoints, those at the ends of the last three epochs are kept
 * (to go back to one, point `checkpoint.json` at it), the others removed.
 */
export async function saveCheckpoint(
  runDir: string,
  state: CheckpointState,
  tensors: TensorMap,
): Promise<string> {
  const root = join(runDir, 'checkpoints');
  await mkdir(root, { recursive: true });
  const name = dirName(state.globalStep);
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeFileAtomic(join(tmp, 'tensors.safetensors'), tensorsToSafetensors(tensors));
  await writeFileAtomic(join(tmp, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await writeFileAtomic(join(runDir, POINTER), `${JSON.stringify({ latest: name })}\n`);
  await prune(root);
  return final;
}

async function prune(root: string): Promise<void> {
  const all = (await readdir(root)).filter((d) => d.startsWith('ckpt-')).sort();
  const older = all.slice(0, Math.max(0, all.length - KEEP));
  const epochEnds: string[] = [];
  for (const d of older) {
    const state = await readFile(join(root, d, 'state.json'), 'utf8').then(
      (text) => JSON.parse(text) as CheckpointState,
      () => undefined,
    );
    if (state?.stepInEpoch === 0) epochEnds.push(d);
  }
  const kept = new Set(epochEnds.slice(-EPOCH_ENDS_KEPT));
  for (const d of older) if (!kept.has(d)) await rm(join(root, d), { recursive: true, force: true });
}

/** Whether a run directory has a checkpoint to resume from. */
export async function hasCheckpoint(runDir: string): Promise<boolean> {
  return exists(join(runDir, POINTER));
}

/** The latest checkpoint's folder and state (no tensors), or a DataError naming what is missing. */
export async function readCheckpointState<S extends CheckpointState>(
  runDir: string,
): Promise<{ dir: string; state: S }> {
  let latest: string;
  try {
    latest = (JSON.parse(await readFile(join(runDir, POINTER), 'utf8')) as { latest: string }).latest;
  } catch (e) {
    throw new DataError(`'${runDir}' has no readable checkpoint to resume from (${(e as Error).message})`);
  }
  const dir = join(runDir, 'checkpoints', latest);
  const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as S;
  if (state.version !== 1)
    throw new DataError(`checkpoint '${dir}' has unsupported version ${String(state.version)}`);
  return { dir, state };
}

/** Loads the latest checkpoint of a run directory. The caller owns the returned tensors. */
export async function loadCheckpoint<S extends CheckpointState>(
  runDir: string,
): Promise<{ state: S; tensors: TensorMap }> {
  const { dir, state } = await readCheckpointState<S>(runDir);
  const tensors = safetensorsToTensors(new Uint8Array(await readFile(join(dir, 'tensors.safetensors'))));
  return { state, tensors };
}

/** Splits `prefix/name` keys of a checkpoint tensor map. */
export function withPrefix(tensors: TensorMap, prefix: string): TensorMap {
  const out: TensorMap = {};
  for (const [k, t] of Object.entries(tensors))
    if (k.startsWith(`${prefix}/`)) out[k.slice(prefix.length + 1)] = t;
  return out;
}

/** Prefixes every key of a tensor map. */
export function prefixed(tensors: Record<string, tf.Tensor>, prefix: string): TensorMap {
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [`${prefix}/${k}`, t]));
}
