// SPDX-License-Identifier: MIT
// Draining under load (issue 10): 2 Workers store, load and invalidate
// version-stamped pages while the main thread registers a new backend,
// unregisters the old one (its pages drained into the new one) and destroys
// it, in a loop. Every load must return the latest accepted version, or miss
// after an invalidate or a rejected store; invalidate must answer truly.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";

const workerUrl = new URL("./workers/drain-worker.mjs", import.meta.url);

describe("draining while other Workers work", () => {
  for (const build of ["release", "debug"] as const) it(`registering, draining and unregistering backends in a loop loses nothing, resurrects nothing, never returns an older version (${build} build)`, async () => {
    const pm = await PhysicalMemory.create({ frames: 8192, maxWorkers: 4, build });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    let cur = await Zcache.create(pm);
    await fs.registerOps(cur);
    const results: Array<Promise<Record<string, number>>> = [];
    const workers: Worker[] = [];
    for (let id = 0; id < 2; id++) {
      const w = new Worker(workerUrl, { workerData: { handle: pm.handle, id, base: id * 1000, count: 300, ops: 25_000, seed: 11 + id } });
      workers.push(w);
      results.push(new Promise((resolve, reject) => { w.once("message", resolve); w.once("error", reject); }));
    }
    let done = false;
    void Promise.all(results).then(() => { done = true; }, () => { done = true; });
    let cycles = 0;
    try {
      while (!done) {
        const next = await Zcache.create(pm);
        await fs.registerOps(next);
        await fs.unregisterOps(cur);       // drains cur into next; EBUSY would mean a page had nowhere to go
        cur.destroy({ force: true });       // the Workers still have it cached: they must never use it again
        cur = next;
        cycles++;
        await new Promise((r) => setTimeout(r, 5));
      }
      const rs = await Promise.all(results);
      let held = 0;
      for (const r of rs) {
        expect(r, JSON.stringify(r)).toMatchObject({ bad: 0, lost: 0, ghosts: 0, wrongInvalidate: 0 });
        expect(r.hits).toBeGreaterThan(1000);
        held += r.held!;
      }
      expect(cycles).toBeGreaterThanOrEqual(5);
      expect(fs.curPages(0)).toBe(held);
      expect(cur.stats().persistentPages).toBe(held);
    } finally {
      for (const w of workers) await w.terminate();
    }
    await fs.invalidateArea(0);
    await fs.unregisterOps(cur);
    cur.destroy({ force: true });
    expect(pm.stats().byOwner[4] ?? 0).toBeLessThan(200); // the tmem core's tables and descriptor slab remain
    pm.detach();
  });
});
