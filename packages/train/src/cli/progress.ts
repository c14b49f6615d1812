import cliProgress from 'cli-progress';

/** A progress display for long work: a bar on a terminal, plain lines otherwise (CI, pipes, files). */
export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

/** Whether to draw bars: a TTY on stderr and not CI. */
export function interactive(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.CI;
}

function formatFields(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join(' | ');
}

export interface ProgressOptions {
  /** Plain mode prints at most one line per `everyMs` (default 10 s). */
  everyMs?: number;
  enabled?: boolean;
  /** Units already done when the display starts (a resumed epoch): the ETA is timed from these on. */
  from?: number;
  /** Where plain lines go (default process.stderr). */
  write?: (line: string) => void;
}

/** Starts a progress display for `total` units of work. */
export function startProgress(label: string, total: number, options: ProgressOptions = {}): Progress {
  if (options.enabled === false) return { update() {}, stop() {} };
  if (interactive()) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% {value}/{total} | {fields} | ETA {eta_formatted}`,
        hideCursor: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, options.from ?? 0, { fields: '' });
    return {
      update: (done, fields = {}) => bar.update(done, { fields: formatFields(fields) }),
      stop: () => bar.stop(),
    };
  }
  const every = options.everyMs ?? 10_000;
  const from = options.from ?? 0;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const started = Date.now();
  let last = 0;
  return {
    update(done, fields = {}) {
      const now = Date.now();
      if (now - last < every && done < total) return;
      last = now;
      const elapsed = (now - started) / 1000;
      const eta = done > from ? `${Math.round((elapsed * (total - done)) / (done - from))}s` : '?';
      write(
        `${label} ${done}/${total} (${Math.floor((100 * done) / total)}%) | ${formatFields(fields)} | ETA ${eta}\n`,
      );
    },
    stop() {},
  };
}
