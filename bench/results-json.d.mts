/** A table of a benchmark result. */
export interface ResultTable {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
  /** Columns to draw as bars: the label column and a numeric one. */
  plot?: { label: number; value: number; unit?: string };
}
/** A benchmark result file (bench/results/*.json). */
export interface BenchResult {
  formatVersion: 1;
  benchmark: string;
  title: string;
  command: string;
  date: string;
  machine: Record<string, string | number>;
  baseline?: string;
  tables: ResultTable[];
  notes?: string[];
}
export function jsonOutputPath(argv?: string[]): string | undefined;
export function machineInfo(): Record<string, string | number>;
export function commandLine(argv?: string[]): string;
export function notesFromArgv(argv?: string[]): string[];
export function writeResultsJson(
  path: string,
  result: Omit<BenchResult, 'formatVersion' | 'date' | 'machine' | 'command'> &
    Partial<Pick<BenchResult, 'date' | 'machine' | 'command'>>,
): BenchResult;
