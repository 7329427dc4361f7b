// SPDX-License-Identifier: MIT
// Exception safety (issue 9): a sequence of several calls leaves shared
// state consistent when a step throws: a store while this Worker has a zpool
// object mapped changes nothing, batch removals hand every record to the
// backend even when one free throws, and per-Worker net counters sum exactly
// even after one Worker's word wrapped.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { SCRATCH_SIZE } from "../bindings/layout.js";
import { Frontswap } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";
import { registerJsDrivers } from "./js-driver.js";
import { createPool } from "../src/zpool/index.js";
import { TmemCore, oidFrom } from "../src/tmem/core.js";
import { errorCode } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";

describe("exception safety", () => {
  const js = registerJsDrivers();
  for (const driver of ["zsmalloc", "zbud", js.zsmalloc]) {
    it(`a store or load while this Worker has a zpool object mapped is EBUSY and changes nothing (${driver}: ${driver.endsWith("-js") ? "generic" : "one-call"} path)`, async () => {
      const pm = await PhysicalMemory.create({ frames: 1024 });
      const fs = Frontswap.for(pm);
      await fs.init(0);
      const z = await Zcache.create(pm, { zpool: driver });
      await fs.registerOps(z);
      for (let o = 0; o < 20; o++) expect(fs.store(0, o, stampPage(1, o))).toBe(true);
      const before = { pages: fs.curPages(0), z: z.stats(), zs: z.persistent.stats().objects, used: pm.stats().usedFrames };
      const pool = await createPool("zsmalloc", pm);
      const h = pool.malloc(500);
      pool.map(h, "rw");
      const out = new Uint8Array(4096);
      expect(errorCode(() => fs.store(0, 5, stampPage(2, 5)))).toBe("EBUSY");   // an overwrite
      expect(errorCode(() => fs.store(0, 50, stampPage(2, 50)))).toBe("EBUSY"); // a new page
      expect(errorCode(() => fs.load(0, 5, out))).toBe("EBUSY");
      pool.unmap(h);
      pool.free(h);
      pool.destroy();
      expect(fs.curPages(0)).toBe(before.pages);
      expect(z.stats().persistentPages).toBe(before.z.persistentPages);
      expect(z.persistent.stats().objects).toBe(before.zs);
      // The old copy of 5 is intact, 50 was never stored.
      expect(fs.load(0, 5, out)).toBe(true);
      expect(Buffer.compare(Buffer.from(out), Buffer.from(stampPage(1, 5)))).toBe(0);
      expect(fs.load(0, 50, out)).toBe(false);
      expect(pm.stats().usedFrames).toBe(before.used);
      pm.detach();
    });
  }

  it("a flush of an object hands every record to the backend even when one free throws", async () => {
    const pm = await PhysicalMemory.create({ frames: 512 });
    const tc = TmemCore.for(pm);
    const p = tc.newPool({ persistent: true });
    const oid = oidFrom(9);
    const none = (): void => undefined;
    for (let i = 0; i < 40; i++) tc.put(p, oid, i, 100 + i, 0, 0, none);
    const freed: number[] = [];
    const boom = (lo: number): void => { freed.push(lo); if (freed.length === 3) throw new Error("free failed"); };
    expect(() => tc.flushObject(p, oid, boom)).toThrow("free failed");
    expect(freed.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => 100 + i));
    expect(tc.poolInfo(p).pages).toBe(0);
    tc.destroyPool(p, none);
    pm.detach();
  });

  it("per-Worker net counts sum exactly after one Worker's word wrapped (A stores, B invalidates)", async () => {
    const pm = await PhysicalMemory.create({ frames: 256, maxWorkers: 4 });
    const fs = Frontswap.for(pm);
    await fs.init(2);
    expect(fs.curPages(2)).toBe(0);
    // The frontends' words are the last 256 bytes of each slot's scratch; the type-2 count is word 16 + 2.
    const word = (slot: number): Int32Array => new Int32Array(pm.memory.buffer, pm.layout.scratchBase + slot * SCRATCH_SIZE + SCRATCH_SIZE - 256, 64);
    // Slot 1 stored 2^31 + 5 pages (its i32 wrapped), slot 2 invalidated 2^31 of them.
    word(1)[18] = (2 ** 31 + 5) | 0;
    word(2)[18] = -(2 ** 31) | 0;
    expect(fs.curPages(2)).toBe(5);
    expect(fs.curPages()).toBe(5);
    word(1)[18] = 0; word(2)[18] = 0;
    pm.detach();
  });
});
