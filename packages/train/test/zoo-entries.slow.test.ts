import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ZooIndex } from '@dirac/core';
import { sha256Hex } from '@dirac/core/node';
import { load } from '@dirac/infer/node';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loadCifar } from '../src/data/cifar';
import { cifarArchive, hasCifar, repoRoot } from './cli-helpers';

// Re-proves every published number: each zoo entry trained here, loaded through @dirac/infer exactly as users
// load it, on the full CIFAR-10 test set, must reach the top-1 its model.json records (within 0.1 point).
const indexPath = process.env.DIRAC_ZOO_INDEX ?? join(repoRoot, 'zoo/index.json');
const index = JSON.parse(readFileSync(indexPath, 'utf8')) as ZooIndex;
const trained = index.entries.filter((e) => e.source === 'trained-here');

async function top1(name: string, dtype: 'float32' | 'float16' | 'int8'): Promise<number> {
  const test = await loadCifar(cifarArchive, { split: 'test', shared: false });
  const model = await load(name, { dtype, zooIndex: indexPath, backend: 'auto' });
  let hits = 0;
  try {
    for (let start = 0; start < test.n; start += 500) {
      const images = [];
      for (let i = start; i < Math.min(start + 500, test.n); i++) {
        images.push({ data: test.images.subarray(i * 3072, (i + 1) * 3072), width: 32, height: 32 });
      }
      const logits = await model.infer(images);
      const predicted = tf.tidy(() => tf.argMax(logits, 1).dataSync());
      logits.dispose();
      predicted.forEach((p, j) => {
        if (p === test.labels[start + j]) hits++;
      });
    }
  } finally {
    model.dispose();
  }
  return hits / test.n;
}

describe.skipIf(!hasCifar)('zoo entries reach their recorded accuracy (needs ../shared/data)', () => {
  it('every file the index lists has its recorded size and sha256; trained entries record their metrics', () => {
    for (const entry of index.entries) {
      for (const f of entry.files) {
        const bytes = readFileSync(join(dirname(indexPath), entry.path, f.path));
        expect([f.path, bytes.byteLength, sha256Hex(bytes)]).toEqual([f.path, f.bytes, f.sha256]);
      }
      if (entry.source === 'trained-here') {
        expect(entry.metrics).toMatchObject({ top1: expect.any(Number), top1Fp16: expect.any(Number) });
      } else {
        expect(entry.upstream?.sha256Prefix).toMatch(/^[0-9a-f]{8}$/);
      }
    }
  });

  for (const entry of trained) {
    it(`${entry.name}: fp32 and fp16 top-1 on the 10,000 test images`, async () => {
      expect(entry.dataset).toBe('cifar10');
      expect(Math.abs((await top1(entry.name, 'float32')) - entry.metrics!.top1!)).toBeLessThanOrEqual(0.001);
      expect(Math.abs((await top1(entry.name, 'float16')) - entry.metrics!.top1Fp16!)).toBeLessThanOrEqual(
        0.001,
      );
      // The int8 (QDQ) network, run by ONNX Runtime from the activation ranges in model.json.
      if (entry.metrics?.top1Int8 !== undefined) {
        expect(Math.abs((await top1(entry.name, 'int8')) - entry.metrics.top1Int8)).toBeLessThanOrEqual(
          0.001,
        );
      }
    }, 600_000);
  }
});
