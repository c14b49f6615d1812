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

/** Starts a progress display for `total` units of work. Plain mode prints at most one line per `everyMs`. */
export function startProgress(
  label: string,
  total: number,
  options: { everyMs?: number; enabled?: boolean } = {},
): Progress {
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
    bar.start(total, 0, { fields: '' });
    return {
      update: (done, fields = {}) => bar.update(done, { fields: formatFields(fields) }),
      stop: () => bar.stop(),
    };
  }
  const every = options.everyMs ?? 10_000;
  const started = Date.now();
  let last = 0;
  return {
    update(done, fields = {}) {
      const now = Date.now();
      if (now - last < every && done < total) return;
      last = now;
      const elapsed = (now - started) / 1000;
      const eta = done > 0 ? Math.round((elapsed * (total - done)) / done) : 0;
      process.stderr.write(
        `${label} ${done}/${total} (${Math.floor((100 * done) / total)}%) | ${formatFields(fields)} | ETA ${eta}s\n`,
      );
    },
    stop() {},
  };
}
