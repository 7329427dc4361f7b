// SPDX-License-Identifier: MIT
// Identities across Workers (issue 9): a backend instance id reused after a
// destroy never lets a Worker act on the destroyed backend; destroying a
// backend another Worker has open is EBUSY unless forced; a forced destroy
// makes every stale object refuse; the chain limit changes nothing.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap, type SwapType } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { RawBackend } from "../src/tmem/raw.js";
import { TmemCore } from "../src/tmem/core.js";
import { errorCode as codeOf } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";

const rpcUrl = new URL("./workers/frontend-rpc.mjs", import.meta.url);

interface Reply { ok?: boolean; error?: string; code?: string; [k: string]: unknown }
async function spawn(pm: PhysicalMemory): Promise<{ w: Worker; ask: (m: object) => Promise<Reply> }> {
  const w = new Worker(rpcUrl, { workerData: { handle: pm.handle } });
  const queue: Array<(r: Reply) => void> = [];
  w.on("message", (r: Reply) => queue.shift()?.(r));
  const ask = (m: object): Promise<Reply> => new Promise((resolve) => { queue.push(resolve); w.postMessage(m); });
  await new Promise<void>((resolve, reject) => { queue.push(() => resolve()); w.once("error", reject); });
  return { w, ask };
}

function loadAll(fs: Frontswap, type: SwapType, from: number, count: number, seed: number): { hits: number; misses: number; bad: number } {
  const buf = new Uint8Array(4096);
  let hits = 0, misses = 0, bad = 0;
  for (let o = from; o < from + count; o++) {
    if (!fs.load(type, o, buf)) { misses++; continue; }
    if (Buffer.compare(Buffer.from(buf), Buffer.from(stampPage(seed, o))) === 0) hits++; else bad++;
  }
  return { hits, misses, bad };
}

describe("backend identity across Workers", () => {
  for (const build of ["release", "debug"] as const) it(`replacing a backend: a Worker that had the old one open never uses it again, and no accepted page is lost (${build} build)`, async () => {
    const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4, build });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    const B = await Zcache.create(pm);
    await fs.registerOps(B);
    const { w, ask } = await spawn(pm);
    try {
      expect((await ask({ cmd: "ready" })).ok).toBe(true);
      // The Worker opened B (its frontend did) and uses it.
      expect(await ask({ cmd: "store", type: 0, from: 0, count: 50, seed: 1 })).toMatchObject({ accepted: 50 });
      for (let o = 50; o < 100; o++) expect(fs.store(0, o, stampPage(1, o))).toBe(true);

      // Replace B by C (drained into it), then try to destroy B: the Worker has it open.
      const C = await Zcache.create(pm);
      await fs.registerOps(C);
      await fs.unregisterOps(B);
      expect(codeOf(() => B.destroy())).toBe("EBUSY");
      B.destroy({ force: true });
      // The destroyed object refuses everything, here and (after the force) in the Worker.
      expect(codeOf(() => B.stats())).toBe("ENODEV");
      expect(codeOf(() => B.putPage(0, new Uint32Array(6), 0, stampPage(1, 0)))).toBe("ENODEV");

      // D takes B's instance id with a new generation.
      const D = await Zcache.create(pm);
      expect(D.instance).toBe(B.instance);
      expect(D.generation).not.toBe(B.generation);
      await fs.registerOps(D);
      await fs.unregisterOps(C);
      C.destroy({ force: true });
      for (let o = 100; o < 150; o++) expect(fs.store(0, o, stampPage(2, o))).toBe(true);

      // The Worker, with its stale B object cached under that id, reaches D.
      expect((await ask({ cmd: "ready" })).ok).toBe(true);
      expect(await ask({ cmd: "load", type: 0, from: 0, count: 100, seed: 1 })).toMatchObject({ hits: 100, misses: 0, bad: 0 });
      expect(await ask({ cmd: "load", type: 0, from: 100, count: 50, seed: 2 })).toMatchObject({ hits: 50, misses: 0, bad: 0 });
      expect(await ask({ cmd: "store", type: 0, from: 150, count: 20, seed: 3 })).toMatchObject({ accepted: 20 });
      expect(loadAll(fs, 0, 0, 100, 1)).toEqual({ hits: 100, misses: 0, bad: 0 });
      expect(loadAll(fs, 0, 150, 20, 3)).toEqual({ hits: 20, misses: 0, bad: 0 });
      expect(D.stats().persistentPages).toBe(170);
      expect(fs.curPages(0)).toBe(170);

      // Opening by id in the Worker gives D's generation; a destroy is EBUSY while it has D open.
      const opened = await ask({ cmd: "openZcache", instance: D.instance });
      expect(opened.generation).toBe(D.generation);
      await fs.invalidateArea(0);
      await fs.unregisterOps(D);
      expect(codeOf(() => D.destroy())).toBe("EBUSY");
      // Once the Worker detaches (its frontends had D open too), D goes without force.
      await ask({ cmd: "detach" });
      D.destroy();
    } finally {
      await w.terminate();
    }
    pm.detach();
  });

  it("a forced destroy: the other Worker's objects refuse with ENODEV, never writing into reused memory", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
    const B = await Zcache.create(pm);
    const { w, ask } = await spawn(pm);
    try {
      expect(await ask({ cmd: "openZcache", instance: B.instance })).toMatchObject({ ok: true });
      expect(await ask({ cmd: "stats", instance: B.instance })).toMatchObject({ ok: true, pages: 0 });
      expect(codeOf(() => B.destroy())).toBe("EBUSY");
      const before = pm.stats().usedFrames;
      B.destroy({ force: true });
      expect(pm.stats().usedFrames).toBeLessThan(before);
      // The state frame is reused by the next backend; the stale object must not touch it.
      const C = await Zcache.create(pm);
      expect(C.instance).toBe(B.instance);
      const r = await ask({ cmd: "stats", instance: B.instance });
      expect(r.code).toBe("ENODEV");
      expect(C.stats().persistentPages).toBe(0);
      // A stale object may close without harm; C is then destroyable without force.
      expect(await ask({ cmd: "closeZcache", instance: B.instance })).toMatchObject({ ok: true });
      C.destroy();
    } finally {
      await w.terminate();
    }
    pm.detach();
  });

  it("a registered backend cannot be destroyed, even by force (its chain would dangle)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024 });
    const fs = Frontswap.for(pm);
    await fs.init(1);
    const z = await Zcache.create(pm);
    await fs.registerOps(z);
    expect(codeOf(() => z.destroy({ force: true }))).toBe("EBUSY");
    expect(fs.store(1, 5, stampPage(4, 5))).toBe(true);
    await fs.unregisterOps(z, { writeback: () => undefined });
    z.destroy();
    pm.detach();
  });

  it("registerOps past the chain limit is ENOSPC and creates nothing", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const fs = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    await fs.init(0);
    await cc.initFs();
    const tc = TmemCore.for(pm);
    const raws: RawBackend[] = [];
    for (let i = 0; i < 8; i++) { const r = RawBackend.create(pm, { maxPages: 4 }); raws.push(r); await fs.registerOps(r); await cc.registerOps(r); }
    const livePools = (): number => { let n = 0; for (let p = 0; p < 64; p++) if (tc.poolInfo(p).state !== "free") n++; return n; };
    const before = livePools();
    const ninth = RawBackend.create(pm, { maxPages: 4 });
    await expect(fs.registerOps(ninth)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(cc.registerOps(ninth)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(livePools()).toBe(before);
    expect(fs.backends()).toHaveLength(8);
    ninth.destroy();
    pm.detach();
  });
});

describe("tmem pool ids across reuse of a slot", () => {
  it("a destroyed pool's id is refused through thousands of reuses of its slot, up to the stated 1023-reuse bound", async () => {
    const pm = await PhysicalMemory.create({ frames: 512 });
    const tc = TmemCore.for(pm);
    const oid = new Uint32Array(6);
    const free = (): void => undefined;
    const first = tc.newPool({ persistent: true });
    expect(tc.put(first, oid, 0, 1, 0, 0, free)).toBe("new");
    tc.destroyPool(first, free);
    const seen = new Set<number>([first]);
    let aliases = 0;
    for (let i = 1; i <= 2500; i++) {
      const p = tc.newPool({ persistent: true });
      expect(p % 64).toBe(first % 64);                 // the same slot, reused
      if (p === first) aliases++;
      else expect(seen.has(p), `reuse ${i}`).toBe(false); // no id repeats within one generation cycle
      // The first pool's id reaches this pool only exactly every 1023 reuses.
      const stale = tc.put(first, oid, 0, 2, 0, 0, free);
      expect(stale, `reuse ${i}`).toBe(i % 1023 === 0 ? "new" : "dead");
      expect(codeOf(() => tc.flushPage(first, oid, 0, free)), `reuse ${i}`).toBe(i % 1023 === 0 ? "no error" : "EINVAL");
      seen.add(p);
      if (i % 1023 === 0) seen.clear();
      tc.destroyPool(p, free);
    }
    expect(aliases).toBe(2);
    pm.detach();
  });
});

describe("grace periods", () => {
  it("synchronize waits for a reader that entered before two publishes by other callers (and is bounded)", async () => {
    const { FrontendArea, FrontendRegistry, REG_FRONTSWAP } = await import("../src/tmem/shared.js");
    const a = await PhysicalMemory.create({ frames: 256, maxWorkers: 4 });
    const b = await PhysicalMemory.attach(a.handle);          // another slot: the reader
    const writer = new FrontendRegistry(FrontendArea.for(a), REG_FRONTSWAP);
    const reader = new FrontendRegistry(FrontendArea.for(b), REG_FRONTSWAP);
    for (let publishes = 0; publishes <= 3; publishes++) {
      const tok = reader.enter();
      // Other callers publish (each a flip of the generation) while the reader is inside.
      for (let i = 0; i < publishes; i++) await writer.locked((entries) => writer.publish(entries));
      expect(codeOf(() => writer.synchronize(150)), `${publishes} publishes`).toBe("ETIMEDOUT");
      reader.exit(tok);
      writer.synchronize(150);                                  // nobody inside: returns
    }
    b.detach();
    a.detach();
  });
});

describe("LRU domains", () => {
  it("a domain in use by a pool cannot be freed, and a pool cannot join a domain that is not allocated", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    const tc = TmemCore.for(pm);
    const d = tc.newDomain();
    const p = tc.newPool({ domain: d });
    expect(codeOf(() => tc.freeDomain(d))).toBe("EBUSY");   // was: freed while empty, then puts joined a dead LRU
    tc.destroyPool(p, () => undefined);
    tc.freeDomain(d);
    expect(codeOf(() => tc.newPool({ domain: d }))).toBe("EINVAL");
    pm.detach();
  });
});
