// A TypeDoc plugin: names each entry-point module after the package export it documents
// ('packages/infer/src/node.ts' → '@dirac/infer/node') instead of its path ('infer/src/node').
import { Converter, ReflectionKind } from 'typedoc';
import { publicEntryPoints } from '../typedoc.config.mjs';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const byPath = new Map(
      publicEntryPoints().map((e) => [
        e.file
          .replace(/^.*\/packages\//, '')
          .replace(/\.ts$/, '')
          .replace(/\/index$/, ''),
        e.name,
      ]),
    );
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      mod.name = byPath.get(mod.name) ?? mod.name;
    }
  });
}
