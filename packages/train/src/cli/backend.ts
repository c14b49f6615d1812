import { type BackendInfo, type BackendRequest, UsageError, useBackend } from '@dirac/core';

const NAMES = ['auto', 'gpu', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu'];

/** Selects the backend a command asked for and says which one runs, on stderr. */
export async function selectBackend(name: string | undefined, quiet = false): Promise<BackendInfo> {
  const request = (name ?? 'auto') as BackendRequest;
  if (!NAMES.includes(request))
    throw new UsageError(`unknown backend '${name}'; use one of ${NAMES.join(', ')}`);
  const info = await useBackend(request);
  if (!quiet) process.stderr.write(`dirac: backend ${info.name} (${info.reason})\n`);
  return info;
}
