/** What {@link buildBrowserExample} built. */
export interface BrowserBuildInfo {
  /** Whether '@tensorflow/tfjs-backend-webgl' was found and bundled. */
  webgl: boolean;
  /** Per output file: minified and gzipped bytes. */
  outputs: Record<string, { bytes: number; gzip: number }>;
  /** Every module esbuild scanned. */
  inputs: string[];
}
/** Module folders from NODE_PATH, then the repository's node_modules. */
export function nodePaths(): string[];
/** Whether a package resolves from the repository or NODE_PATH. */
export function canResolve(pkg: string): boolean;
/** esbuild plugin leaving `node:` built-ins external (see build.mjs). */
export const nodeBuiltinsPlugin: import('esbuild').Plugin;
/** esbuild options shared by the example and the bundle-size script. */
export function browserBuildOptions(extra?: import('esbuild').BuildOptions): import('esbuild').BuildOptions;
/** Builds the example into examples/browser/dist. */
export function buildBrowserExample(): Promise<BrowserBuildInfo>;
