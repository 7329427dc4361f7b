// SPDX-License-Identifier: MIT
// Attacks on ids (the attacker's pass over issues 9, 10, 12): backend objects
// from another physical memory in the same thread, stale backend objects of
// this memory, forged or foreign zpool handles, cleancache filesystem ids and
// object ids that are not what they claim. Each must be refused with a
// TmemError before anything changes, and nothing stored may be lost.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap, type SwapType } from "../src/frontswap.js";
import { Cleancache, type FsId } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { createPool, type ZpoolHandle } from "../src/zpool/index.js";
import { errorCode, errorCodeAsync } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";
import { frontends } from "./frontends.js";

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe("backends from another memory", () => {
  it("registerOps refuses a backend of a second PhysicalMemory even when its (instance, generation) is live here", async () => {
    const pm1 = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const pm2 = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const z1 = await Zcache.create(pm1);
    const z2 = await Zcache.create(pm2);
    // Same instance id and generation in both memories: the ids alone cannot tell them apart.
    expect([z2.instance, z2.generation]).toEqual([z1.instance, z1.generation]);
    const fs1 = Frontswap.for(pm1);
    await fs1.init(0);
    expect(await errorCodeAsync(() => fs1.registerOps(z2))).toBe("EINVAL");
    expect(await errorCodeAsync(() => Cleancache.for(pm1).registerOps(z2))).toBe("EINVAL");
    expect(fs1.backends()).toEqual([]);
    // The memory's own backend still registers and its pages land in pm1.
    await fs1.registerOps(z1);
    for (let o = 0; o < 20; o++) expect(fs1.store(0, o, stampPage(3, o))).toBe(true);
    expect(z1.stats().persistentPages).toBe(20);
    expect(z2.stats().persistentPages).toBe(0);
    pm1.detach(); pm2.detach();
  });

  it("unregisterOps with a foreign backend that shares a registered one's instance id is refused and loses no page", async () => {
    const pm1 = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const pm2 = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const z1 = await Zcache.create(pm1);
    const z2 = await Zcache.create(pm2);
    expect(z2.instance).toBe(z1.instance);
    const fs1 = Frontswap.for(pm1);
    const cc1 = Cleancache.for(pm1);
    await fs1.init(0);
    await fs1.registerOps(z1);
    await cc1.registerOps(z1);
    for (let o = 0; o < 50; o++) expect(fs1.store(0, o, stampPage(4, o))).toBe(true);
    expect(await errorCodeAsync(() => fs1.unregisterOps(z2))).toBe("EINVAL");
    expect(await errorCodeAsync(() => cc1.unregisterOps(z2))).toBe("EINVAL");
    expect(fs1.backends()).toEqual([z1.instance]);
    expect(cc1.backends()).toEqual([z1.instance]);
    const into = new Uint8Array(4096);
    for (let o = 0; o < 50; o++) {
      expect(fs1.load(0, o, into), `offset ${o}`).toBe(true);
      expect(same(into, stampPage(4, o))).toBe(true);
    }
    // The real one still unregisters cleanly.
    await cc1.unregisterOps(z1);
    pm1.detach(); pm2.detach();
  });

  it("unregisterOps with a stale object of a destroyed instance whose id is reused is ENOENT and leaves the live one registered", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const old = await Zcache.create(pm);
    old.destroy();
    const live = await Zcache.create(pm);
    expect(live.instance).toBe(old.instance);
    expect(live.generation).not.toBe(old.generation);
    const fs = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    await fs.init(0);
    await fs.registerOps(live);
    await cc.registerOps(live);
    const fsId = await cc.initFs();
    for (let o = 0; o < 30; o++) expect(fs.store(0, o, stampPage(5, o))).toBe(true);
    expect(cc.putPage(fsId, 7, 0, stampPage(6, 0))).toBe(true);
    expect(await errorCodeAsync(() => fs.unregisterOps(old))).toBe("ENOENT");
    expect(await errorCodeAsync(() => cc.unregisterOps(old))).toBe("ENOENT");
    expect(fs.backends()).toEqual([live.instance]);
    expect(cc.backends()).toEqual([live.instance]);
    const into = new Uint8Array(4096);
    for (let o = 0; o < 30; o++) expect(fs.load(0, o, into)).toBe(true);
    expect(cc.getPage(fsId, 7, 0, into)).toBe(true);
    expect(same(into, stampPage(6, 0))).toBe(true);
    pm.detach();
  });

  it("unregisterOps and registerOps with a non-backend are EINVAL, not a TypeError", async () => {
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
    const fs = Frontswap.for(pm);
    const cc = Cleancache.for(pm);
    for (const bad of [undefined, null, 0, "zcache", {}]) {
      expect(await errorCodeAsync(() => fs.unregisterOps(bad as never)), String(bad)).toBe("EINVAL");
      expect(await errorCodeAsync(() => cc.unregisterOps(bad as never)), String(bad)).toBe("EINVAL");
      expect(await errorCodeAsync(() => fs.registerOps(bad as never)), String(bad)).toBe("EINVAL");
      expect(await errorCodeAsync(() => cc.registerOps(bad as never)), String(bad)).toBe("EINVAL");
    }
    pm.detach();
  });
});

describe("forged ids", () => {
  it("zpool handles that are forged, freed, of another pool, or of another driver are EINVAL; live objects stay intact", async () => {
    const pm1 = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
    const pm2 = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
    const zs = await createPool("zsmalloc", pm1);
    const zb = await createPool("zbud", pm1);
    const other = await createPool("zsmalloc", pm2);
    const live = zs.malloc(200);
    zs.map(live, "wo").fill(0x5a); zs.unmap(live);
    const freed = zs.malloc(200); zs.free(freed);
    // Handles are numbers: one from another memory may equal a live one here, so it is not among
    // the forged ones; one of another pool or driver of this memory names its pool and is refused.
    other.malloc(200);
    const zs2 = await createPool("zsmalloc", pm1);
    const sibling = zs2.malloc(200);
    const bud = zb.malloc(200);
    for (const h of [NaN, -1, 0, 1.5, 2 ** 32, "7", null, live + 7, live ^ 0x8000_0000, freed, sibling, bud]) {
      expect(errorCode(() => zs.map(h as ZpoolHandle, "ro")), `map ${String(h)}`).toBe("EINVAL");
      expect(errorCode(() => zs.free(h as ZpoolHandle)), `free ${String(h)}`).toBe("EINVAL");
    }
    expect(errorCode(() => zb.map(live, "ro"))).toBe("EINVAL");
    for (const s of [NaN, -1, 0, 1.5, "10", 2 ** 31]) expect(["EINVAL", "ENOSPC"]).toContain(errorCode(() => zs.malloc(s as number)));
    const v = zs.map(live, "ro");
    expect(v.length).toBeGreaterThanOrEqual(200);
    expect(v.subarray(0, 200).every((b) => b === 0x5a)).toBe(true);
    zs.unmap(live);
    pm1.detach(); pm2.detach();
  });

  it("cleancache and frontswap keys that are not integers in range are EINVAL and store nothing", async () => {
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
    const { fs, cc, z, fsId: id } = await frontends(pm);
    const page = stampPage(1, 1);
    for (const k of [NaN, -1, 1.5, 2n ** 192n, -1n, "1", null, {}, [1], new Uint32Array(2), Infinity, 2 ** 53]) {
      expect(errorCode(() => cc.putPage(id, k as never, 0, page)), `key ${String(k)}`).toBe("EINVAL");
    }
    for (const f of [NaN, -1, 0, 63, id + 0.5, 2 ** 40, String(id), id + 1, id + (1 << 20)]) {
      expect(errorCode(() => cc.putPage(f as FsId, 1, 0, page)), `fs ${String(f)}`).toBe("EINVAL");
    }
    for (const x of [NaN, -1, 0.5, 2 ** 32, "0"]) {
      expect(errorCode(() => cc.putPage(id, 1, x as number, page))).toBe("EINVAL");
      expect(errorCode(() => fs.store(x as SwapType, 0, page))).toBe("EINVAL");
      expect(errorCode(() => fs.store(0, x as number, page))).toBe("EINVAL");
    }
    expect(z.stats().persistentPages + z.stats().ephemeralPages).toBe(0);
    pm.detach();
  });
});
