/** Runs the Node examples the way a user would (through their exported main functions). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useBackend } from '@dirac/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encode, removeDir, syntheticRgb, tempDir } from '../../packages/infer/test/helpers';
import { main } from './classify.mjs';
import { makeDemoModel } from './make-demo-model.mjs';

let dir: string;
beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  dir = await tempDir('dirac-example-');
});
afterAll(() => removeDir(dir));

it('makes a demo model and classifies PNG and JPEG files with it', async () => {
  await makeDemoModel(join(dir, 'model'));
  await writeFile(join(dir, 'a.png'), await encode(syntheticRgb(32, 32, 1), 32, 32, 'png'));
  await writeFile(join(dir, 'b.jpg'), await encode(syntheticRgb(64, 48, 2), 64, 48, 'jpeg'));
  const lines: string[] = [];
  const results = await main(
    [join(dir, 'model'), join(dir, 'a.png'), join(dir, 'b.jpg'), '--topk', '3'],
    (l) => lines.push(l),
  );
  expect(results).toHaveLength(2);
  expect(results[0]!.top).toHaveLength(3);
  expect(lines[0]).toMatch(/^diracnet-10-1 on wasm, network on (onnxruntime|tfjs): /);
  expect(lines.join('\n')).toMatch(/a\.png\n {2}\w+ +\d+\.\d\d%/);
  const fp16 = await main([join(dir, 'model'), join(dir, 'a.png'), '--fp16'], () => {});
  expect(fp16[0]!.top).toHaveLength(5);
});
