// Build the JavaScript package into dist/ with esbuild, and its type
// declarations with tsc. Run after scripts/build-wasm.mjs.
//
//   dist/index.js        the library (platform-neutral ESM: Node, Workers, browsers);
//                        it embeds the release wasm only
//   dist/{zpool,lz4,frontswap,cleancache,cache,keyv}.js   subpath entries ("tmem/frontswap", ...);
//                        they share chunks with index.js, so classes are the same objects
//   dist/debug.js        "tmem/debug": the debug wasm (assertions on), its own chunk
//   dist/cli.js          the `tmem` command (Node)
//   dist/simulate-worker.js, dist/demo-frames-worker.js   Workers the command spawns
//   dist/ramster-worker.js   the remote tier's helper Worker (owns the Redis client)
//   dist/types/          declarations (exports map "types", typesVersions): the entries'
//                        import graph only (tsconfig.build.json "files"), @internal
//                        members stripped (stripInternal)
//
// Not in dist/: the tests' stress Workers (test/workers/*-worker.ts) are
// bundled into build/test-workers/, which the tests and benches load and
// the package does not ship.
//
// The declarations are published, so the notes that point into the
// project's design sources ("(seed 001)": the kernel discussions in
// ../shared/seeds, which do not ship) are taken out of them here; the
// source keeps them for the people who work on it.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const common = { bundle: true, format: "esm", target: "es2022", sourcemap: true, logLevel: "warning" };
rmSync("dist", { recursive: true, force: true });
// One build with code splitting: the command and its Workers share the
// library's chunks instead of each carrying a copy of the library (and of
// the wasm). Platform-neutral output; the command's node: imports stay
// imports (src/cli.ts starts with the #! line, which esbuild keeps).
await build({
  ...common,
  entryPoints: {
    index: "src/index.ts", zpool: "src/zpool/index.ts", lz4: "src/lz4/index.ts",
    frontswap: "src/frontswap.ts", cleancache: "src/cleancache.ts", debug: "src/debug.ts",
    cli: "src/cli.ts", "simulate-worker": "src/simulate-worker.ts", "demo-frames-worker": "src/demo/frames-worker.ts",
    cache: "src/cache/index.ts", keyv: "src/cache/keyv-entry.ts",
    "ramster-worker": "src/ramster-worker.ts", "ramster-remotifier": "src/ramster-remotifier.ts",
  },
  outdir: "dist",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "neutral",
  external: ["node:*"],
});
const node = { ...common, platform: "node", target: "node20" };
await build({
  ...node,
  entryPoints: readdirSync("test/workers").filter((f) => f.endsWith("-worker.ts")).map((f) => `test/workers/${f}`),
  outdir: "build/test-workers",
});
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
mkdirSync("dist/types/build", { recursive: true });
cpSync("build/release.d.ts", "dist/types/build/release.d.ts");

/** "(seed 004, Streetman's patch)" → "(Streetman's patch)"; "(seed 003: text)" → "(text)"; "(seed 001)" → "". */
export function stripSeedNotes(text) {
  return text
    .replace(/ ?\(seeds?[\s*]+\d{3}(?:[,/ ]+\d{3})*\)/g, "")
    .replace(/\(seeds?[\s*]+\d{3}(?:[,/ ]+\d{3})*(?:, |: )/g, "(");
}
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
for (const f of walk("dist/types").filter((f) => f.endsWith(".d.ts"))) {
  const text = readFileSync(f, "utf8");
  const clean = stripSeedNotes(text);
  if (clean !== text) writeFileSync(f, clean);
}
