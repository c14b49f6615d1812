import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, type ZooInit, type ZooResume } from '@dirac/core';
import type { RunInit } from './init';
import type { EpochMetrics, RunJson, RunResume } from './run';

/**
 * A run directory's run.json. A missing file is "not a run directory" followed by `hint` (what the command
 * could not do); a damaged one names the file and what is wrong with it.
 */
export async function readRunJson(runDir: string, hint?: string): Promise<RunJson> {
  const path = join(runDir, 'run.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`'${runDir}' is not a run directory (no run.json)${hint ? `; ${hint}` : ''}`);
  }
  let run: RunJson;
  try {
    run = JSON.parse(text) as RunJson;
  } catch (e) {
    throw new UsageError(`'${path}' is damaged: ${(e as Error).message}`);
  }
  if (typeof run?.config?.model !== 'string' || typeof run.config.epochs !== 'number')
    throw new UsageError(`'${path}' is damaged: it has no training config (config.model, config.epochs)`);
  return run;
}

/** A run directory's metrics.jsonl (empty before its first epoch ends). */
export async function readHistory(runDir: string): Promise<EpochMetrics[]> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochMetrics);
}

/** Per-epoch metrics as metrics.jsonl: one JSON object per line. */
export function historyJsonl(history: EpochMetrics[]): string {
  return `${history.map((m) => JSON.stringify(m)).join('\n')}\n`;
}

/** The run's CPU time as the zoo records it, where the run recorded it from its start. */
export function cpuTimeSeconds(last: EpochMetrics): { cpuTimeSeconds?: number } {
  return last.cpuTime !== undefined ? { cpuTimeSeconds: Math.round(last.cpuTime) } : {};
}

/** run.json's resumes as the zoo records them (without the command line and backend). */
export function zooResumes(resumes: RunResume[] | undefined): { resumes?: ZooResume[] } {
  return resumes?.length
    ? {
        resumes: resumes.map(({ at, epoch, step, commit, changed }) => ({
          at,
          epoch,
          step,
          commit,
          ...(changed ? { changed } : {}),
        })),
      }
    : {};
}

/**
 * The run's epochs after those of the runs it was warm-started from (`--init`, followed back to the first
 * run), numbered on from them.
 */
export function wholeHistory(history: EpochMetrics[], init?: RunInit): EpochMetrics[] {
  const before = init?.history ?? [];
  const offset = before.length ? before[before.length - 1]!.epoch : 0;
  return [...before, ...history.map((m) => ({ ...m, epoch: m.epoch + offset }))];
}

/** The epochs after which a warm restart began, earliest first (none for a run without `--init`). */
export function restartEpochs(init?: RunInit): number[] {
  let end = init?.history?.[init.history.length - 1]?.epoch;
  const out: number[] = [];
  for (let source: ZooInit | undefined = init; source && end !== undefined && end > 0; source = source.init) {
    out.unshift(end);
    end = source.init && source.epochs !== undefined ? end - source.epochs : undefined;
  }
  return out;
}
