/**
 * Our WebAssembly SIMD training kernels in Debian's chromium (playwright-core): on tfjs-backend-wasm in a
 * page, the gradients of a DiracNet's training form match the cpu backend's, with our kernels and without
 * them, and the kernels really bind to the backend's heap: in a plain page (single-threaded backend, our
 * kernels' unshared-memory build) and in a cross-origin isolated one (threaded backend on a
 * SharedArrayBuffer heap, the shared-memory build). Skipped when /usr/bin/chromium is absent.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium, pageReport } from '../../../test-support/chromium';
import { openPageFixture, type PageFixture, type Served } from '../../../test-support/page-fixture';
import type { KernelsReport, Run } from './browser-kernels/page';

/** Largest |a − b| over a tensor, relative to the largest |b|. */
function relError(a: number[], b: number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / (scale || 1);
}

describe.skipIf(!haveChromium('browser kernels test'))('SIMD training kernels in chromium', () => {
  let fx: PageFixture;
  let isolated: Served;

  beforeAll(async () => {
    fx = await openPageFixture(join(__dirname, 'browser-kernels', 'page.ts'));
    isolated = await fx.serveAgain({
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
  }, 120_000);

  afterAll(() => fx?.close());

  const gradients = (srv: Served) =>
    pageReport<KernelsReport>(fx.browser, fx.pageUrl({ model: 'diracnet-10-1' }, srv), '__kernels');

  function expectCpuGradients(runs: Run[], where: string): void {
    const [cpu, simd, ops] = runs as [Run, Run, Run];
    expect(cpu.simdAvailable).toBe(false);
    expect(simd.simdAvailable).toBe(true);
    console.log(
      `gradient of diracnet-10-1, batch 8, in chromium (${where}): cpu ${cpu.ms.toFixed(0)} ms, wasm with our kernels ${simd.ms.toFixed(0)} ms, wasm tfjs ops only ${ops.ms.toFixed(0)} ms`,
    );
    const names = Object.keys(cpu.grads);
    expect(names.length).toBeGreaterThan(30);
    for (const run of [simd, ops]) {
      const worst = Math.max(...names.map((n) => relError(run.grads[n]!, cpu.grads[n]!)));
      console.log(
        `${run.backend}: largest gradient difference from cpu ${worst.toExponential(1)} (relative)`,
      );
      expect(Math.abs(run.loss - cpu.loss), run.backend).toBeLessThan(1e-4);
      for (const n of names)
        expect(relError(run.grads[n]!, cpu.grads[n]!), `${run.backend}: ${n}`).toBeLessThan(5e-4);
    }
  }

  it('gives the cpu backend gradients of DiracNet-10-1, with and without our kernels (one thread)', async () => {
    const r = await gradients(fx.server);
    expect(r.crossOriginIsolated).toBe(false);
    expect(r.sharedHeap).toBe(false);
    expectCpuGradients(r.runs, 'one thread');
  }, 200_000);

  it('does the same on the threaded backend of a cross-origin isolated page (shared-memory build)', async () => {
    const r = await gradients(isolated);
    expect(r.crossOriginIsolated).toBe(true);
    expect(r.sharedHeap).toBe(true);
    // tfjs-wasm's thread pool is half the logical cores, whatever setThreadsCount asks: 1 on 2 cores
    expect(r.wasmThreads).toBeGreaterThanOrEqual(1);
    expectCpuGradients(r.runs, `cross-origin isolated, ${r.wasmThreads} tfjs-wasm thread(s)`);
  }, 200_000);
});
