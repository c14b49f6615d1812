/**
 * The file (CJS build) or URL (ESM build) of the bundle this code runs in, to resolve packages installed
 * beside it; undefined where neither exists (a browser bundle). Written so that neither build needs tsup's
 * shims, whose ESM version imports 'path' and 'url' at the top of the module and breaks browser bundles.
 */
export function ownLocation(): string | undefined {
  if (typeof __filename === 'string') return __filename;
  try {
    return import.meta.url || undefined;
  } catch {
    return undefined;
  }
}
