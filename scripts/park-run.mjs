#!/usr/bin/env node
// Parks a training run in the repository so that a later session on another machine can resume it, and
// brings it back. A parked run is the run directory minus everything but its latest checkpoint (about 4 MB
// for DiracNet-34-1): run.json, checkpoint.json, metrics.jsonl, guard.jsonl, curves.svg and that checkpoint.
//
//   node scripts/park-run.mjs save runs/diracnet-34-1-l120 zoo/training/diracnet-34-1-l120
//   node scripts/park-run.mjs restore zoo/training/diracnet-34-1-l120 runs/diracnet-34-1-l120
//
// `save` replaces the parked copy atomically (a new folder renamed into place) and refuses to overwrite a
// parked copy that is further along than the run. `restore` refuses a run directory that already holds a
// checkpoint at or past the parked one, so neither direction can lose training.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const FILES = ['run.json', 'checkpoint.json', 'metrics.jsonl', 'guard.jsonl', 'curves.svg'];

function fail(message) {
  process.stderr.write(`park-run: ${message}\n`);
  process.exit(1);
}

/** The latest checkpoint's folder name and global step, or undefined when `dir` holds no run. */
function latest(dir) {
  const pointer = join(dir, 'checkpoint.json');
  if (!existsSync(pointer)) return undefined;
  const name = JSON.parse(readFileSync(pointer, 'utf8')).latest;
  const state = join(dir, 'checkpoints', name, 'state.json');
  if (!existsSync(state)) fail(`${pointer} points at ${name}, which has no state.json`);
  return { name, globalStep: JSON.parse(readFileSync(state, 'utf8')).globalStep };
}

/** Copies the run in `from` (its latest checkpoint only) to `to`, through a temporary sibling folder. */
function copyRun(from, to) {
  const ck = latest(from);
  if (!ck) fail(`${from} holds no run (no checkpoint.json)`);
  const tmp = join(dirname(to), `.${basename(to)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'checkpoints'), { recursive: true });
  for (const f of FILES) if (existsSync(join(from, f))) cpSync(join(from, f), join(tmp, f));
  cpSync(join(from, 'checkpoints', ck.name), join(tmp, 'checkpoints', ck.name), { recursive: true });
  const old = `${tmp}.old`;
  if (existsSync(to)) renameSync(to, old);
  renameSync(tmp, to);
  rmSync(old, { recursive: true, force: true });
  return ck;
}

const [command, from, to] = process.argv.slice(2);
if (!['save', 'restore'].includes(command) || !from || !to)
  fail('usage: node scripts/park-run.mjs save <run dir> <parked dir> | restore <parked dir> <run dir>');
const source = latest(from);
const target = latest(to);
if (source && target && target.globalStep >= source.globalStep)
  fail(`${to} is already at step ${target.globalStep} (${from}: ${source.globalStep}); nothing to do`);
const ck = copyRun(from, to);
process.stdout.write(`park-run: ${command}d ${from} -> ${to} (${ck.name}, step ${ck.globalStep})\n`);
