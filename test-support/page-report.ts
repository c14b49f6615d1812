/**
 * Browser side of `pageReport` (chromium.ts): runs a test page's `main` and publishes its result as
 * `window[key]`, `{ status: 'done', ...result }` or `{ status: 'error', error }`.
 */
export function reportTo(key: string, main: () => Promise<object>): void {
  const w = window as unknown as Record<string, unknown>;
  main().then(
    (r) => {
      w[key] = { status: 'done', ...r };
    },
    (e: Error) => {
      w[key] = { status: 'error', error: `${e.message}\n${e.stack}` };
    },
  );
}
