import { UsageError } from '../errors';

/**
 * Lower-case hex sha256 of some bytes, with WebCrypto (Node 20+, and browsers in secure contexts), so that
 * the same code verifies downloads everywhere. (`@dirac/core/node` has a synchronous one for Node.)
 */
export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new UsageError(
      'crypto.subtle is unavailable, so downloads cannot be verified: serve the page over https or from localhost',
    );
  }
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
