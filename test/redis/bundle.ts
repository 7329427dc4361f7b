// Bundle a TypeScript Worker entry for a test (vitest does not transform
// Worker code): esbuild into build/test/, packages left external.
import { build } from "esbuild";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Bundle `entry` (a path from the repo root) and return the URL of the result. */
export async function bundleWorker(entry: string): Promise<URL> {
  const outfile = resolve("build/test", basename(entry).replace(/\.ts$/, ".mjs"));
  await build({
    entryPoints: [entry], outfile, bundle: true, format: "esm", platform: "node", target: "node20",
    packages: "external", sourcemap: "inline", logLevel: "warning",
  });
  return pathToFileURL(outfile);
}

/** URL of the built helper Worker (npm run build makes it). */
export const helperUrl = new URL("../../dist/ramster-worker.js", import.meta.url);
