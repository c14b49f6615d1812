import { DiracError, UsageError } from '@dirac/core';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Prints a command's result: JSON when asked, else the human text. */
export function emit(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** One clear error line on stderr and the exit code that fits the error. */
export function reportError(e: unknown): number {
  if (e instanceof DiracError) {
    process.stderr.write(`dirac: error: ${e.message}\n`);
    return e.code === 'E_USAGE' ? EXIT.usage : EXIT.failure;
  }
  const err = e as Error;
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') {
    process.stderr.write(`dirac: error: ${err.message}\n`);
    return EXIT.failure;
  }
  process.stderr.write(`dirac: internal error: ${err?.stack ?? String(e)}\n`);
  return EXIT.failure;
}

/** Parses a number option with a clear error. */
export function numberOption(
  name: string,
  value: string | undefined,
  opts: { integer?: boolean; min?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    !Number.isFinite(n) ||
    (opts.integer && !Number.isInteger(n)) ||
    (opts.min !== undefined && n < opts.min)
  ) {
    const what = opts.integer ? 'an integer' : 'a number';
    throw new UsageError(
      `--${name} must be ${what}${opts.min !== undefined ? ` >= ${opts.min}` : ''}; got '${value}'`,
    );
  }
  return n;
}
