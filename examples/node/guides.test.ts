/** Runs the Node examples that the docs site's guides include (fold-verify.mjs, engines.mjs). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useBackend } from '@dirac/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encode, removeDir, syntheticRgb, tempDir } from '../../packages/infer/test/helpers';
import { main as engines } from './engines.mjs';
import { main as foldVerify } from './fold-verify.mjs';
import { makeDemoModel } from './make-demo-model.mjs';

let dir: string;
beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  dir = await tempDir('dirac-guides-');
});
afterAll(() => removeDir(dir));

it('fold-verify: the folded model gives the training form outputs', async () => {
  const lines: string[] = [];
  const report = await foldVerify('diracnet-10-1', (l) => lines.push(l));
  expect(report.ok).toBe(true);
  expect(report.maxRelError).toBeLessThan(1e-5);
  expect(report.foldedParams).toBeLessThan(report.trainingParams);
  expect(lines[0]).toMatch(/^diracnet-10-1: max relative error \d\.\de-\d+ \(ok: true\)$/);
});

it('engines: reports the backend and the engine, and both engines agree', async () => {
  await makeDemoModel(join(dir, 'model'));
  await writeFile(join(dir, 'a.png'), await encode(syntheticRgb(32, 32, 3), 32, 32, 'png'));
  const run = async (engine: string) => {
    const lines: string[] = [];
    const r = await engines([join(dir, 'model'), join(dir, 'a.png'), 'wasm', engine], (l) => lines.push(l));
    expect(r.backend).toBe('wasm');
    expect(r.engine).toBe(engine);
    expect(r.top).toHaveLength(3);
    expect(lines[0]).toMatch(/^backend wasm \(gpu: false, threads: \d+\): /);
    expect(lines.at(-2)).toMatch(new RegExp(`^engine ${engine} \\(\\w+\\): `));
    expect(lines.at(-1)).toMatch(/^diracnet-10-1: \w+ \d+\.\d%$/);
    return r.top;
  };
  const tfjs = await run('tfjs');
  const ort = await run('onnxruntime');
  tfjs.forEach((p, i) => {
    expect(Math.abs(p.probability - ort[i]!.probability)).toBeLessThan(1e-4);
  });
});
