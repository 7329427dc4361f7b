// Build the JavaScript package into dist/ with esbuild, and its type
// declarations with tsc. Run after scripts/build-wasm.mjs.
//
//   dist/index.js        the library (platform-neutral ESM: Node, Workers, browsers)
//   dist/{zpool,lz4,frontswap,cleancache}.js   subpath entries ("tmem/frontswap", ...);
//                        they share chunks with index.js, so classes are the same objects
//   dist/cli.js          the `tmem` command (Node)
//   dist/*-worker.js     worker entry points the CLI spawns
//   dist/types/          declarations (exports map "types")
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync } from "node:fs";

const common = { bundle: true, format: "esm", target: "es2022", sourcemap: true, logLevel: "warning" };
await build({
  ...common,
  entryPoints: {
    index: "src/index.ts", zpool: "src/zpool/index.ts", lz4: "src/lz4/index.ts",
    frontswap: "src/frontswap.ts", cleancache: "src/cleancache.ts",
  },
  outdir: "dist",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "neutral",
});
const nodeEntries = ["src/cli.ts", ...readdirSync("src").filter((f) => f.endsWith("-worker.ts")).map((f) => `src/${f}`)];
await build({
  ...common,
  entryPoints: nodeEntries,
  outdir: "dist",
  platform: "node",
  target: "node20",
  banner: { js: "#!/usr/bin/env node" },
});
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
mkdirSync("dist/types/build", { recursive: true });
cpSync("build/release.d.ts", "dist/types/build/release.d.ts");
