import { DEFAULT_GRAD_GUARD } from '../../run';
import { type RunStatus, runStatus } from '../../run-status';
import { emit } from '../output';
import { formatDuration } from '../run-eta';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function ago(iso: string): string {
  return `${formatDuration((Date.now() - Date.parse(iso)) / 1000)} ago`;
}

function trainer(s: RunStatus): string {
  const t = s.trainer;
  if (!t) return `none now (continue with dirac train --resume ${s.runDir})`;
  return `process ${t.pid} on ${t.host}, since ${t.since}`;
}

function describe(s: RunStatus): string {
  const c = s.config;
  const lines = [
    `${s.runDir}: ${c.model} on ${c.dataset}, ${c.schedule} schedule, peak lr ${c.lr}, batch ${c.batchSize}, ${c.epochs} epochs`,
  ];
  if (s.init) lines.push(`warm start   from ${s.init.from} (${s.init.earlierEpochs} earlier epochs)`);
  const steps = s.stepsPerEpoch ? ` of ${s.stepsPerEpoch}` : '';
  lines.push(
    s.finished
      ? `progress     finished: ${s.epochsDone} epochs, folded model in ${s.runDir}/folded`
      : s.epochsDone >= c.epochs
        ? `progress     all ${c.epochs} epochs trained, not folded yet: dirac train --resume ${s.runDir} finishes it`
        : `progress     epoch ${s.epochsDone + 1} of ${c.epochs}, step ${s.step}${steps}${s.checkpointAt ? `; last checkpoint ${ago(s.checkpointAt)}` : '; no checkpoint yet'}`,
  );
  if (!s.finished) lines.push(`trainer      ${trainer(s)}`);
  if (s.last) {
    const m = s.last;
    lines.push(
      `last epoch   ${m.epoch}: test top-1 ${pct(m.testTop1)} top-5 ${pct(m.testTop5)}, train top-1 ${pct(m.trainTop1)}, ${m.imagesPerSecond.toFixed(1)} img/s`,
    );
  }
  if (s.best) lines.push(`best         test top-1 ${pct(s.best.testTop1)} (epoch ${s.best.epoch})`);
  if (s.skippedSteps || s.recomputedSteps)
    lines.push(
      `guard        ${s.recomputedSteps} faulty gradient${s.recomputedSteps === 1 ? '' : 's'} recomputed, ${s.skippedSteps} step${s.skippedSteps === 1 ? '' : 's'} skipped (gradient norm over ${s.config.gradGuard ?? DEFAULT_GRAD_GUARD}x the recent median); see the run's log`,
    );
  const cpu = s.cpuTime === undefined ? 'CPU time not recorded' : `CPU ${formatDuration(s.cpuTime)}`;
  const resumes = `${s.resumes} resume${s.resumes === 1 ? '' : 's'}`;
  const left =
    s.etaSeconds === undefined || s.finished
      ? ''
      : `; about ${formatDuration(s.etaSeconds)} left at the recent pace`;
  lines.push(`time         ${formatDuration(s.wallTime)} wall (${cpu}), ${resumes}${left}`);
  return lines.join('\n');
}

export async function run(runDir: string, opts: { json?: boolean }): Promise<number> {
  const status = await runStatus(runDir);
  emit(Boolean(opts.json), status, () => describe(status));
  return 0;
}
