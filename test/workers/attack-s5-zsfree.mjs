// Worker for test/attack-s5-zsmalloc.test.ts: attach, open zsmalloc pool
// `pool`, wait on the barrier, then free `handles` (in order), checking each
// object's signature first (map "ro": bytes i ^ (handle * 31) & 255) and
// compacting the pool after every `compactEvery` frees; answer
// {freed, corrupt, errors, compacted}.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";
import { zsmallocDriver } from "../../dist/zpool.js";

const { handle, pool, handles, compactEvery, barrier } = workerData;
const pm = await PhysicalMemory.attach(handle);
const zs = zsmallocDriver.open(pm, pool, {});
Atomics.add(barrier, 0, 1);
while (Atomics.load(barrier, 0) < Atomics.load(barrier, 1)) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 5);
let freed = 0, corrupt = 0, compacted = 0;
const errors = [];
for (const h of handles) {
  try {
    const v = zs.map(h, "ro");
    const seed = (h * 31) & 255;
    for (let i = 0; i < v.length; i++) if (v[i] !== ((i ^ seed) & 255)) { corrupt++; break; }
    zs.unmap(h);
    zs.free(h);
    freed++;
    if (compactEvery > 0 && freed % compactEvery === 0) compacted += zs.compact();
  } catch (e) {
    if (errors.length < 5) errors.push(`${h}: ${e.message}`);
  }
}
parentPort.postMessage({ freed, corrupt, compacted, errors });
pm.detach();
