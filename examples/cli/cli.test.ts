/**
 * Runs examples/cli/import-upstream.sh (included by the docs' upstream-weights guide) on the small
 * upstream-format checkpoint of the test fixtures. Needs the packages built.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNpy, serializeNpy } from '../../packages/train/src/io/npy';
import { bash, built, repo } from './cli-helpers';

const fixtures = join(repo, 'packages/models/test/fixtures/torch');
const work = mkdtempSync(join(tmpdir(), 'dirac-cli-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!built)('CLI examples', () => {
  it('import-upstream.sh: imports, folds and predicts like upstream PyTorch', async () => {
    const meta = JSON.parse(readFileSync(join(fixtures, 'cifar-diracnet10-w0.25.json'), 'utf8'));
    const raw = readFileSync(join(fixtures, meta.input.file));
    const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    writeFileSync(join(work, 'x.npy'), serializeNpy({ shape: meta.input.shape, data }));
    const out = join(work, 'imported');
    const r = await bash('import-upstream.sh', [
      join(fixtures, 'cifar-diracnet10-w0.25.pt'),
      join(work, 'x.npy'),
      out,
    ]);
    expect(r.code, r.out).toBe(0);
    const logits = parseNpy(readFileSync(join(out, 'logits.npy')));
    const want = meta.logits.data as number[];
    const scale = Math.max(...want.map(Math.abs));
    want.forEach((v, i) => {
      expect(Math.abs(Number(logits.data[i]) - v) / scale).toBeLessThan(1e-4);
    });
  });
});
