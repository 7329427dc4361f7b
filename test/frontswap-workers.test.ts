// SPDX-License-Identifier: MIT
// frontswap from 2 Workers on one memory: concurrent registration (the seed
// 000 "blatantly racy" case), and concurrent stores/loads/invalidations of one
// swap type checked against each Worker's model.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { TmemCore } from "../src/tmem/core.js";
import { loadCorpus, throwsWith } from "./helpers.js";

const workerUrl = new URL("../build/test-workers/frontswap-stress-worker.js", import.meta.url);
// 512 real anon pages for the Workers: the corpus's first 512, or the repo's 512-page sample.
const anon = await loadCorpus("anon");
function corpus(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(512 * 4096);
  new Uint8Array(sab).set(anon.pages.subarray(0, sab.byteLength));
  return sab;
}

interface Reply { [k: string]: unknown; error?: string }
function ask(w: Worker, msg: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const on = (r: Reply): void => { w.off("message", on); if (r.error) reject(new Error(r.error)); else resolve(r); };
    w.on("message", on);
    w.postMessage(msg);
  });
}
async function spawn(pm: PhysicalMemory, data: SharedArrayBuffer): Promise<Worker> {
  const w = new Worker(workerUrl, { workerData: { handle: pm.handle, corpus: data, zpool: "zbud" } });
  await new Promise<void>((resolve, reject) => { w.once("message", () => resolve()); w.once("error", reject); });
  return w;
}
async function stop(ws: Worker[]): Promise<void> {
  for (const w of ws) { w.postMessage({ cmd: "exit" }); await new Promise((r) => w.once("exit", r)); }
}

describe("frontswap across 2 Workers", () => {
  it("2 Workers mix swap pages and shared clean pages in tight memory: clean pages are evicted, nothing is wrong", async () => {
    const pm = await PhysicalMemory.create({ frames: 900, maxWorkers: 4 });
    const data = corpus();
    const z = await Zcache.create(pm, { zpool: "zsmalloc", maxPoolPercent: 50, acceptThresholdPercent: 80 });
    const fs = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    await fs.registerOps(z);
    await cc.registerOps(z);
    await fs.init(0);
    const shared = await cc.initSharedFs("a1a2a3a4a5a6a7a8a9aaabacadaeafb0");
    const ws = [await spawn(pm, data), await spawn(pm, data)];
    const rs = await Promise.all(ws.map((w, i) => ask(w, { cmd: "mixed", type: 0, base: i * 5000, count: 1500, fs: shared, ops: 12000, seed: 5 + i })));
    for (const r of rs) {
      expect(r.bad, `wrong results ${JSON.stringify(r)}`).toBe(0);
      expect(r.ok as number, `checked operations ${JSON.stringify(r)}`).toBeGreaterThan(1000);
    }
    expect(rs[0]!.hits as number + (rs[1]!.hits as number), "clean-page hits").toBeGreaterThan(0);
    const s = z.stats();
    expect(s.evictedPages, "clean pages evicted to make room").toBeGreaterThan(0);
    expect(s.persistentPages).toBe(rs.reduce((a, r) => a + (r.stored as number), 0));
    expect(fs.curPages(0)).toBe(s.persistentPages);
    // The index's page counts (kept per Worker, summed on read) agree exactly,
    // though pages stored by one Worker were evicted or flushed by the other.
    expect(TmemCore.for(pm).stats().descriptors, "index pages vs zcache pages").toBe(s.persistentPages + s.ephemeralPages);
    await stop(ws);
    pm.detach();
  });

  it("concurrent registration, init and initFs from 2 Workers leave one consistent state", async () => {
    for (let round = 0; round < 4; round++) {
      const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
      const data = corpus();
      const fs = Frontswap.for(pm);
      const cc = Cleancache.for(pm);
      await fs.init(0); // remembered before any backend
      const early = await cc.initFs();
      const ws = [await spawn(pm, data), await spawn(pm, data)];
      const [a, b] = await Promise.all(ws.map((w) => ask(w, { cmd: "register", types: [1, 2], fs: 3 })));
      const ia = a!.instance as number, ib = b!.instance as number;
      expect(ia).not.toBe(ib);
      // Backends registered by other Workers are not open here yet: data
      // operations say so (never a silent miss that could lose a page).
      throwsWith(() => fs.store(0, 1, new Uint8Array(data, 0, 4096)), "ENODEV");
      await fs.ready();
      await cc.ready();
      // Both backends are chained exactly once, on both frontends.
      expect([...fs.backends()].sort()).toEqual([ia, ib].sort());
      expect([...cc.backends()].sort()).toEqual([ia, ib].sort());
      // The later registration returned the earlier one as its previous backend.
      const prevs = [a!.prev as number[], b!.prev as number[]];
      expect(prevs.filter((p) => p[0] === -1).length).toBe(1);
      // Every swap type and filesystem has exactly one pool in each backend.
      const ids = [...(a!.fsIds as number[]), ...(b!.fsIds as number[])].map((id) => cc.fsId(id)).concat(early); // posted ids: FsIds again, checked
      expect(new Set(ids).size).toBe(7);
      const tc = TmemCore.for(pm);
      const pools = new Set<number>();
      for (const id of ids) {
        for (const inst of [ia, ib]) {
          const p = cc.realPool(id, inst);
          expect(p, `fs ${id} in instance ${inst}`).not.toBeNull();
          expect(pools.has(p!)).toBe(false);
          pools.add(p!);
          expect(tc.poolInfo(p!).state).toBe("alive");
        }
      }
      for (const t of [0, 1, 2] as const) expect(fs.isActive(t)).toBe(true);
      // And it works: a page stored here loads back in the other Workers' backends' chain.
      const page = new Uint8Array(data, 0, 4096);
      for (const t of [0, 1, 2] as const) expect(fs.store(t, 5, page)).toBe(true);
      const out = new Uint8Array(4096);
      for (const t of [0, 1, 2] as const) { expect(fs.load(t, 5, out)).toBe(true); expect(out).toEqual(page); }
      // 14 pools: 7 filesystems + 3 swap types... per backend: 7 + 3 = 10 each.
      expect(pools.size).toBe(14);
      await stop(ws);
      pm.detach();
    }
  });

  it("2 Workers store, load and invalidate one swap type concurrently; nothing is lost or wrong", async () => {
    const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4 });
    const data = corpus();
    const z = await Zcache.create(pm, { zpool: "zsmalloc", maxPoolPercent: 100 });
    const fs = Frontswap.for(pm);
    await fs.registerOps(z);
    await fs.init(0);
    const ws = [await spawn(pm, data), await spawn(pm, data)];
    const rs = await Promise.all(ws.map((w, i) => ask(w, { cmd: "random", type: 0, base: i * 1000, count: 600, ops: 6000, seed: 17 + i })));
    for (const r of rs) {
      expect(r.bad).toBe(0);
      expect(r.ok as number).toBeGreaterThan(1000);
    }
    const stored = rs.reduce((a, r) => a + (r.stored as number), 0);
    expect(fs.curPages(0)).toBe(stored);
    expect(TmemCore.for(pm).stats().descriptors).toBe(stored);
    expect(z.stats().persistentPages).toBe(stored);
    // Per-client accounting: both Workers' slots have pages; the sum is the total.
    const clients = z.stats().clients.filter((c) => c.persistentPages > 0);
    expect(clients.length).toBe(2);
    expect(clients.reduce((a, c) => a + c.persistentPages, 0)).toBe(stored);
    // Everything a Worker stored is visible from this thread too, and hands back intact.
    let handed = 0;
    fs.unuse(0, (t, _off, pg) => {
      expect(t).toBe(0);
      expect(pg.length).toBe(4096);
      handed++;
    });
    expect(handed).toBe(stored);
    expect(fs.curPages(0)).toBe(0);
    expect(TmemCore.for(pm).stats().descriptors).toBe(0);
    expect(z.stats().persistentPages).toBe(0);
    const c = fs.counters();
    expect(c.succStores + c.failedStores).toBeGreaterThan(5000);
    await stop(ws);
    pm.detach();
  });
});
