/**
 * The packages as Node apps load them once installed: every subpath in every package's `exports`, from the
 * built dist files, through both `require` and `import`, in a fresh Node process (no '@dirac/source'
 * condition). Needs the packages built (`npm test` builds first).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const repo = resolve(__dirname, '..', '..', '..');

/** '@dirac/name' and '@dirac/name/sub' for every code subpath the packages export. */
function specifiers(): string[] {
  return readdirSync(join(repo, 'packages')).flatMap((dir) => {
    const pkg = JSON.parse(readFileSync(join(repo, 'packages', dir, 'package.json'), 'utf8'));
    return Object.keys(pkg.exports)
      .filter((k) => k !== './package.json')
      .map((k) => (k === '.' ? pkg.name : `${pkg.name}${k.slice(1)}`));
  });
}

const PROBE = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/index.js');
const out = {};
for (const s of JSON.parse(process.argv[1])) {
  out[s] = { cjs: Object.keys(require(s)).sort(), esm: Object.keys(await import(s)).filter((k) => k !== 'default').sort() };
}
console.log(JSON.stringify(out));
`;

it('every exported subpath loads from dist with require and with import, with the same names', () => {
  const specs = specifiers();
  const unbuilt = readdirSync(join(repo, 'packages')).filter(
    (d) => !existsSync(join(repo, 'packages', d, 'dist')),
  );
  if (unbuilt.length)
    throw new Error(`packages/{${unbuilt.join(',')}}/dist missing: run npm run build first`);
  expect(specs).toEqual(expect.arrayContaining(['@dirac/core', '@dirac/infer/node', '@dirac/train/browser']));
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, JSON.stringify(specs)], {
    cwd: repo,
    encoding: 'utf8',
  });
  const loaded = JSON.parse(stdout) as Record<string, { cjs: string[]; esm: string[] }>;
  for (const s of specs) {
    expect(loaded[s]!.esm.length, s).toBeGreaterThan(0);
    expect(loaded[s]!.cjs, s).toEqual(loaded[s]!.esm);
  }
  expect(loaded['@dirac/infer']!.esm).toEqual(expect.arrayContaining(['load', 'ZOO_URL']));
  expect(loaded['@dirac/infer/node']!.esm).toContain('load');
  expect(loaded['@dirac/models']!.esm).toEqual(expect.arrayContaining(['buildModel', 'loadPretrained']));
  expect(loaded['@dirac/core']!.esm).toEqual(expect.arrayContaining(['fold', 'verifyFold', 'useBackend']));
  expect(loaded['@dirac/train']!.esm).toContain('trainRun');
}, 60_000);
