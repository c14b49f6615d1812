/**
 * Resumable, verified, atomic file download (HTTP/HTTPS, redirects, Range resume), plus the official
 * CIFAR archive locations.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { DataError, UsageError } from '@dirac/core';

/** A downloadable dataset archive and its published checksum. */
export interface DatasetArchive {
  /** Official URL. */
  url: string;
  /** File name of the archive. */
  fileName: string;
  /**
   * MD5 published on the official page (https://www.cs.toronto.edu/~kriz/cifar.html). The page publishes
   * no SHA-256, so downloads of these archives are verified with MD5.
   */
  md5: string;
}

/** CIFAR-10, binary version (verified by the MD5 published on the CIFAR page). */
export const CIFAR10_BINARY: DatasetArchive = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  fileName: 'cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
};

/** CIFAR-100, binary version (verified by the MD5 published on the CIFAR page). */
export const CIFAR100_BINARY: DatasetArchive = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
  fileName: 'cifar-100-binary.tar.gz',
  md5: '03b5dce01913d631647c71ecec9e9cb8',
};

/** Progress of a download. */
export interface DownloadProgress {
  /** Bytes of the file present so far (including a resumed part). */
  loaded: number;
  /** Total size when the server said it. */
  total?: number;
}

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected SHA-256 (hex); the file is only moved into place when it matches. */
  sha256?: string;
  /** Expected MD5 (hex), for sources that publish only MD5 (e.g. the CIFAR archives). */
  md5?: string;
  /** Called as data arrives. */
  onProgress?: (e: DownloadProgress) => void;
  /** Aborts the download; the `.part` file is kept so a later call resumes. */
  signal?: AbortSignal;
  /** Reconnect-and-resume attempts after a dropped connection (default 3). */
  retries?: number;
  /** Most redirects followed (default 10). */
  maxRedirects?: number;
  /** Per-connection inactivity timeout in ms (default 60,000). */
  timeoutMs?: number;
}

/** Result of {@link downloadFile}. */
export interface DownloadResult {
  /** The destination path. */
  path: string;
  /** Size of the file. */
  bytes: number;
  /** True when a previous `.part` was continued with a Range request. */
  resumed: boolean;
  /** True when `dest` already existed with the expected checksum and nothing was downloaded. */
  cached: boolean;
}

/** A download failed: HTTP error status, network error, or unusable response. */
export class DownloadError extends DataError {
  /** The URL that failed (after redirects). */
  readonly url: string;
  /** HTTP status, when the server answered. */
  readonly status?: number;
  constructor(message: string, url: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.url = url;
    if (status !== undefined) this.status = status;
  }
}

/** Hex digest of a file, streamed. */
export async function hashFile(path: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

/** Checks `path` against the expected digests; returns a mismatch description or null. */
async function verify(path: string, options: DownloadOptions): Promise<string | null> {
  for (const alg of ['sha256', 'md5'] as const) {
    const want = options[alg]?.toLowerCase();
    if (!want) continue;
    const got = await hashFile(path, alg);
    if (got !== want) return `${alg} mismatch: expected ${want}, got ${got}`;
  }
  return null;
}

interface Response {
  res: http.IncomingMessage;
  url: string;
}

/** GET with redirects. */
function request(url: string, headers: Record<string, string>, options: DownloadOptions): Promise<Response> {
  const maxRedirects = options.maxRedirects ?? 10;
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const go = (current: string, left: number) => {
      let u: URL;
      try {
        u = new URL(current);
      } catch {
        reject(new UsageError(`invalid URL '${current}'`));
        return;
      }
      const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
      if (!mod) {
        reject(new UsageError(`unsupported URL scheme '${u.protocol}' in '${current}' (use http or https)`));
        return;
      }
      const req = mod.get(u, { headers, signal: options.signal, timeout: timeoutMs }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && status !== 304 && res.headers.location) {
          res.resume();
          if (left <= 0) {
            reject(new DownloadError(`too many redirects fetching ${url}`, current, status));
            return;
          }
          go(new URL(res.headers.location, u).toString(), left - 1);
          return;
        }
        resolve({ res, url: current });
      });
      req.on('timeout', () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
      req.on('error', (e) => reject(e));
    };
    go(url, maxRedirects);
  });
}

function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : Object.assign(new Error('download aborted'), { name: 'AbortError' });
}

/**
 * Downloads `url` to `dest`:
 * - writes to `dest + '.part'` and resumes it with an HTTP Range request if it exists (when the server
 *   ignores Range and sends the whole file, the part is restarted from zero); a dropped connection is
 *   retried (resuming) up to `retries` times;
 * - follows redirects; HTTP errors reject with a {@link DownloadError} carrying the status;
 * - verifies `sha256` and/or `md5` and only then renames the part into place (atomic on one file system);
 *   on a mismatch the part is deleted and a DataError thrown;
 * - when `dest` exists already and matches the given checksum, returns at once (`cached: true`).
 *
 * @throws UsageError for a bad URL; DownloadError (a DataError) for HTTP/network failures or a size
 *   mismatch; DataError for a checksum mismatch; the signal's reason when aborted (the part is kept).
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const hasChecksum = !!(options.sha256 || options.md5);
  if (hasChecksum && (await fileSize(dest)) !== null && (await verify(dest, options)) === null) {
    return { path: dest, bytes: (await fileSize(dest)) as number, resumed: false, cached: true };
  }
  await mkdir(dirname(dest), { recursive: true });
  const retries = options.retries ?? 3;
  let resumed = false;
  let restartedAfter416 = false;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const have = (await fileSize(part)) ?? 0;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    try {
      await transfer(url, part, have, headers, options, () => {
        resumed = resumed || have > 0;
      });
    } catch (e) {
      if (e instanceof RangeNotSatisfiable) {
        // The part is already complete, or bigger than the file: check it, else start over once.
        if (e.total !== undefined && e.total === have) break;
        if (restartedAfter416)
          throw new DownloadError(`server keeps refusing the range request for ${url}`, url, 416);
        restartedAfter416 = true;
        await rm(part, { force: true });
        continue;
      }
      if (options.signal?.aborted) throw abortError(options.signal);
      // Network errors, dropped connections and 408/429/5xx answers are retried (resuming).
      const status = e instanceof DownloadError ? e.status : undefined;
      const transient =
        !(e instanceof DataError || e instanceof UsageError) ||
        (status !== undefined && (status >= 500 || status === 408 || status === 429));
      if (transient && attempt < retries) {
        await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
        continue;
      }
      if (transient) {
        throw new DownloadError(
          `download of ${url} failed after ${attempt + 1} attempt(s): ${(e as Error).message}; ` +
            `run it again to resume from ${part}`,
          url,
          status,
          { cause: e },
        );
      }
      throw e;
    }
    break;
  }
  const mismatch = await verify(part, options);
  if (mismatch) {
    await rm(part, { force: true });
    throw new DataError(
      `${url}: ${mismatch}; the downloaded file was deleted, try again (or check the URL and checksum)`,
    );
  }
  await rename(part, dest);
  return { path: dest, bytes: (await fileSize(dest)) as number, resumed, cached: false };
}

class RangeNotSatisfiable extends Error {
  constructor(readonly total: number | undefined) {
    super('range not satisfiable');
  }
}

/** One connection: appends to (or restarts) the part file. Throws on a dropped connection. */
async function transfer(
  url: string,
  part: string,
  have: number,
  headers: Record<string, string>,
  options: DownloadOptions,
  onResume: () => void,
): Promise<void> {
  const { res, url: finalUrl } = await request(url, headers, options);
  const status = res.statusCode ?? 0;
  if (status === 416) {
    res.resume();
    const m = /\/(\d+)\s*$/.exec(String(res.headers['content-range'] ?? ''));
    throw new RangeNotSatisfiable(m ? Number(m[1]) : undefined);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new DownloadError(
      `HTTP ${status} ${res.statusMessage ?? ''} for ${finalUrl}`.trimEnd() +
        (status === 404
          ? ' (not found: check the URL)'
          : status >= 500
            ? ' (server error: try again later)'
            : ''),
      finalUrl,
      status,
    );
  }
  let offset = 0;
  let total: number | undefined;
  const length =
    res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : undefined;
  if (status === 206) {
    const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== have) {
      res.destroy();
      throw new DownloadError(
        `server answered the range request for ${finalUrl} with an unexpected Content-Range`,
        finalUrl,
        206,
      );
    }
    offset = have;
    total = m[3] === '*' ? undefined : Number(m[3]);
    onResume();
  } else {
    // 200: the whole file (the server ignored Range, or there was nothing to resume).
    total = length;
  }
  const fh = await open(part, offset > 0 ? 'a' : 'w');
  let loaded = offset;
  try {
    await new Promise<void>((resolve, reject) => {
      let writing = Promise.resolve();
      res.on('data', (chunk: Buffer) => {
        res.pause();
        writing = writing
          .then(() => fh.write(chunk))
          .then(() => {
            loaded += chunk.length;
            options.onProgress?.({ loaded, ...(total !== undefined ? { total } : {}) });
            res.resume();
          }, reject);
      });
      res.on('end', () => {
        writing.then(() => {
          if (!res.complete) reject(new Error('connection closed before the end of the response'));
          else resolve();
        }, reject);
      });
      res.on('aborted', () => reject(new Error('connection dropped mid-transfer')));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) writing.then(() => reject(new Error('connection dropped mid-transfer')), reject);
      });
    });
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (total !== undefined && loaded !== total) {
    if (loaded < total) throw new Error(`connection closed after ${loaded} of ${total} bytes`);
    throw new DownloadError(
      `${finalUrl}: received ${loaded} bytes, more than the announced ${total}`,
      finalUrl,
      status,
    );
  }
}
