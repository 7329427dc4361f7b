// SPDX-License-Identifier: MIT
/**
 * frames.ts: the physical-memory benchmark.
 *
 *  - the cost of a JS→wasm call (an empty export), the floor of every API call;
 *  - frame allocate+free, ns per pair, single thread, against a plain JS
 *    free-list stack over an Int32Array (no atomics, no wasm: what the
 *    lock-free shared allocator costs on top of the simplest possible one);
 *  - the same pairs from 1 and from 2 Workers at once: aggregate pairs/s
 *    (each Worker's alloc/free pairs stay in its own frame list, so they
 *    should scale; a shared counter or cache line between them shows here).
 *
 * Run: npm run bench (or node scripts/run-ts.mjs bench/frames.ts [--repeats N]).
 * @module
 */
import { measure, do_not_optimize } from "mitata";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { bundleWorker, median, report, type Row } from "./harness.js";

const repeats = Number(process.argv[process.argv.indexOf("--repeats") + 1] || 5) || 5;
const pm = await PhysicalMemory.create({ frames: 65536, maxWorkers: 4 });
const core = pm.core;

/** The simplest allocator a JS user could write: a LIFO stack of free frame numbers. */
class JsFrameStack {
  private readonly free: Int32Array;
  private top: number;
  constructor(n: number) {
    this.free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.free[i] = n - 1 - i;
    this.top = n;
  }
  alloc(): number { return this.top === 0 ? -12 : this.free[--this.top]!; }
  release(p: number): void { this.free[this.top++] = p; }
}
const js = new JsFrameStack(65536);

const ns = async (fn: () => void): Promise<number> => {
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) runs.push((await measure(fn, { min_samples: 20 })).p50);
  return median(runs);
};

// Hold half the frames so the stack is deep, as in a live system.
for (let i = 0; i < 32768; i++) core.frame_alloc(16);
for (let i = 0; i < 32768; i++) js.alloc();

const nop = await ns(() => core.pm_nop());
const wasmPair = await ns(() => { const p = core.frame_alloc(17); core.frame_free(p, 17); });
const jsPair = await ns(() => { const p = js.alloc(); js.release(p); do_not_optimize(p); });
const single: Row[] = [
  { operation: "JS→wasm call (empty export)", "ns/op": nop, ratio: "" },
  { operation: "frame alloc+free pair, tmem (wasm, lock-free, shared)", "ns/op": wasmPair, ratio: (wasmPair / jsPair).toFixed(2) + "× JS stack" },
  { operation: "frame alloc+free pair, plain JS stack (not shared)", "ns/op": jsPair, ratio: "1.00× JS stack" },
];

// Workers: each runs `pairs` pairs; aggregate throughput with 1 and with 2 at once.
const url = await bundleWorker("bench/workers/frames-worker.ts");
const pairs = 2_000_000;
async function workers(n: number): Promise<number> {
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = n;
  const t = await Promise.all(Array.from({ length: n }, (_, i) => new Promise<number>((resolve, reject) => {
    const w = new Worker(url, { workerData: { handle: pm.handle, pairs, owner: 20 + i, barrier, hold: 1000 } });
    w.once("message", (m: { ms: number }) => { resolve(m.ms); void w.terminate(); });
    w.once("error", reject);
  })));
  return (n * pairs) / (Math.max(...t) / 1000);
}
const one: number[] = [], two: number[] = [];
for (let r = 0; r < repeats; r++) { one.push(await workers(1)); two.push(await workers(2)); }
const m1 = median(one), m2 = median(two);
const multi: Row[] = [
  { workers: 1, "Mpairs/s": m1 / 1e6, "ns/pair": 1e9 / m1, scaling: "1.00×" },
  { workers: 2, "Mpairs/s": m2 / 1e6, "ns/pair": 1e9 / m2, scaling: (m2 / m1).toFixed(2) + "×" },
];
report("frames", { "single thread (mitata p50, median of runs)": single, "Workers on one memory (each with its own frame list), aggregate": multi }, { repeats, pairsPerWorker: pairs });
