/**
 * Build-time data of the benchmark page: every bench/results/*.json, as written by the bench scripts'
 * `--json <file>` flag (format: bench/results-json.mjs), newest first.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineLoader } from 'vitepress';
import type { BenchResult } from '../bench/results-json.mjs';

const resultsDir = fileURLToPath(new URL('../bench/results/', import.meta.url));

export interface BenchData {
  results: (BenchResult & { file: string })[];
}

/** Reads and checks the result files of a folder. */
export function readResults(dir: string): BenchData['results'] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const r = JSON.parse(readFileSync(join(dir, file), 'utf8')) as BenchResult;
      if (r.formatVersion !== 1 || !Array.isArray(r.tables) || !r.command || !r.date) {
        throw new Error(`bench/results/${file}: not a benchmark result (see bench/results-json.mjs)`);
      }
      for (const t of r.tables) {
        if (!Array.isArray(t.columns) || !t.rows.every((row) => row.length === t.columns.length)) {
          throw new Error(`bench/results/${file}: table '${t.title}' has rows of the wrong length`);
        }
      }
      return { ...r, file };
    })
    .sort((a, b) => b.date.localeCompare(a.date));
}

export default defineLoader({
  watch: [join(resultsDir, '*.json')],
  load: (): BenchData => ({ results: readResults(resultsDir) }),
});

declare const data: BenchData;

export { data };
