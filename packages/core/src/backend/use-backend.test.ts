import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BackendError } from '../errors';
import { useBackend } from './use-backend';

describe('useBackend', () => {
  it("'auto' in Node without tfjs-node picks wasm and says why the others were passed over", async () => {
    const info = await useBackend('auto', { warn: () => {} });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.gpu).toBe(false);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.rejected.map((r) => r.why).join(' ')).toMatch(/tfjs-node-gpu is not installed/);
  });

  it("'gpu' refuses to fall back to the CPU", async () => {
    await expect(useBackend('gpu')).rejects.toThrow(BackendError);
    await expect(useBackend('gpu')).rejects.toThrow(/Refusing to fall back/);
  });

  it('a named backend is used or the call throws', async () => {
    expect((await useBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await expect(useBackend('tensorflow')).rejects.toThrow(/tfjs-node is not installed/);
    await expect(useBackend('webgl')).rejects.toThrow(/not available in Node/);
  });
});
