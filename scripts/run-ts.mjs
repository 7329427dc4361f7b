// Run a TypeScript file under Node 20 (which cannot run .ts itself): bundle it
// with esbuild into build/run/ and import it. Used by bench/ and scripts.
// Usage: node scripts/run-ts.mjs file.ts [args...]
import { build } from "esbuild";
import { basename, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error("usage: run-ts.mjs file.ts [args...]");
  process.exit(2);
}
const outfile = resolve("build/run", basename(file).replace(/\.ts$/, ".mjs"));
await build({
  entryPoints: [file], outfile, bundle: true, format: "esm", platform: "node", target: "node20",
  packages: "external", sourcemap: "inline", logLevel: "warning",
});
process.argv = [process.argv[0], outfile, ...args];
await import(pathToFileURL(outfile).href);
