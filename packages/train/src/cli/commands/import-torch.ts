import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { countParams, DataError, disposeModel } from '@dirac/core';
import { saveModelDir } from '@dirac/core/node';
import { modelFromUpstream, readTorchCheckpoint } from '@dirac/models';
import { selectBackend } from '../backend';
import { emit } from '../output';

export async function run(checkpoint: string, opts: { out: string; json?: boolean }): Promise<number> {
  const bytes = await readFile(checkpoint).catch((e: Error) => {
    throw new DataError(`cannot read checkpoint '${checkpoint}' (${e.message})`);
  });
  const ckpt = readTorchCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    inflateRaw: (d) => new Uint8Array(inflateRawSync(d)),
  });
  await selectBackend('cpu', true);
  const model = modelFromUpstream(ckpt);
  await saveModelDir(opts.out, model);
  const s = model.spec;
  const summary = {
    out: opts.out,
    name: s.name,
    family: s.family,
    form: s.form,
    depth: s.depth,
    width: s.width,
    numClasses: s.numClasses,
    params: countParams(s),
    checkpointFormat: ckpt.format,
  };
  emit(
    Boolean(opts.json),
    summary,
    () =>
      `imported ${s.name} (${s.family}, ${s.form} form, ${s.numClasses} classes, ${summary.params.toLocaleString('en-US')} parameters) from a ${ckpt.format}-format checkpoint into ${opts.out}`,
  );
  disposeModel(model);
  return 0;
}
