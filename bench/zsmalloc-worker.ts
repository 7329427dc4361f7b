// SPDX-License-Identifier: MIT
// Bench worker for bench/zsmalloc.ts: attach to the physical memory, prefill
// `live` objects with sizes from `sizes` (one size band, hence its own size
// classes) into the shared zsmalloc pool `pool`, wait at the barrier, run
// `pairs` malloc+free pairs (free a pre-drawn victim, malloc the next size)
// calling pm.core.zs_malloc / zs_free directly, free everything, post the
// wall time and the process CPU time of the loop.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../bindings/physmem.js";

interface Data {
  /** Control run: no allocator, a pure integer loop of `pairs` × 100 steps (machine baseline). */
  control?: boolean;
  handle: PhysicalMemoryHandle;
  pool: number;
  sizes: Uint32Array;
  victims: Uint32Array;
  live: number;
  pairs: number;
  barrier: Int32Array;
}
const d = workerData as Data;
if (d.control) {
  Atomics.add(d.barrier, 0, 1);
  Atomics.notify(d.barrier, 0);
  while (Atomics.load(d.barrier, 0) < Atomics.load(d.barrier, 1)) Atomics.wait(d.barrier, 0, Atomics.load(d.barrier, 0), 20);
  const t0 = performance.now();
  let x = 1;
  for (let i = 0; i < d.pairs * 100; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  parentPort!.postMessage({ ms: performance.now() - t0, cpuMs: 0, bad: x === 0.5 });
  process.exit(0);
}
const pm = await PhysicalMemory.attach(d.handle);
const { zs_malloc, zs_free } = pm.core;
const pool = d.pool, sizes = d.sizes, victims = d.victims, mask = sizes.length - 1;
const hs = new Int32Array(d.live);
for (let i = 0; i < d.live; i++) {
  const h = zs_malloc(pool, sizes[i & mask]!);
  if (h <= 0) throw new Error(`zs_malloc failed ${h}`);
  hs[i] = h;
}
Atomics.add(d.barrier, 0, 1);
Atomics.notify(d.barrier, 0);
while (Atomics.load(d.barrier, 0) < Atomics.load(d.barrier, 1)) Atomics.wait(d.barrier, 0, Atomics.load(d.barrier, 0), 20);
const c0 = process.cpuUsage();
const t0 = performance.now();
let bad = 0;
for (let k = 0; k < d.pairs; k++) {
  const v = victims[k]!;
  bad |= zs_free(pool, hs[v]!);
  const h = zs_malloc(pool, sizes[(d.live + k) & mask]!);
  bad |= h;
  hs[v] = h;
}
const ms = performance.now() - t0;
const c = process.cpuUsage(c0);
for (let i = 0; i < d.live; i++) zs_free(pool, hs[i]!);
pm.detach();
// process.cpuUsage is process-wide: with the Workers started together at the
// barrier, the last one to finish has measured the CPU time of all loops.
parentPort!.postMessage({ ms, cpuMs: (c.user + c.system) / 1000, bad: bad < 0 });
