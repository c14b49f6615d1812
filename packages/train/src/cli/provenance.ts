import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The command line as a user would retype it (arguments with shell metacharacters quoted). */
export function commandLine(argv: readonly string[] = process.argv.slice(2)): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['dirac', ...argv.map(quote)].join(' ');
}

function git(args: string[], cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, timeout: 5000 }, (err, out) => resolve(err ? undefined : out.trim()));
  });
}

/**
 * The git commit the running code comes from, with `-dirty` when tracked files differ from it; undefined
 * outside a git checkout (an installed package).
 */
export async function sourceCommit(): Promise<string | undefined> {
  const here = dirname(fileURLToPath(import.meta.url));
  const head = await git(['rev-parse', 'HEAD'], here);
  if (!head) return undefined;
  const status = await git(['status', '--porcelain', '--untracked-files=no'], here);
  return status ? `${head}-dirty` : head;
}
