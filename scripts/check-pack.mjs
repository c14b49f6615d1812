// Packs every workspace package and checks the tarballs the way consumers see them:
// publint (package.json correctness) and are-the-types-wrong (types for ESM and CJS resolve).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'dirac-pack-'));
// zoo/ is @dirac/zoo: data only (no types), so publint alone.
const packages = [...readdirSync('packages').map((name) => [name, join('packages', name)]), ['zoo', 'zoo']];
let failed = false;
for (const [name, dir] of packages) {
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop();
  const tarball = join(out, file);
  const checks = [['publint', ['publint', '--strict', tarball]]];
  if (name !== 'zoo')
    checks.push(['attw', ['attw', '--pack', dir, '--profile', 'node16', '--format', 'ascii']]);
  for (const [tool, args] of checks) {
    try {
      const text = execFileSync('npx', ['--no-install', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      console.log(`ok   ${tool} @dirac/${name}`);
      if (process.argv.includes('--verbose')) console.log(text);
    } catch (e) {
      failed = true;
      console.log(`FAIL ${tool} @dirac/${name}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}
process.exit(failed ? 1 : 0);
