import { buildModel, type DatasetName, layerTable, modelCounts } from '@dirac/models';
import { emit, numberOption } from '../output';

interface InfoOptions {
  dataset?: DatasetName;
  width?: string;
  json?: boolean;
}

const fmt = (n: number) => n.toLocaleString('en-US');

export async function run(name: string, opts: InfoOptions): Promise<number> {
  const spec = buildModel(name, {
    dataset: opts.dataset,
    width: numberOption('width', opts.width, { min: 0 }),
  });
  const counts = modelCounts(spec);
  emit(
    Boolean(opts.json),
    { name: spec.name, family: spec.family, arch: spec.arch, numClasses: spec.numClasses, ...counts },
    () => {
      const rows = layerTable(spec).filter((r) => r.params > 0 || r.type === 'maxpool');
      const lines = rows.map(
        (r) =>
          `${(r.name || r.type).padEnd(24)} ${r.type.padEnd(10)} ${`[${r.output.join('x')}]`.padEnd(14)} ${fmt(r.params).padStart(12)} ${fmt(r.flops).padStart(16)}`,
      );
      return [
        `${spec.name} (${spec.family}, ${spec.numClasses} classes, input ${spec.inputShape.join('x')})`,
        `${'layer'.padEnd(24)} ${'type'.padEnd(10)} ${'output'.padEnd(14)} ${'params'.padStart(12)} ${'FLOPs'.padStart(16)}`,
        ...lines,
        '',
        `trainable parameters  ${fmt(counts.trainableParams)}`,
        `folded parameters     ${fmt(counts.foldedParams)}`,
        `forward FLOPs/image   ${fmt(counts.forwardFlops)} (2 x multiply-adds of convs and FC)`,
      ].join('\n');
    },
  );
  return 0;
}
