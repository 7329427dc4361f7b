// Worker for test/robust.test.ts: attach to a reserved slot and run tmem
// operations in a loop (puts, replacing puts, pinned gets, flushes,
// evictions, descriptor reaps, shared-pool create/destroy) until the park hook stops it
// inside a critical section; the test then terminates it there.
import { parentPort, workerData } from "node:worker_threads";
import { PhysicalMemory } from "../../dist/index.js";
import { sixWordOids } from "./six-word-oids.mjs";

const { handle, slot, pool, domain, keys } = workerData;
const pm = await PhysicalMemory.attach(handle, { slot });
const c = sixWordOids(pm);
const out = () => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
parentPort.postMessage({ cmd: "ready" });
for (let i = 1; ; i++) {
  const k = i % keys;
  c.tmem_put(pool, 7, k >> 3, 0, 0, 0, 0, k & 7, 0x10000 + i, 0, 0, 0);
  if (i % 3 === 0 && c.tmem_get(pool, 7, k >> 3, 0, 0, 0, 0, k & 7, 2) === 1) c.tmem_unpin(out()[3]);
  if (i % 5 === 0) c.tmem_flush_page(pool, 7, (k + 1) >> 3, 0, 0, 0, 0, (k + 1) & 7);
  if (i % 7 === 0) c.tmem_evict(domain, 2);
  if (i % 13 === 0) c.tmem_slab_reap();
  if (i % 11 === 0) {
    const sp = c.tmem_new_pool(2, 1, 2, 3, 4, 0, 99);
    const again = c.tmem_new_pool(2, 1, 2, 3, 4, 0, 99);
    if (sp >= 0) c.tmem_destroy_pool(sp);
    if (again >= 0 && c.tmem_destroy_pool(again) === 1) {
      while (c.tmem_pool_drain(again, 64) > 0);
      c.tmem_pool_release(again);
    }
  }
}
