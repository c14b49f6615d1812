// Packs every workspace package and checks the tarballs the way consumers see them:
// publint (package.json correctness) and are-the-types-wrong (types for ESM and CJS resolve).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'dirac-pack-'));
const packages = readdirSync('packages');
let failed = false;
for (const name of packages) {
  const dir = join('packages', name);
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .pop();
  const tarball = join(out, file);
  for (const [tool, args] of [
    ['publint', ['publint', '--strict', tarball]],
    ['attw', ['attw', '--pack', dir, '--profile', 'node16', '--format', 'ascii']],
  ]) {
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
