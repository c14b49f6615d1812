import { resolve } from 'node:path';
import { addRunToZoo } from '../../zoo/entry';
import { selectBackend } from '../backend';
import { emit, numberOption } from '../output';
import { startProgress } from '../progress';

interface ZooAddOptions {
  data: string;
  zoo: string;
  name?: string;
  commit?: string;
  note?: string;
  calibrationSize?: string;
  json?: boolean;
}

export async function run(runDir: string, opts: ZooAddOptions): Promise<number> {
  const calibrationImages = numberOption('calibration-size', opts.calibrationSize, { integer: true, min: 0 });
  await selectBackend('auto', opts.json);
  let bar: ReturnType<typeof startProgress> | undefined;
  let label = '';
  const spec = await addRunToZoo(runDir, {
    zooDir: resolve(opts.zoo),
    data: opts.data,
    name: opts.name,
    commit: opts.commit,
    note: opts.note,
    calibrationImages,
    onEval: (dtype, seen, total) => {
      if (dtype !== label) {
        bar?.stop();
        label = dtype;
        bar = startProgress(`eval ${dtype}`, total, { enabled: !opts.json, from: seen });
      }
      bar?.update(seen);
    },
  });
  bar?.stop();
  const m = spec.metadata?.metrics as {
    dataset: string;
    top1: number;
    top5: number;
    fp16: { top1: number };
    int8?: { top1: number };
  };
  const name = opts.name ?? `${m.dataset}/${spec.name}`;
  emit(Boolean(opts.json), { name, metrics: m }, () =>
    [
      `added ${name} to ${opts.zoo}: top-1 ${(100 * m.top1).toFixed(2)}%, top-5 ${(100 * m.top5).toFixed(2)}%`,
      `  fp16 weights: top-1 ${(100 * m.fp16.top1).toFixed(2)}%`,
      m.int8
        ? `  int8 (ONNX Runtime): top-1 ${(100 * m.int8.top1).toFixed(2)}%`
        : '  int8: not measured (onnxruntime-node is not installed, or --calibration-size 0)',
    ].join('\n'),
  );
  return 0;
}
