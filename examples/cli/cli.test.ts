/**
 * Runs the CLI example scripts that the docs site's guides include, as a user would (bash, npx dirac),
 * with small limits. Needs the packages built; the CIFAR-10 script needs ../shared/data's archive.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNpy, serializeNpy } from '../../packages/train/src/io/npy';

const repo = resolve(__dirname, '..', '..');
const built = existsSync(join(repo, 'packages/train/dist/cli.js'));
const cifar = resolve(repo, '../shared/data/cifar-10-binary.tar.gz');
const fixtures = join(repo, 'packages/models/test/fixtures/torch');
const work = mkdtempSync(join(tmpdir(), 'dirac-cli-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

if (!built) console.warn('CLI examples skipped: run `npm run build` first');

function bash(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((ok, fail) => {
    const child = spawn('bash', [join(__dirname, script), ...args], {
      cwd: repo,
      env: { ...process.env, CI: 'true', ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => ok({ code, out }));
  });
}

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

  it.skipIf(!existsSync(cifar))(
    'cifar10.sh: trains, resumes, evaluates, folds and exports',
    async () => {
      const run = join(work, 'run');
      const r = await bash('cifar10.sh', [cifar, run], { TRAIN_LIMIT: '256', TEST_LIMIT: '200' });
      expect(r.code, r.out).toBe(0);
      const epochs = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n');
      expect(epochs).toHaveLength(2);
      // dirac eval --json (pretty-printed) among the training progress lines
      expect(r.out).toMatch(/"n": 200,/);
      expect(r.out).toMatch(/"top1": (0|1)(\.\d+)?,/);
      for (const f of ['model', 'folded', 'folded-again', 'model.onnx', 'web-model', 'curves.svg']) {
        expect(readdirSync(run)).toContain(f);
      }
      expect(readdirSync(join(run, 'folded-again'))).toContain('weights.fp16.safetensors');
    },
    600_000,
  );
});
