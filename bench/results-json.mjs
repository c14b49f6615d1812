/**
 * Benchmark results as JSON, for the docs site's benchmark page (docs/benchmarks.md renders every
 * bench/results/*.json). Each bench script that takes `--json <file>` writes one of these:
 *
 * {
 *   "formatVersion": 1, "benchmark": "train-speed", "title": "…", "command": "node bench/… --json …",
 *   "date": "2026-11-27T13:00:00.000Z", "machine": { "cpu", "cores", "memoryGiB", "platform", "node", "loadAverage" },
 *   "baseline": "what the ratios are against (measured in the same run)",
 *   "tables": [{ "title", "columns": [...], "rows": [[...]], "plot"?: { "label": 0, "value": 2, "unit": "img/s" } }],
 *   "notes": ["…"]
 * }
 *
 * Cells are strings or numbers; `plot` names the label column and the numeric column the page draws as bars.
 * `--note "<text>"` (repeatable) on the bench command line adds a remark to `notes`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';

/** The value after `--json` in argv, or undefined. */
export function jsonOutputPath(argv = process.argv) {
  const i = argv.indexOf('--json');
  if (i < 0) return undefined;
  const path = argv[i + 1];
  if (!path || path.startsWith('--')) throw new Error('--json needs a file name, e.g. bench/results/x.json');
  return path;
}

/** The machine a result was measured on. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.arch()}`,
    node: process.version,
    loadAverage: Number(os.loadavg()[0].toFixed(2)),
  };
}

/** The command line that ran this script, for the record ("node bench/x.mjs --steps 3 …"). */
export function commandLine(argv = process.argv) {
  const rel = (p) => (p.startsWith(process.cwd()) ? p.slice(process.cwd().length + 1) : p);
  const quote = (a) => (/^[\w./=:@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return ['node', ...argv.slice(1).map(rel)].map(quote).join(' ');
}

/** Every value of `--note <text>` in argv (free-text remarks on the run, e.g. a busy machine). */
export function notesFromArgv(argv = process.argv) {
  return argv.flatMap((a, i) => (a === '--note' && argv[i + 1] ? [argv[i + 1]] : []));
}

/**
 * Writes a result file (see the format above); fills in formatVersion, date, machine and command, and adds
 * the `--note` remarks of the command line to `notes`.
 */
export function writeResultsJson(path, result) {
  const notes = [...(result.notes ?? []), ...notesFromArgv()];
  const full = {
    formatVersion: 1,
    ...result,
    ...(notes.length ? { notes } : {}),
    date: result.date ?? new Date().toISOString(),
    machine: { ...machineInfo(), ...result.machine },
    command: result.command ?? commandLine(),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(full, null, 2)}\n`);
  return full;
}
