// SPDX-License-Identifier: MIT
/**
 * zsmalloc.ts: how fast is our zsmalloc, and how dense, at 1k, 100k and 1M
 * live objects with real compressed-page sizes.
 *
 * Run: `node scripts/run-ts.mjs bench/zsmalloc.ts [--quick]` (after
 * `npm run build`). Writes bench/results/zsmalloc.json and prints tables.
 *
 * What is measured:
 *  - malloc+free pairs per second, single thread: prefill `live` objects, then
 *    each pair frees a pre-drawn random victim and allocates the next size;
 *    side by side in one run: the wasm core called directly
 *    (`pm.core.zs_malloc` / `zs_free`), the same pool through the zpool
 *    driver (ZsmallocBackend), and the pure-TypeScript port of the same
 *    algorithm over an ArrayBuffer (bench/zsmalloc-port.ts, no locks).
 *    Medians of RUNS runs of PAIRS pairs each, round-robin between the
 *    subjects, after one warm-up round; by wall clock and per CPU-second.
 *  - 2 Workers on one pool, each in its own size band (disjoint size
 *    classes), against 1 Worker alone: aggregate pairs/s and the ratio by
 *    wall clock, and pairs per CPU-second of 2 Workers against 1 (what the
 *    ratio would be on two otherwise idle cores is twice that: contention
 *    between the Workers shows as a per-CPU efficiency below 1).
 *  - density after the fill and after compact(): our object frames and
 *    metadata frames vs the kernel's fully compacted figure
 *    (src/zpool/kernel-zsmalloc.ts).
 *
 * Sizes: ../shared/corpus/{anon,file}.lz4sizes.u32 together; pages LZ4 cannot
 * shrink (> 4096) are stored as 4096-byte objects. Without the corpus a
 * synthetic uniform 200..3900 is used (and said so).
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { zsmallocDriver, type ZsmallocBackend } from "../src/zpool/drivers/zsmalloc.js";
import { kernelZsmallocUsage } from "../src/zpool/kernel-zsmalloc.js";
import { ZsmallocPort } from "./zsmalloc-port.js";
import { bundleWorker, median, report, type Row } from "./harness.js";

const quick = process.argv.includes("--quick");
const LIVES = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];
const PAIRS = quick ? 300_000 : 1_000_000;
const RUNS = quick ? 3 : 5;

// ══ Sizes ══

let seed = 0x2545f491;
const rand = (): number => {
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
};
function corpus(name: string): number[] | null {
  const path = `../shared/corpus/${name}.lz4sizes.u32`;
  if (!existsSync(path)) return null;
  const b = readFileSync(path);
  return Array.from(new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2), (s) => Math.min(Math.max(s, 1), 4096));
}
const anon = corpus("anon"), file = corpus("file");
const base = anon && file ? [...anon, ...file] : Array.from({ length: 16384 }, () => 200 + Math.floor(rand() * 3701));
const sizeSource = anon && file ? "anon + file .lz4sizes.u32 (16384 pages; > 4096 stored as 4096)" : "synthetic uniform 200..3900 (corpus absent)";
if (!(anon && file)) console.warn("../shared/corpus is absent: using a synthetic size distribution");
const SIZE_MASK = (1 << 21) - 1;
const sizes = new Uint32Array(SIZE_MASK + 1).map(() => base[Math.floor(rand() * base.length)]!);
const victimsFor = (live: number, n: number): Uint32Array => new Uint32Array(n).map(() => Math.floor(rand() * live));
const meanSize = base.reduce((a, b) => a + b, 0) / base.length;
const framesFor = (live: number): number => Math.ceil((live * (meanSize + 200)) / 4096) + 8192;

// ══ Single-thread loops (one per subject, so each stays monomorphic) ══

function churnCore(m: (p: number, s: number) => number, f: (p: number, h: number) => number, pool: number,
                   hs: Int32Array, victims: Uint32Array, si: number): number {
  let bad = 0;
  for (let k = 0; k < victims.length; k++) {
    const v = victims[k]!;
    bad |= f(pool, hs[v]!);
    const h = m(pool, sizes[(si + k) & SIZE_MASK]!);
    bad |= h;
    hs[v] = h;
  }
  return bad;
}
function churnDriver(p: ZsmallocBackend, hs: Int32Array, victims: Uint32Array, si: number): void {
  for (let k = 0; k < victims.length; k++) {
    const v = victims[k]!;
    p.free(hs[v]!);
    hs[v] = p.malloc(sizes[(si + k) & SIZE_MASK]!);
  }
}
function churnPort(p: ZsmallocPort, hs: Int32Array, victims: Uint32Array, si: number): number {
  let bad = 0;
  for (let k = 0; k < victims.length; k++) {
    const v = victims[k]!;
    bad |= p.free(hs[v]!);
    hs[v] = p.malloc(sizes[(si + k) & SIZE_MASK]!);
  }
  return bad;
}

interface Rates { wall: number; cpu: number; wallRuns: number[]; cpuRuns: number[] }

/**
 * Time RUNS runs of PAIRS pairs of every subject, round-robin (subject A run
 * 1, subject B run 1, ..., then run 2), after one untimed warm-up round, so a
 * burst of load from other processes hits every subject alike. Returns median
 * pairs/s by wall clock and per CPU-second of this process (the machine is
 * shared: CPU time is what the loop itself cost).
 */
function measureAll(subjects: Array<(victims: Uint32Array, si: number) => void>, live: number): Rates[] {
  const out = subjects.map((): Rates => ({ wall: 0, cpu: 0, wallRuns: [], cpuRuns: [] }));
  let si = live;
  for (let r = 0; r <= RUNS; r++) {
    const victims = victimsFor(live, PAIRS);
    subjects.forEach((run, k) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      run(victims, si);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (r > 0) {
        out[k]!.wallRuns.push(PAIRS / (ms / 1000));
        out[k]!.cpuRuns.push(PAIRS / ((c.user + c.system) / 1e6));
      }
    });
    si += PAIRS;
  }
  for (const o of out) { o.wall = median(o.wallRuns); o.cpu = median(o.cpuRuns); }
  return out;
}

const maxFrames = framesFor(Math.max(...LIVES));
const pm = await PhysicalMemory.create({ frames: maxFrames, maxWorkers: 4 });
const { zs_malloc, zs_free } = pm.core;

/**
 * The port must be the same algorithm: run one sequence of mallocs, writes,
 * frees and a compaction on both, and require the same frame counts and the
 * same bytes back.
 */
function checkPortMatchesWasm(): void {
  const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
  const zp = new ZsmallocPort({ frames: 8192 });
  const n = 4000;
  const hw: number[] = [], hp: number[] = [];
  const fill = (v: Uint8Array, i: number): void => { for (let j = 0; j < v.length; j++) v[j] = (i * 31 + j) & 255; };
  for (let i = 0; i < n; i++) {
    const s = sizes[i]!;
    hw.push(p.malloc(s)); hp.push(zp.malloc(s));
    const v = zp.map(hp[i]!, "wo"); fill(v, i); zp.unmap(hp[i]!);
  }
  for (let i = 0; i < n; i += 3) { p.free(hw[i]!); if (zp.free(hp[i]!) !== 0) throw new Error("port free failed"); }
  const fw = p.compact(), fp = zp.compact();
  if (fw !== fp || p.stats().objectPages !== zp.totalPages()) {
    throw new Error(`port diverges from the wasm: compact ${fp} vs ${fw}, pages ${zp.totalPages()} vs ${p.stats().objectPages}`);
  }
  for (let i = 1; i < n; i += 3) {
    const v = zp.map(hp[i]!, "ro");
    for (let j = 0; j < v.length; j++) if (v[j] !== ((i * 31 + j) & 255)) throw new Error(`port lost object ${i}`);
    zp.unmap(hp[i]!);
  }
  p.destroy();
}
checkPortMatchesWasm();
const throughput: Row[] = [];
const density: Row[] = [];
const detail: Record<string, unknown> = {};

for (const live of LIVES) {
  const fillSizes = Array.from({ length: live }, (_, i) => sizes[i & SIZE_MASK]!);
  const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
  const hs = new Int32Array(live);
  for (let i = 0; i < live; i++) hs[i] = zs_malloc(p.id, fillSizes[i]!);
  const filled = p.stats();
  const kFill = kernelZsmallocUsage(fillSizes, 8);
  const subjects: Array<(victims: Uint32Array, si: number) => void> = [
    (v, si) => { if (churnCore(zs_malloc, zs_free, p.id, hs, v, si) < 0) throw new Error("zs_malloc/zs_free failed"); },
    (v, si) => churnDriver(p, hs, v, si),
  ];
  let zp: ZsmallocPort | null = null;
  try {
    zp = new ZsmallocPort({ frames: framesFor(live), maxPagesPerZspage: 8 });
    const port = zp, ph = new Int32Array(live);
    for (let i = 0; i < live; i++) ph[i] = port.malloc(fillSizes[i]!);
    subjects.push((v, si) => { if (churnPort(port, ph, v, si) < 0) throw new Error("port free failed"); });
  } catch (e) {
    console.warn(`TS port at ${live} live: ${String(e)}`);
  }
  const [core, drv, port] = measureAll(subjects, live);
  zp = null;
  // Density after churn and compaction.
  const liveSizes: number[] = [];
  for (let i = 0; i < live; i++) liveSizes.push(p.objSize(hs[i]!));
  const kLive = kernelZsmallocUsage(liveSizes, 8);
  const beforeCompact = p.stats().objectPages;
  const freed = p.compact();
  const compacted = p.stats();
  for (let i = 0; i < live; i++) zs_free(p.id, hs[i]!);
  p.destroy();
  throughput.push({
    live,
    "wasm pm.core M/s": core!.wall / 1e6,
    "driver M/s": drv!.wall / 1e6,
    "TS port M/s": port ? port.wall / 1e6 : "n/a",
    "wasm/port": port ? core!.wall / port.wall : "n/a",
    "wasm M/cpu-s": core!.cpu / 1e6,
    "driver M/cpu-s": drv!.cpu / 1e6,
    "port M/cpu-s": port ? port.cpu / 1e6 : "n/a",
    "wasm/port (cpu)": port ? core!.cpu / port.cpu : "n/a",
  });
  density.push({
    live,
    "fill: ours frames": filled.objectPages,
    "kernel": kFill.pages,
    "ours/kernel %": (100 * filled.objectPages) / kFill.pages,
    "after churn+compact: ours": compacted.objectPages,
    "kernel ": kLive.pages,
    "ours/kernel % ": (100 * compacted.objectPages) / kLive.pages,
    "compact freed": freed,
    "meta frames": compacted.metaPages,
    "meta B/obj": compacted.metadataBytesPerObject,
    "kernel extra B/obj": kLive.extraBytes / kLive.objects,
  });
  detail[`live${live}`] = { core, driver: drv, port: port ?? null, beforeCompact };
  console.log(`live ${live}: wasm ${(core!.wall / 1e6).toFixed(2)} M/s (${(core!.cpu / 1e6).toFixed(2)} per cpu-s), driver ${(drv!.wall / 1e6).toFixed(2)}, port ${port ? (port.wall / 1e6).toFixed(2) : "n/a"} (${port ? (port.cpu / 1e6).toFixed(2) : "n/a"} per cpu-s)`);
}

// ══ 2 Workers on different classes ══

const workerUrl = await bundleWorker("bench/zsmalloc-worker.ts");
const W_LIVE = quick ? 20_000 : 50_000;
const W_PAIRS = quick ? 500_000 : 2_000_000;
const bands: Array<[number, number]> = [[100, 900], [1500, 3000]];
const bandSizes = bands.map(([lo, hi]) => {
  const inBand = base.filter((s) => s >= lo && s <= hi);
  return new Uint32Array(1 << 20).map(() => inBand[Math.floor(rand() * inBand.length)]!);
});
interface WorkerRun { ms: number; cpuMs: number; bad: boolean }
function runWorkers(which: number[]): Promise<WorkerRun[]> {
  const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = which.length;
  return Promise.all(which.map((b) => new Promise<WorkerRun>((resolve, reject) => {
    const w = new Worker(workerUrl, {
      workerData: { handle: pm.handle, pool: p.id, sizes: bandSizes[b], victims: victimsFor(W_LIVE, W_PAIRS), live: W_LIVE, pairs: W_PAIRS, barrier },
    });
    w.once("message", resolve);
    w.once("error", reject);
  }))).finally(() => p.destroy());
}
const scale: Row[] = [];
const twoRates: number[] = [], oneCpu: number[] = [], twoCpu: number[] = [];
const bandRates: number[][] = [[], []];
for (let r = 0; r < (quick ? 2 : 3); r++) {
  for (const b of [0, 1]) {
    const [res] = await runWorkers([b]);
    if (res!.bad) throw new Error("worker saw a failure");
    bandRates[b]!.push(W_PAIRS / (res!.ms / 1000));
    oneCpu.push(W_PAIRS / (res!.cpuMs / 1000));
  }
  const both = await runWorkers([0, 1]);
  if (both.some((x) => x.bad)) throw new Error("worker saw a failure");
  const last = both.reduce((a, x) => (x.ms > a.ms ? x : a));
  // Sum of the two Workers' own rates (the bands run at different speeds;
  // dividing both by the slower one's time would understate the sum).
  twoRates.push(both.reduce((a, x) => a + W_PAIRS / (x.ms / 1000), 0));
  twoCpu.push((2 * W_PAIRS) / (last.cpuMs / 1000));
}
// Control: the same Workers running a pure integer loop, no memory traffic.
// On two idle cores this scales 2.0; less means the machine is busy.
const controlRatios: number[] = [];
for (let r = 0; r < 2; r++) {
  const runControl = (n: number): Promise<WorkerRun[]> => {
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = n;
    return Promise.all(Array.from({ length: n }, () => new Promise<WorkerRun>((resolve, reject) => {
      const w = new Worker(workerUrl, { workerData: { control: true, pairs: 2_000_000, barrier } });
      w.once("message", resolve);
      w.once("error", reject);
    })));
  };
  const [a] = await runControl(1);
  const b = await runControl(2);
  controlRatios.push((2 * a!.ms) / Math.max(...b.map((x) => x.ms)));
}
const one = (median(bandRates[0]!) + median(bandRates[1]!)) / 2, two = median(twoRates);
const efficiency = median(twoCpu) / median(oneCpu);
scale.push({
  "live per worker": W_LIVE,
  bands: bands.map(([a, b]) => `${a}-${b}`).join(" / "),
  "1 Worker Mpairs/s (mean of bands)": one / 1e6,
  "2 Workers Mpairs/s (sum of rates)": two / 1e6,
  "2 / 1 (wall)": two / one,
  "pairs per cpu-s, 2 vs 1": efficiency,
  "2 / 1 on 2 idle cores (2 × that)": 2 * efficiency,
  "control: integer loop 2 / 1": median(controlRatios),
});

const load = (await import("node:os")).loadavg();
report("zsmalloc", {
  "malloc+free pairs/s, single thread (median of runs)": throughput,
  "2 Workers on one pool, disjoint size classes, vs 1 Worker": scale,
  "density: object frames vs the kernel's fully compacted zsmalloc (chain 8)": density,
}, { sizes: sizeSource, pairsPerRun: PAIRS, runs: RUNS, workerPairs: W_PAIRS, loadAverage: load, detail });
console.log(`load average at the end: ${load.map((x) => x.toFixed(2)).join(" ")} (2 cores shared with other work: wall-clock rates are only comparable within one run)`);
pm.detach();
