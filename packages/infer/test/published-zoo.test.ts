/**
 * The browser entry looks zoo names up in the published @dirac/zoo on jsDelivr when no `zooIndex` is
 * given. The CDN is played by a local server: a fetch that maps the CDN prefix onto it.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { disposeModel, useBackend } from '@dirac/core';
import { DownloadError, load, ZOO_URL } from '@dirac/infer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR_LABELS, makeModel, removeDir, saveTempModel, serveDir, tempDir } from './helpers';

const zooVersion = JSON.parse(await readFile(new URL('../../../zoo/package.json', import.meta.url), 'utf8'))
  .version as string;
const cdn = `https://cdn.jsdelivr.net/npm/@dirac/zoo@${zooVersion}/`;

let root: string;
let srv: Awaited<ReturnType<typeof serveDir>>;
const asked: string[] = [];
const page = globalThis as { location?: { href: string } };

/** fetch as a browser page would see it, with the CDN served from `root/cdn/`. */
const cdnFetch = ((input: RequestInfo | URL, init?: RequestInit) => {
  const url = String(input);
  asked.push(url);
  return fetch(url.startsWith(cdn) ? `${srv.url}/cdn/${url.slice(cdn.length)}` : url, init);
}) as typeof fetch;

beforeAll(async () => {
  await useBackend('wasm', { threads: 1 });
  const model = makeModel('diracnet-10-1', { labels: CIFAR_LABELS });
  const { dir, spec } = await saveTempModel(model);
  disposeModel(model);
  root = await tempDir('dirac-cdn-');
  for (const d of ['cdn/cifar10/diracnet-10-1', 'app/models/mine'])
    await mkdir(join(root, d), { recursive: true });
  for (const f of ['model.json', 'weights.safetensors']) {
    await copyFile(join(dir, f), join(root, 'cdn/cifar10/diracnet-10-1', f));
    await copyFile(join(dir, f), join(root, 'app/models/mine', f));
  }
  const entry = { name: 'cifar10/diracnet-10-1', path: 'cifar10/diracnet-10-1', files: spec.weights };
  await writeFile(join(root, 'cdn/index.json'), JSON.stringify({ entries: [entry] }));
  await removeDir(dir);
  srv = await serveDir(root);
  page.location = { href: `${srv.url}/app/` };
});

afterAll(async () => {
  delete page.location;
  await srv?.close();
  if (root) await removeDir(root);
});

describe('browser load() of a zoo name without a zooIndex option', () => {
  it('reads the index of the @dirac/zoo released with this package from jsDelivr', async () => {
    expect(ZOO_URL).toBe(`${cdn}index.json`);
    asked.length = 0;
    const m = await load('cifar10/diracnet-10-1', { fetch: cdnFetch, warmup: false });
    m.dispose();
    expect(asked).toEqual([
      `${cdn}index.json`,
      `${cdn}cifar10/diracnet-10-1/model.json`,
      `${cdn}cifar10/diracnet-10-1/weights.safetensors`,
    ]);
  });

  it('tries a name the zoo does not list as a URL relative to the page', async () => {
    asked.length = 0;
    const m = await load('models/mine', { fetch: cdnFetch, warmup: false });
    m.dispose();
    expect(asked[0]).toBe(`${cdn}index.json`);
    expect(asked.slice(1)).toEqual([
      `${srv.url}/app/models/mine/model.json`,
      `${srv.url}/app/models/mine/weights.safetensors`,
    ]);
    // URL-shaped strings never consult the zoo
    asked.length = 0;
    (await load('./models/mine/', { fetch: cdnFetch, warmup: false })).dispose();
    expect(asked.some((u) => u.startsWith(cdn))).toBe(false);
  });

  it('says both what the zoo and the page answered when neither has the model', async () => {
    const offline = ((input: RequestInfo | URL, init?: RequestInit) =>
      String(input).startsWith(cdn)
        ? Promise.reject(new TypeError('Failed to fetch'))
        : cdnFetch(input, init)) as typeof fetch;
    const err = await load('cifar10/diracnet-99-1', { fetch: offline, warmup: false }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(
      /neither in the zoo nor a model directory here: the zoo index .*could not be read/,
    );
    expect(err.message).toMatch(/404/);
    const missing = await load('cifar10/diracnet-99-1', { fetch: cdnFetch, warmup: false }).catch((e) => e);
    expect(missing.message).toMatch(/the published zoo \(.*\) does not list it/);
  });

  it('never asks the CDN with zooIndex: false', async () => {
    asked.length = 0;
    (await load('models/mine', { fetch: cdnFetch, warmup: false, zooIndex: false })).dispose();
    expect(asked.some((u) => u.startsWith(cdn))).toBe(false);
  });
});
