import { version } from '../package.json';
import { DataError, UsageError } from './errors';
import type { ZooEntry, ZooIndex } from './types';

/**
 * The index of the @dirac/zoo released with this version (the packages publish together), on jsDelivr's npm
 * CDN: where browsers, and Node without @dirac/zoo installed, look zoo names up by default.
 */
export const ZOO_URL = `https://cdn.jsdelivr.net/npm/@dirac/zoo@${version}/index.json`;

/** Whether a string is shaped like a zoo name ('cifar10/diracnet-34-1'): a dataset, a slash, a model. */
export function looksLikeZooName(s: string): boolean {
  return /^[a-z0-9][\w.-]*\/[\w.-]+$/i.test(s) && !/\.json$/i.test(s);
}

/** Checks that parsed JSON is a zoo index; `where` names it in errors. */
export function checkZooIndex(json: unknown, where: string): ZooIndex {
  const index = json as ZooIndex;
  if (!index || typeof index !== 'object' || !Array.isArray(index.entries)) {
    throw new DataError(`${where} has no "entries" array: it is not a zoo index`);
  }
  for (const e of index.entries) {
    if (!e || typeof e.name !== 'string' || typeof e.path !== 'string') {
      throw new DataError(`${where} has an entry without a name or path: ${JSON.stringify(e)}`);
    }
  }
  return index;
}

/**
 * The entry called `name`: its full name (`cifar10/diracnet-34-1`) or, when only one entry has it, the model
 * part alone (`diracnet-18`).
 *
 * @throws UsageError when the short name is ambiguous
 */
export function findZooEntry<E extends Pick<ZooEntry, 'name'> = ZooEntry>(
  index: { entries: readonly E[] },
  name: string,
): E | undefined {
  const exact = index.entries.find((e) => e.name === name);
  if (exact) return exact;
  const bySuffix = index.entries.filter((e) => e.name.endsWith(`/${name}`));
  if (bySuffix.length > 1) {
    throw new UsageError(
      `'${name}' is ambiguous in the zoo: say which one of ${bySuffix.map((e) => e.name).join(', ')}`,
    );
  }
  return bySuffix[0];
}
