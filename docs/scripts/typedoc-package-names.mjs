// A TypeDoc plugin: names each entry-point module after the package export it documents
// ('packages/infer/src/node.ts' → '@dirac/infer/node') instead of its path ('infer/src/node').
import { Converter, ReflectionKind } from 'typedoc';

/** 'core/src' → '@dirac/core', 'infer/src/node' → '@dirac/infer/node'. */
export function packageName(moduleName) {
  const m = /^(core|models|train|infer)\/src(?:\/(\w+))?$/.exec(moduleName);
  if (!m) return moduleName;
  return m[2] && m[2] !== 'index' ? `@dirac/${m[1]}/${m[2]}` : `@dirac/${m[1]}`;
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      mod.name = packageName(mod.name);
    }
  });
}
