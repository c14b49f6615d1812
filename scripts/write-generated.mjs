// The shared tail of the scripts that generate committed files: with `--check`, exit 1 when the committed
// file differs from what the script generates now (tests run this); otherwise write it atomically.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Writes `text` to `outFile`, or with `--check` on the command line verifies that it is already there. */
export function writeOrCheck(outFile, text, regenerate) {
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(outFile, 'utf8');
    } catch {}
    if (current !== text) {
      console.error(`${outFile} is stale: run ${regenerate}`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(`${outFile}.tmp`, text);
  renameSync(`${outFile}.tmp`, outFile);
  console.log(`wrote ${outFile}`);
}
