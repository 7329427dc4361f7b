// SPDX-License-Identifier: MIT
/**
 * zpool-stress-worker.ts: a worker_threads entry that attaches to a physical
 * memory, opens a zpool by id ({@link openPool}) and runs random
 * malloc/map/write/unmap/verify/free against it while other Workers do the
 * same on the same pool. Every object carries a pattern derived from its
 * handle and this Worker's seed; a mismatch counts as corruption.
 *
 * workerData: `{ handle, poolId, ops, seed, maxLive, maxSize, barrier,
 * probeId? }`; `barrier` is an Int32Array over a SharedArrayBuffer of
 * [arrived, total] so the Workers' operations overlap. `probeId`, when given,
 * is a pool whose driver this Worker does not have: the Worker reports the
 * error openPool gives for it. Posts a {@link ZpoolStressResult}.
 * Used by test/zpool.test.ts.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory, type PhysicalMemoryHandle } from "../../bindings/physmem.js";
import { TmemError } from "../../bindings/status.js";
import { openPool } from "../../src/zpool/index.js";
import type { ZpoolHandle } from "../../src/zpool/driver.js";

/** What one stress Worker reports. */
export interface ZpoolStressResult {
  ops: number;
  mallocs: number;
  frees: number;
  verified: number;
  corrupt: number;
  /** Unexpected errors (message of the first). */
  errors: number;
  firstError: string;
  /** The error code and message openPool gave for `probeId`, if asked. */
  probe: { code: string; message: string } | null;
  ms: number;
  slot: number;
}

interface Data {
  handle: PhysicalMemoryHandle;
  poolId: number;
  ops: number;
  seed: number;
  maxLive: number;
  maxSize: number;
  barrier: Int32Array;
  probeId?: number;
}

const d = workerData as Data;
const pm = await PhysicalMemory.attach(d.handle);
const r: ZpoolStressResult = {
  ops: 0, mallocs: 0, frees: 0, verified: 0, corrupt: 0, errors: 0, firstError: "", probe: null, ms: 0, slot: pm.slot,
};
if (d.probeId !== undefined) {
  try {
    await openPool(pm, d.probeId);
    r.probe = { code: "none", message: "opened" };
  } catch (e) {
    r.probe = { code: e instanceof TmemError ? e.code : "?", message: String(e) };
  }
}
const pool = await openPool(pm, d.poolId);

let s = d.seed >>> 0;
const rand = (n: number): number => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (((t ^ (t >>> 14)) >>> 0) % n);
};
const live: Array<[number, number]> = [];
const pattern = (h: number, i: number): number => (h * 13 + d.seed * 101 + i * 7) & 255;
const verify = (h: number, size: number): void => {
  const v = pool.map(h as ZpoolHandle, "ro");
  let ok = v.length === size;
  for (let i = 0; ok && i < size; i++) if (v[i] !== pattern(h, i)) ok = false;
  pool.unmap(h as ZpoolHandle);
  r.verified++;
  if (!ok) r.corrupt++;
};

Atomics.add(d.barrier, 0, 1);
Atomics.notify(d.barrier, 0);
while (Atomics.load(d.barrier, 0) < Atomics.load(d.barrier, 1)) Atomics.wait(d.barrier, 0, Atomics.load(d.barrier, 0), 50);
const t0 = performance.now();
for (let op = 0; op < d.ops; op++) {
  r.ops++;
  try {
    const k = rand(10);
    if ((k < 5 && live.length < d.maxLive) || live.length === 0) {
      const size = 1 + rand(d.maxSize);
      const h = pool.malloc(size);
      const v = pool.map(h, "wo");
      for (let i = 0; i < size; i++) v[i] = pattern(h, i);
      pool.unmap(h);
      live.push([h, size]);
      r.mallocs++;
    } else if (k < 8) {
      const i = rand(live.length);
      const [h, size] = live[i]!;
      verify(h, size);
      pool.free(h as ZpoolHandle);
      live[i] = live[live.length - 1]!;
      live.pop();
      r.frees++;
    } else {
      const [h, size] = live[rand(live.length)]!;
      verify(h, size);
    }
  } catch (e) {
    if (r.errors++ === 0) r.firstError = String(e);
  }
}
for (const [h, size] of live) {
  verify(h, size);
  pool.free(h as ZpoolHandle);
  r.frees++;
}
r.ms = performance.now() - t0;
pool.close();
pm.detach();
parentPort!.postMessage(r);
