// SPDX-License-Identifier: MIT
/**
 * robust-cost.ts: what robust critical sections (assembly/robust.ts: undo
 * logging of every store under a wasm lock, held-lock tracking) cost on the
 * hot path, measured against a build without them, side by side in one run
 * (issue 10's budget: within 3 %).
 *
 * Two builds are loaded in one process: this checkout's dist/ and the dist/
 * of another checkout (`--old DIR`, e.g. a worktree of the commit before the
 * change, built with `npm run build`). Each repeat runs, for each build in
 * alternating order, on a fresh memory:
 *  - frontswap → zcache (zsmalloc): N stores of real pages (data/ sample, or
 *    ../shared/corpus/anon.pages when present), N loads, N overwrites;
 *  - zsmalloc through the zpool API: fill with 20,000 objects of mixed
 *    sizes, then M malloc+free pairs (free a random live object, allocate
 *    one of the same size).
 * Rates are pages (pairs) per second; the ratio new ÷ old is the median of
 * the per-repeat ratios (a shared, noisy machine: compare within a repeat).
 *
 * Run: npm run build && node scripts/run-ts.mjs bench/robust-cost.ts --old ../wt-old [--pages N --repeats R]
 * Output: bench/results/robust-cost.json and a table on stdout.
 * @module
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { median, report, type Row } from "./harness.js";
import { loadCorpus } from "../test/corpus.js";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const oldDir = arg("--old", "");
if (oldDir === "" || !existsSync(resolve(oldDir, "dist/index.js"))) {
  console.error("bench/robust-cost: --old DIR must name a built checkout (DIR/dist/index.js)");
  process.exit(2);
}
const N = Number(arg("--pages", "20000"));
const PAIRS = Number(arg("--pairs", "200000"));
const REPEATS = Number(arg("--repeats", "5"));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Lib = any;
const builds: Array<{ name: string; lib: Lib }> = [
  { name: "new", lib: await import(pathToFileURL(resolve("dist/index.js")).href) },
  { name: "old", lib: await import(pathToFileURL(resolve(oldDir, "dist/index.js")).href) },
];

// The anon corpus when ../shared is beside the repo, else the repo's sample (test/corpus.ts).
const anon = await loadCorpus("anon");
const sample = anon.pages;
const NPAGES = Math.floor(sample.byteLength / 4096);
const pageOf = (p: number): Uint8Array => sample.subarray((p % NPAGES) * 4096, (p % NPAGES + 1) * 4096);

async function frontswapRun(lib: Lib): Promise<{ store: number; load: number; overwrite: number }> {
  const pm = await lib.PhysicalMemory.create({ frames: Math.max(8192, Math.ceil(N * 0.8)), maxWorkers: 4 });
  const z = await lib.Zcache.create(pm, { zpool: "zsmalloc" });
  const fs = lib.Frontswap.for(pm);
  await fs.registerOps(z);
  await fs.init(0);
  const out = new Uint8Array(4096);
  let t = performance.now();
  for (let i = 0; i < N; i++) fs.store(0, i, pageOf(i));
  const store = N / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < N; i++) fs.load(0, (i * 7919) % N, out);
  const load = N / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < N; i++) fs.store(0, i, pageOf(i + 1));
  const overwrite = N / ((performance.now() - t) / 1000);
  await fs.invalidateArea(0);
  await fs.unregisterOps(z);
  z.destroy({ force: true });
  pm.detach();
  return { store, load, overwrite };
}

async function zsmallocRun(lib: Lib): Promise<number> {
  const pm = await lib.PhysicalMemory.create({ frames: 16384, maxWorkers: 4 });
  const pool = await lib.createPool("zsmalloc", pm);
  let seed = 42;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
  const LIVE = 20_000;
  const handles: number[] = [], sizes: number[] = [];
  for (let i = 0; i < LIVE; i++) { const s = 64 + rnd(3000); sizes.push(s); handles.push(pool.malloc(s)); }
  const t = performance.now();
  for (let i = 0; i < PAIRS; i++) {
    const k = rnd(LIVE);
    pool.free(handles[k]!);
    handles[k] = pool.malloc(sizes[k]!);
  }
  const rate = PAIRS / ((performance.now() - t) / 1000);
  pool.destroy({ force: true });
  pm.detach();
  return rate;
}

const per: Record<string, Record<string, number[]>> = { new: {}, old: {} };
const ratios: Record<string, number[]> = {};
const push = (o: Record<string, number[]>, k: string, v: number): void => { (o[k] ??= []).push(v); };
for (let r = 0; r < REPEATS; r++) {
  const got: Record<string, Record<string, number>> = {};
  const order = r % 2 === 0 ? builds : [...builds].reverse();
  for (const b of order) {
    const f = await frontswapRun(b.lib);
    const z = await zsmallocRun(b.lib);
    got[b.name] = { "frontswap store (fill)": f.store, "frontswap load": f.load, "frontswap overwrite": f.overwrite, "zsmalloc malloc+free pairs": z };
  }
  for (const k of Object.keys(got.new!)) {
    push(per.new!, k, got.new![k]!);
    push(per.old!, k, got.old![k]!);
    push(ratios, k, got.new![k]! / got.old![k]!);
  }
}
const rows: Row[] = Object.keys(ratios).map((k) => ({
  measure: k,
  "new /s": Math.round(median(per.new![k]!)),
  "old /s": Math.round(median(per.old![k]!)),
  "new ÷ old": Number(median(ratios[k]!).toFixed(3)),
  target: "≥ 0.97",
}));
report("robust-cost", { "robust sections: this build ÷ the build without them": rows }, { pages: N, pairs: PAIRS, repeats: REPEATS, old: resolve(oldDir), corpusPages: NPAGES });
