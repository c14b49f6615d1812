import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { curvesSvg, svgToPng } from './plots';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('checkpoints', () => {
  it('round-trip state and tensors, keep the last two, and ignore a half-written one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    expect(await hasCheckpoint(dir)).toBe(false);
    const t = { 'model/w': tf.tensor([1, 2, 3]) };
    for (const step of [1, 2, 3])
      await saveCheckpoint(
        dir,
        { version: 1, epoch: 0, stepInEpoch: step, globalStep: step, wallTime: step },
        t,
      );
    // A crash while writing the next one leaves only a temporary folder behind.
    mkdirSync(join(dir, 'checkpoints', '.ckpt-000000004.tmp-1'));
    writeFileSync(join(dir, 'checkpoints', '.ckpt-000000004.tmp-1', 'tensors.safetensors'), 'partial');
    const { state, tensors } = await loadCheckpoint(dir);
    expect(state.globalStep).toBe(3);
    expect(Array.from(tensors['model/w']!.dataSync())).toEqual([1, 2, 3]);
    expect(readdirSync(join(dir, 'checkpoints')).filter((d) => d.startsWith('ckpt-'))).toEqual([
      'ckpt-000000002',
      'ckpt-000000003',
    ]);
    tf.dispose([...Object.values(t), ...Object.values(tensors)]);
  });

  it('keep the checkpoints of the last three epoch ends besides the last two', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    const t = { 'model/w': tf.tensor([1]) };
    // 4 steps per epoch, a checkpoint every 2 steps: epoch ends at global steps 4, 8, 12, 16, 20
    for (let step = 2; step <= 22; step += 2)
      await saveCheckpoint(
        dir,
        { version: 1, epoch: Math.floor(step / 4), stepInEpoch: step % 4, globalStep: step, wallTime: step },
        t,
      );
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(
      [8, 12, 16, 20, 22].map((s) => `ckpt-${String(s).padStart(9, '0')}`),
    );
    tf.dispose(Object.values(t));
  });

  it('says clearly when there is nothing to resume', async () => {
    await expect(loadCheckpoint(mkdtempSync(join(tmpdir(), 'ckpt-')))).rejects.toThrow(
      /no readable checkpoint/,
    );
  });
});

describe('curves', () => {
  it('renders loss and accuracy as SVG and PNG', () => {
    const svg = curvesSvg(
      [
        {
          label: 'train',
          color: '#00f',
          points: [
            [1, 2.1],
            [2, 1.5],
          ],
        },
      ],
      [
        {
          label: 'test',
          color: '#f00',
          points: [
            [1, 30],
            [2, 45],
          ],
        },
      ],
    );
    expect(svg).toContain('<polyline');
    expect(svg).not.toContain('stroke-dasharray');
    const png = svgToPng(svg);
    expect(Array.from(png.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]);
  });

  it('marks warm restarts on both panels and keeps the legend above the plot area', () => {
    const line = (label: string, y0: number) => ({
      label,
      color: '#00f',
      points: [1, 2, 3, 4].map((x) => [x, y0 + x] as [number, number]),
    });
    const svg = curvesSvg([line('train', 1)], [line('test', 50)], [{ x: 2, label: 'restart' }]);
    const dashed = [...svg.matchAll(/<line x1="([\d.]+)" x2="([\d.]+)"[^>]*stroke-dasharray/g)];
    expect(dashed).toHaveLength(2);
    for (const [, a, b] of dashed) expect(a).toBe(b);
    expect(svg.match(/>restart</g)).toHaveLength(2);
    const legendYs = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)" font-size="11">(train|test)</g)].map(
      (m) => Number(m[1]),
    );
    expect(legendYs).toEqual([18, 18]);
  });
});
