// SPDX-License-Identifier: MIT
// Bench worker for bench/zpool.ts: attach, prefill `live` objects with sizes
// drawn from [sizeLo, sizeHi] into one shared pool, wait at the barrier, run
// `pairs` malloc+free pairs (free a random live object, malloc a new one),
// report the time. Mode "direct" calls the wasm exports (zs_malloc/zs_free or
// zbud_alloc/zbud_free) on the driver's pool id; mode "api" opens the pool by
// zpool id and goes through the zpool API.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../bindings/physmem.js";
import { openPool, type ZpoolHandle } from "../src/zpool/index.js";

interface Data {
  handle: PhysicalMemoryHandle;
  driver: "zsmalloc" | "zbud";
  mode: "direct" | "api";
  poolId: number;
  driverPoolId: number;
  sizeLo: number;
  sizeHi: number;
  live: number;
  pairs: number;
  seed: number;
  barrier: Int32Array;
}
const d = workerData as Data;
const pm = await PhysicalMemory.attach(d.handle);
const core = pm.core as unknown as Record<string, (...a: number[]) => number>;

let malloc: (size: number) => number;
let free: (h: number) => void;
let close = (): void => {};
if (d.mode === "direct") {
  const id = d.driverPoolId;
  const m = d.driver === "zsmalloc" ? core.zs_malloc! : core.zbud_alloc!;
  const f = d.driver === "zsmalloc" ? core.zs_free! : core.zbud_free!;
  malloc = (s) => {
    const h = m(id, s);
    if (h <= 0) throw new Error(`${d.driver} malloc(${s}) failed: ${h}`);
    return h;
  };
  free = (h) => { f(id, h); };
} else {
  const pool = await openPool(pm, d.poolId);
  malloc = (s) => pool.malloc(s);
  free = (h) => pool.free(h as ZpoolHandle);
  close = () => pool.close();
}

let s = d.seed >>> 0;
const rand = (): number => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const span = d.sizeHi - d.sizeLo + 1;
const sizes = new Uint32Array(65536).map(() => d.sizeLo + Math.floor(rand() * span));
const victims = new Uint32Array(d.pairs).map(() => Math.floor(rand() * d.live));
const hs = new Float64Array(d.live);
for (let i = 0; i < d.live; i++) hs[i] = malloc(sizes[i & 65535]!);

Atomics.add(d.barrier, 0, 1);
Atomics.notify(d.barrier, 0);
while (Atomics.load(d.barrier, 0) < Atomics.load(d.barrier, 1)) Atomics.wait(d.barrier, 0, Atomics.load(d.barrier, 0), 5);
const t0 = performance.now();
for (let k = 0; k < d.pairs; k++) {
  const v = victims[k]!;
  free(hs[v]!);
  hs[v] = malloc(sizes[k & 65535]!);
}
const ms = performance.now() - t0;
for (let i = 0; i < d.live; i++) free(hs[i]!);
close();
pm.detach();
parentPort!.postMessage({ ms });
