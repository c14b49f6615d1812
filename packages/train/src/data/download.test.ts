import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from '@dirac/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_BINARY, CIFAR100_BINARY, DownloadError, downloadFile } from './download';

const body = randomBytes(300_000);
const sha256 = createHash('sha256').update(body).digest('hex');
const md5 = createHash('md5').update(body).digest('hex');

/** Requests seen by the server: path and Range header. */
const seen: { path: string; range?: string }[] = [];
let dropOnce = true;
let flaky = 1;
let server: http.Server;
let base = '';
let dir = '';

function sendRange(req: http.IncomingMessage, res: http.ServerResponse, data: Buffer): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    const start = Number(m[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      'content-length': data.length - start,
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
    });
    res.end(data.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': data.length });
  res.end(data);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dirac-dl-'));
  server = http.createServer((req, res) => {
    const path = req.url ?? '';
    seen.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (path === '/file') return sendRange(req, res, body);
    if (path === '/redirect') {
      res.writeHead(302, { location: '/file' });
      return res.end();
    }
    if (path === '/norange') {
      res.writeHead(200, { 'content-length': body.length });
      return res.end(body);
    }
    if (path === '/drop') {
      // First request: announce the full length, send a third, then kill the socket.
      if (dropOnce && !req.headers.range) {
        dropOnce = false;
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      return sendRange(req, res, body);
    }
    if (path === '/dropalways') {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, {
        'content-length': body.length - start,
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      res.write(body.subarray(start, start + 1000), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (path === '/flaky' && flaky-- > 0) {
      res.writeHead(503);
      return res.end('busy');
    }
    if (path === '/flaky') return sendRange(req, res, body);
    if (path === '/down') {
      res.writeHead(503);
      return res.end('busy');
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('downloadFile (local server on 127.0.0.1)', () => {
  it('downloads, verifies sha256 and md5, reports progress, and renames into place', async () => {
    const dest = join(dir, 'full.bin');
    const progress: { loaded: number; total?: number }[] = [];
    const r = await downloadFile(`${base}/file`, dest, { sha256, md5, onProgress: (e) => progress.push(e) });
    expect(r).toMatchObject({ path: dest, bytes: body.length, resumed: false, cached: false });
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
    expect(progress.at(-1)).toEqual({ loaded: body.length, total: body.length });
    // Second call with a checksum: nothing downloaded.
    const before = seen.length;
    const again = await downloadFile(`${base}/file`, dest, { sha256 });
    expect(again.cached).toBe(true);
    expect(seen.length).toBe(before);
  });

  it('follows redirects', async () => {
    const dest = join(dir, 'redir.bin');
    await downloadFile(`${base}/redirect`, dest, { sha256 });
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('resumes an existing .part with a Range request', async () => {
    const dest = join(dir, 'resume.bin');
    writeFileSync(`${dest}.part`, body.subarray(0, 123_456));
    seen.length = 0;
    const r = await downloadFile(`${base}/file`, dest, { sha256 });
    expect(r.resumed).toBe(true);
    expect(seen).toEqual([{ path: '/file', range: 'bytes=123456-' }]);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('resumes after the server drops the connection midway', async () => {
    const dest = join(dir, 'drop.bin');
    seen.length = 0;
    const r = await downloadFile(`${base}/drop`, dest, { sha256 });
    expect(readFileSync(dest).equals(body)).toBe(true);
    expect(r.resumed).toBe(true);
    expect(seen[0]).toEqual({ path: '/drop' });
    expect(seen[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(seen[1]?.range ?? '')?.[0])).toBeGreaterThan(0);
  });

  it('keeps the .part when retries run out, and a later call resumes it', async () => {
    const dest = join(dir, 'dropalways.bin');
    const err = await downloadFile(`${base}/dropalways`, dest, { sha256, retries: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(String(err.message)).toMatch(/failed after 2 attempt\(s\).*resume/);
    expect(statSync(`${dest}.part`).size).toBe(2000);
    seen.length = 0;
    await downloadFile(`${base}/file`, dest, { sha256 });
    expect(seen).toEqual([{ path: '/file', range: 'bytes=2000-' }]);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('restarts from zero when the server ignores Range', async () => {
    const dest = join(dir, 'norange.bin');
    writeFileSync(`${dest}.part`, Buffer.alloc(50_000, 7)); // garbage that must not survive
    seen.length = 0;
    const r = await downloadFile(`${base}/norange`, dest, { sha256 });
    expect(seen[0]?.range).toBe('bytes=50000-');
    expect(r.resumed).toBe(false);
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('accepts a .part that is already complete (416) after verifying it', async () => {
    const dest = join(dir, 'complete.bin');
    writeFileSync(`${dest}.part`, body);
    await downloadFile(`${base}/file`, dest, { md5 });
    expect(readFileSync(dest).equals(body)).toBe(true);
  });

  it('deletes the part and throws DataError on a checksum mismatch', async () => {
    const dest = join(dir, 'bad.bin');
    const err = await downloadFile(`${base}/file`, dest, { sha256: '0'.repeat(64) }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(String(err.message)).toMatch(/sha256 mismatch: expected 0{64}, got [0-9a-f]{64}.*deleted/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    const err2 = await downloadFile(`${base}/file`, dest, { md5: 'f'.repeat(32) }).catch((e) => e);
    expect(String(err2.message)).toMatch(/md5 mismatch/);
  });

  it('rejects HTTP 404 with a DownloadError carrying the status', async () => {
    const dest = join(dir, 'missing.bin');
    const err = await downloadFile(`${base}/nope`, dest).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err).toBeInstanceOf(DataError);
    expect(err.status).toBe(404);
    expect(String(err.message)).toMatch(/HTTP 404.*\/nope.*not found/);
    expect(existsSync(dest)).toBe(false);
  });

  it('retries 5xx answers, then reports the status', async () => {
    await downloadFile(`${base}/flaky`, join(dir, 'flaky.bin'), { sha256 });
    expect(readFileSync(join(dir, 'flaky.bin')).equals(body)).toBe(true);
    const err = await downloadFile(`${base}/down`, join(dir, 'down.bin'), { retries: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(503);
    expect(String(err.message)).toMatch(/after 2 attempt\(s\): HTTP 503/);
  });

  it('honours an AbortSignal and keeps the part', async () => {
    const dest = join(dir, 'abort.bin');
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(downloadFile(`${base}/file`, dest, { signal: ac.signal })).rejects.toThrow('stop');
  });

  it('publishes the official CIFAR URLs with their MD5 checksums', () => {
    expect(CIFAR10_BINARY.url).toBe('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz');
    expect(CIFAR10_BINARY.md5).toBe('c32a1d4ab5d03f1284b67883e8d87530');
    expect(CIFAR100_BINARY.url).toBe('https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz');
    expect(CIFAR100_BINARY.md5).toBe('03b5dce01913d631647c71ecec9e9cb8');
  });
});
