// SPDX-License-Identifier: MIT
/**
 * frontswap.ts: the end-to-end benchmark: frontswap store and load pages per
 * second on the anon corpus, with 1 Worker and with 2, and bytes of physical
 * memory per stored page; side by side in one run with what a JS user would
 * write today: `lru-cache` holding pages compressed by the `lz4` native addon
 * (../shared/reference/peers.md §5: 71k stores/s, 188k loads/s, 2,294 B of
 * RSS per page on this machine class).
 *
 * Workload (as peers.md §5): N pages (default 100,000), page p = corpus page
 * p mod 8192, stored under offsets 0..N-1 of one swap type ("fill", into
 * fresh memory: every frame is touched for the first time); then N loads in
 * a scrambled order (offset = i × stride mod N), decompressed into a reused
 * page (ours are then all checked byte-exact in an untimed pass); then the
 * same N stores again ("overwrite": the steady state, old copies freed first,
 * frames and descriptors reused; peers.md's store-overwrite). With 2 Workers
 * each takes half of the offsets of the same swap type, concurrently (one
 * zcache, one tmem index). Throughput = pages / the slowest Worker's time.
 * Every repeat uses a fresh physical memory; baseline and ours run back to
 * back in each repeat, and ratios are medians of per-repeat ratios.
 *
 * Memory: ours = frames in use after the stores minus frames in use before
 * the tmem index was set up (zpool frames + tmem descriptors + the bucket
 * table), × 4096 / pages stored (rejected, incompressible pages are not
 * stored: they stay with the caller). Baseline = ΔRSS after the fill, after
 * GC, / N, from the first repeat only (later ones reuse the heap the first
 * one freed, so RSS does not grow again); as peers.md, it stores every page
 * (incompressible ones raw).
 *
 * Scaling is reported next to two controls: the same 1-vs-2 Worker split of
 * a pure integer loop and of native lz4 compress+decompress, each Worker on
 * its own data (the cores of a shared machine may not both be free, and LZ4
 * may not scale on them even with nothing shared).
 *
 * Run: npm run bench:frontswap [-- --pages N --repeats R --zpool NAME --quick --prefault]
 * Output: bench/results/frontswap.json and tables on stdout.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createRequire } from "node:module";
import { LRUCache } from "lru-cache";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";
import { bundleWorker, median, report, type Row } from "./harness.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const quick = process.argv.includes("--quick");
/** `--prefault`: create the memory with `prefault: true` (first-touch faults paid in create, not in the fill). */
const prefault = process.argv.includes("--prefault");
const N = arg("--pages", quick ? 30_000 : 100_000);
const REPEATS = arg("--repeats", quick ? 1 : 3);
const corpusPath = new URL("../../shared/corpus/anon.pages", `file://${process.cwd()}/bench/`);
if (!existsSync(corpusPath)) {
  console.warn(`bench/frontswap: ${corpusPath.pathname} is absent: nothing to measure (the benchmark needs the real anon pages)`);
  process.exit(0);
}
const file = readFileSync(corpusPath);
const corpus = new SharedArrayBuffer(file.byteLength);
new Uint8Array(corpus).set(file);
const NPAGES = file.byteLength / 4096;
const stride = (n: number): number => { let s = Math.floor(n * 0.618) | 1; while (gcd(s, n) !== 1) s += 2; return s; };
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const settle = (): void => { gc(); gc(); };

// ══ Baseline: lru-cache of lz4 (native addon) blocks ══

/** One configuration's throughputs (pages/s) and bytes per stored page. */
interface Result { store: number; load: number; overwrite: number; bytes: number; fillFaults?: number; createMs?: number }

interface Lz4Native {
  encodeBlock(src: Buffer, dst: Buffer): number;
  decodeBlock(src: Buffer, dst: Buffer): number;
  encodeBound(n: number): number;
}

function baseline(): Result {
  const lz4 = createRequire(import.meta.url)("lz4") as Lz4Native;
  const scratch = Buffer.alloc(lz4.encodeBound(4096));
  const out = Buffer.alloc(4096);
  settle();
  const rss0 = process.memoryUsage().rss;
  const cache = new LRUCache<number, Buffer>({ max: N });
  let t0 = performance.now();
  for (let p = 0; p < N; p++) {
    const src = Buffer.from(corpus, (p % NPAGES) * 4096, 4096);
    let n = lz4.encodeBlock(src, scratch);
    let v: Buffer;
    if (n <= 0 || n >= 4096) { v = Buffer.allocUnsafeSlow(4096); src.copy(v); n = 0; } // stored raw
    else { v = Buffer.allocUnsafeSlow(n); scratch.copy(v, 0, 0, n); }
    cache.set(p, v);
  }
  const store = N / ((performance.now() - t0) / 1000);
  settle();
  const bytes = (process.memoryUsage().rss - rss0) / N;
  const s = stride(N);
  t0 = performance.now();
  let ok = 0;
  for (let i = 0; i < N; i++) {
    const p = (i * s) % N;
    const v = cache.get(p)!;
    if (v.length === 4096) { v.copy(out); ok++; } else if (lz4.decodeBlock(v, out) === 4096) ok++;
  }
  const load = N / ((performance.now() - t0) / 1000);
  if (ok !== N) throw new Error(`baseline: ${N - ok} pages failed to load`);
  // Overwrite: store every page again under its key (steady state: the old
  // block is dropped, a new one allocated).
  t0 = performance.now();
  for (let p = 0; p < N; p++) {
    const src = Buffer.from(corpus, (p % NPAGES) * 4096, 4096);
    const n = lz4.encodeBlock(src, scratch);
    let v: Buffer;
    if (n <= 0 || n >= 4096) { v = Buffer.allocUnsafeSlow(4096); src.copy(v); } else { v = Buffer.allocUnsafeSlow(n); scratch.copy(v, 0, 0, n); }
    cache.set(p, v);
  }
  const overwrite = N / ((performance.now() - t0) / 1000);
  cache.clear();
  settle();
  return { store, load, overwrite, bytes };
}

// ══ Ours: frontswap → zcache, in W Workers ══

interface Reply { ms: number; ok: number; bad: number; error?: string; ready?: boolean }

function ask(w: Worker, msg: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const on = (r: Reply): void => {
      w.off("message", on);
      if (r.error) reject(new Error(r.error)); else resolve(r);
    };
    w.on("message", on);
    w.postMessage(msg);
  });
}

async function ours(workers: number, zpool: string): Promise<Result & { stored: number; stats: object }> {
  const frames = Math.ceil((N * 4096 * 0.8) / 4096) + 8192;
  const c0 = performance.now();
  const pm = await PhysicalMemory.create({ frames, maxWorkers: 8, prefault });
  const createMs = performance.now() - c0;
  const used0 = pm.stats().usedFrames;
  const z = await Zcache.create(pm, { zpool, maxPoolPercent: 100, acceptThresholdPercent: 100 });
  const fs = Frontswap.for(pm);
  await fs.registerOps(z);
  await fs.init(0);
  const ws: Worker[] = [];
  for (let i = 0; i < workers; i++) {
    const w = new Worker(await bundleWorker("test/workers/frontswap-stress-worker.ts"), { workerData: { handle: pm.handle, corpus } });
    await new Promise<void>((r) => w.once("message", () => r()));
    ws.push(w);
  }
  const per = Math.ceil(N / workers);
  const part = (i: number): { base: number; count: number } => ({ base: i * per, count: Math.min(per, N - i * per) });
  // Minor page faults of the process (every Worker's) during the fill: the first touches of fresh memory.
  const f0 = process.resourceUsage().minorPageFault;
  const st = await Promise.all(ws.map((w, i) => ask(w, { cmd: "store", type: 0, ...part(i) })));
  const fillFaults = (process.resourceUsage().minorPageFault - f0) / N;
  const stored = st.reduce((a, r) => a + r.ok, 0);
  const storeMs = Math.max(...st.map((r) => r.ms));
  const bytes = ((pm.stats().usedFrames - used0) * 4096) / stored;
  const ld = await Promise.all(ws.map((w, i) => ask(w, { cmd: "load", type: 0, ...part(i) })));
  const loadMs = Math.max(...ld.map((r) => r.ms));
  const bad = ld.reduce((a, r) => a + r.bad, 0);
  const loaded = ld.reduce((a, r) => a + r.ok, 0);
  if (bad !== 0 || loaded !== stored) throw new Error(`frontswap: ${bad} wrong pages, ${loaded} of ${stored} loaded`);
  // Overwrite (steady state): every offset stored again; the old copy is
  // flushed first and its frames and descriptors are reused.
  const ow = await Promise.all(ws.map((w, i) => ask(w, { cmd: "store", type: 0, ...part(i) })));
  const overwriteMs = Math.max(...ow.map((r) => r.ms));
  const stats = z.stats();
  for (const w of ws) { w.postMessage({ cmd: "exit" }); await new Promise((r) => w.once("exit", r)); }
  pm.detach();
  // Loads are counted over every offset tried; misses of rejected pages are part of the work.
  return { store: N / (storeMs / 1000), load: N / (loadMs / 1000), overwrite: N / (overwriteMs / 1000), bytes, stored, stats, fillFaults, createMs };
}

const zpoolArg = process.argv.indexOf("--zpool");
let zpool = zpoolArg > 0 ? process.argv[zpoolArg + 1]! : "zsmalloc";
try {
  const probe = await PhysicalMemory.create({ frames: 64 });
  (await Zcache.create(probe, { zpool })).destroy();
  probe.detach();
} catch (e) {
  console.warn(`bench/frontswap: zpool driver "${zpool}" is not usable here (${String(e)}); using zbud`);
  zpool = "zbud";
}
const base: Result[] = [];
const one: Array<Awaited<ReturnType<typeof ours>>> = [];
const two: Array<Awaited<ReturnType<typeof ours>>> = [];
for (let r = 0; r < REPEATS; r++) {
  base.push(baseline());
  one.push(await ours(1, zpool));
  two.push(await ours(2, zpool));
  const f = (x: Result): string => `${x.store.toFixed(0)}/${x.overwrite.toFixed(0)}/${x.load.toFixed(0)}`;
  console.error(`repeat ${r + 1}/${REPEATS} (fill/overwrite/load pages/s): baseline ${f(base[r]!)}, 1W ${f(one[r]!)}, 2W ${f(two[r]!)}`);
}
/**
 * Controls: the same 1-vs-2 Worker split for work that shares nothing, run
 * right after: a pure integer loop, and the native lz4 addon compressing and
 * decompressing the same pages in each Worker independently. On a machine
 * whose cores are busy with other work (or share a physical core) they show
 * how much parallelism there was to have: read "2W/1W" of the frontswap rows
 * against them.
 */
const lz4Path = createRequire(import.meta.url).resolve("lz4");
async function control(k: number, kind: "loop" | "lz4"): Promise<number> {
  const code = kind === "loop"
    ? `const { parentPort } = require("node:worker_threads");
parentPort.on("message", () => { const t = performance.now(); let x = 1; for (let i = 0; i < 1e8; i++) x = (x * 1103515245 + 12345) >>> 0; parentPort.postMessage(1e8 / (performance.now() - t) + (x & 0)); });
parentPort.postMessage(0);`
    : `const { parentPort, workerData } = require("node:worker_threads");
const lz4 = require(${JSON.stringify(lz4Path)});
const src = Buffer.from(workerData); const NP = Math.min(2048, src.length / 4096);
const scratch = Buffer.alloc(lz4.encodeBound(4096)); const out = Buffer.alloc(4096); const comp = [];
for (let p = 0; p < NP; p++) { const n = lz4.encodeBlock(src.subarray(p * 4096, p * 4096 + 4096), scratch); comp.push(Buffer.from(scratch.subarray(0, n))); }
parentPort.on("message", () => { const t = performance.now();
  for (let r = 0; r < 4; r++) for (let p = 0; p < NP; p++) { lz4.encodeBlock(src.subarray(p * 4096, p * 4096 + 4096), scratch); if (comp[p].length > 0 && comp[p].length < 4096) lz4.decodeBlock(comp[p], out); }
  parentPort.postMessage(4 * NP / (performance.now() - t)); });
parentPort.postMessage(0);`;
  const ws = Array.from({ length: k }, () => new Worker(code, { eval: true, workerData: corpus }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once("message", r))));
  const rates = await Promise.all(ws.map((w) => new Promise<number>((r) => { w.once("message", r); w.postMessage(0); })));
  for (const w of ws) await w.terminate();
  return rates.reduce((a, b) => a + b, 0); // work per ms, all Workers together
}
const ctlLoop: number[] = [];
const ctlLz4: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  ctlLoop.push((await control(2, "loop")) / (await control(1, "loop")));
  ctlLz4.push((await control(2, "lz4")) / (await control(1, "lz4")));
}

type K = "store" | "overwrite" | "load";
const m = (xs: Result[], k: K | "bytes"): number => median(xs.map((x) => x[k]));
/** Median over repeats of the per-repeat ratio (each repeat runs both sides back to back: robust to load drift). */
const ratio = (xs: Result[], ys: Result[], k: K): number => median(xs.map((x, i) => x[k] / ys[i]![k]));
const row = (subject: string, workers: number, xs: Result[], bytes: number): Row => ({
  subject, workers, "fill pages/s": m(xs, "store"), "overwrite pages/s": m(xs, "overwrite"), "load pages/s": m(xs, "load"), "B/page": bytes,
  "fill ×": ratio(xs, base, "store"), "overwrite ×": ratio(xs, base, "overwrite"), "load ×": ratio(xs, base, "load"),
});
// RSS only grows the first time: later repeats reuse the heap the first one freed.
const rows: Row[] = [
  row("lru-cache 11 + lz4 0.6.5 (native)", 1, base, base[0]!.bytes),
  row(`frontswap → zcache (${zpool})`, 1, one, m(one, "bytes")),
  row(`frontswap → zcache (${zpool})`, 2, two, m(two, "bytes")),
];
const scaling: Row[] = [{
  "2W/1W fill": ratio(two, one, "store"), "2W/1W overwrite": ratio(two, one, "overwrite"), "2W/1W load": ratio(two, one, "load"),
  "control 2W/1W: int loop": median(ctlLoop), "control 2W/1W: native lz4": median(ctlLz4), "stored of offered": `${one[0]!.stored}/${N}`, repeats: REPEATS,
  "fill faults/page 1W": median(one.map((x) => x.fillFaults!)), "fill faults/page 2W": median(two.map((x) => x.fillFaults!)),
  "create ms": median(one.map((x) => x.createMs!)), prefault: prefault ? "yes" : "no",
}];
report("frontswap", { "frontswap store/load vs lru-cache + lz4 (anon corpus)": rows, "scaling": scaling },
  { pages: N, zpool, zcacheStats: one[one.length - 1]!.stats, raw: { baseline: base, oneWorker: one.map(({ stats: _s, ...r }) => r), twoWorkers: two.map(({ stats: _s, ...r }) => r), ctlLoop, ctlLz4 },
    notes: "fill = first store of N pages into fresh memory (first touch of every frame); overwrite = the same N stores again (steady state: old copies freed, frames and descriptors reused); ratios = median over repeats of per-repeat ratios. B/page: ours = physical frames (zpool + tmem metadata) per stored page; baseline = ΔRSS after GC per page (first repeat). Loads in scrambled order (i × stride mod N) in both; ours are verified byte-exact in an untimed pass." });
