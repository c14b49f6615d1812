/** A static file server for the browser and download tests. */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

/**
 * A static file server on 127.0.0.1 (random port) over `root`, with extra folders mounted at URL prefixes
 * (e.g. `{ '/__test__/': dir }`), counting requests per path; `headers` go on every file response (e.g. the
 * COOP/COEP pair that makes a page cross-origin isolated).
 */
export async function serveDir(
  root: string,
  mounts: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<{
  url: string;
  server: Server;
  requests: Map<string, number>;
  close: () => Promise<void>;
}> {
  const requests = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const mount = Object.keys(mounts).find((m) => path.startsWith(m));
    const base = resolve(mount ? mounts[mount]! : root);
    const file = normalize(join(base, mount ? path.slice(mount.length) : path));
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'content-length': body.byteLength,
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        ...headers,
      });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
