import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ZooResume } from '@dirac/core';
import type { EpochMetrics, RunResume } from './run';

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

/** run.json's resumes as the zoo records them (without the command line and backend). */
export function zooResumes(resumes: RunResume[] | undefined): { resumes?: ZooResume[] } {
  return resumes?.length
    ? { resumes: resumes.map(({ at, epoch, step, commit }) => ({ at, epoch, step, commit })) }
    : {};
}
