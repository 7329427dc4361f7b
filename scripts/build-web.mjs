// Build the browser demo into build/web/ (or the directory given): esbuild
// bundles of demo/web/app.ts and its Worker, the page, its icon, and the sample pages.
// Usage as a module: buildWeb(outdir). As a command: node scripts/build-web.mjs [outdir]
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));

/** Build the demo into `outdir`; returns outdir. */
export async function buildWeb(outdir = here("build/web")) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { app: here("demo/web/app.ts"), "sim-worker": here("demo/web/sim-worker.ts") },
    outdir, bundle: true, format: "esm", platform: "browser", target: "chrome120", sourcemap: true, logLevel: "warning",
  });
  copyFileSync(here("demo/web/index.html"), `${outdir}/index.html`);
  copyFileSync(here("demo/web/favicon.svg"), `${outdir}/favicon.svg`);
  copyFileSync(here("data/sample-anon.pages.lz4"), `${outdir}/sample-anon.pages.lz4`);
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2]);
  console.log(`built the browser demo in ${out}`);
}
