// SPDX-License-Identifier: MIT
// Boundaries that hold (issue 9): page arguments checked by the engine's own
// accessors, views into the physical memory refused, every layer refusing a
// detached memory without writing anything, owners of frames enforced, and
// options and control blocks that are not what they claim refused.
import { describe, expect, it } from "vitest";
import { PhysicalMemory, type Pfn } from "../bindings/physmem.js";
import { Owner } from "../bindings/layout.js";
import { compressPhysical } from "../bindings/lz4.js";
import { Frontswap } from "../src/frontswap.js";
import { createPool } from "../src/zpool/index.js";
import { errorCode, errorCodeAsync } from "./helpers.js";
import { stampPage } from "./workers/stamp.mjs";
import { frontends } from "./frontends.js";

describe("page arguments", () => {
  it("a faked length, a non-Uint8Array and a view into the physical memory are EINVAL; nothing is stored or overwritten", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024 });
    const { fs, cc, z, fsId } = await frontends(pm);
    for (let o = 0; o < 100; o++) expect(fs.store(0, o, stampPage(1, o))).toBe(true);

    const short = new Uint8Array(16);
    Object.defineProperty(short, "length", { value: 4096 });
    Object.defineProperty(short, "byteLength", { value: 4096 });
    const fake = Object.setPrototypeOf({ length: 4096, byteLength: 4096 }, Uint8Array.prototype) as Uint8Array;
    const words = new Uint32Array(1024);
    // Every frame the zsmalloc pools hold: a view of one of them as `into` must not be written.
    const zsFrames: number[] = [];
    for (let pfn = 0; pfn < pm.frames; pfn++) if (pm.frameOwner(pm.pfn(pfn)) === Owner.ZSMALLOC) zsFrames.push(pfn);
    expect(zsFrames.length).toBeGreaterThan(0);
    const alias = pm.frameBytes(pm.pfn(zsFrames[zsFrames.length - 1]!));
    const before = alias.slice();
    for (const bad of [short, fake, words, null, undefined, "x".repeat(4096), alias, new Uint8Array(pm.memory.buffer, 0, 4096)]) {
      expect(errorCode(() => fs.store(0, 500, bad as Uint8Array))).toBe("EINVAL");
      expect(errorCode(() => fs.load(0, 5, bad as Uint8Array))).toBe("EINVAL");
      expect(errorCode(() => cc.putPage(fsId, 1, 0, bad as Uint8Array))).toBe("EINVAL");
      expect(errorCode(() => cc.getPage(fsId, 1, 0, bad as Uint8Array))).toBe("EINVAL");
      expect(errorCode(() => z.putPage(z.persistent.id, new Uint32Array(6), 0, bad as Uint8Array))).toBe("EINVAL");
    }
    expect(Buffer.compare(Buffer.from(alias), Buffer.from(before))).toBe(0);
    expect(fs.curPages(0)).toBe(100);
    // A Buffer (a Uint8Array subclass) of its own memory is a page.
    const b = Buffer.alloc(4096);
    for (let o = 0; o < 100; o++) {
      expect(fs.load(0, o, b)).toBe(true);
      expect(Buffer.compare(b, Buffer.from(stampPage(1, o)))).toBe(0);
    }
    pm.detach();
  });
});

describe("a detached memory", () => {
  it("every layer refuses it with one clear error and writes nothing into the shared memory", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 4 });
    const { fs, cc, z, fsId } = await frontends(pm);
    const pool = await createPool("zsmalloc", pm);
    const h = pool.malloc(100);
    expect(fs.store(0, 1, stampPage(2, 1))).toBe(true);
    const other = await PhysicalMemory.attach(pm.handle);
    const fs2 = Frontswap.for(other);
    await fs2.ready();
    pm.detach();
    // A new attach may now own the detached slot's scratch.
    const third = await PhysicalMemory.attach(pm.handle);
    const snapshot = new Uint8Array(pm.memory.buffer).slice();
    const out = new Uint8Array(4096);
    const calls: Array<[string, () => unknown]> = [
      ["store", () => fs.store(0, 2, stampPage(2, 2))],
      ["load", () => fs.load(0, 1, out)],
      ["invalidatePage", () => fs.invalidatePage(0, 1)],
      ["putPage", () => cc.putPage(fsId, 1, 0, stampPage(3, 0))],
      ["getPage", () => cc.getPage(fsId, 1, 0, out)],
      ["zcache putPage", () => z.putPage(1, new Uint32Array(6), 0, stampPage(3, 0))],
      ["zcache stats", () => z.stats()],
      ["zpool malloc", () => pool.malloc(10)],
      ["zpool map", () => pool.map(h, "ro")],
      ["allocFrame", () => pm.allocFrame()],
      ["stats", () => pm.stats()],
      ["frameOwner", () => pm.frameOwner(0 as Pfn)],
      ["compressPhysical", () => compressPhysical(pm, pm.layout.framesBase, 4096, pm.layout.framesBase + 4096, 4096)],
      ["Frontswap.for", () => Frontswap.for(pm)],
    ];
    const mem = (): Buffer => Buffer.from(new Uint8Array(pm.memory.buffer));
    for (const [name, f] of calls) {
      expect(errorCode(f), name).toBe("EINVAL");
      expect(Buffer.compare(mem(), Buffer.from(snapshot)), `${name} wrote into the memory`).toBe(0);
    }
    expect(await errorCodeAsync(() => fs.init(1)), "init").toBe("EINVAL");
    expect(await errorCodeAsync(() => cc.initFs()), "initFs").toBe("EINVAL");
    expect(Buffer.compare(Buffer.from(new Uint8Array(pm.memory.buffer)), Buffer.from(snapshot))).toBe(0);
    // The other instances were not disturbed.
    expect(fs2.load(0, 1, out)).toBe(true);
    expect(Buffer.compare(Buffer.from(out), Buffer.from(stampPage(2, 1)))).toBe(0);
    expect(fs2.load(0, 2, out)).toBe(false);
    third.detach();
    other.detach();
  });
});

describe("owners, options and control blocks", () => {
  it("freeFrame without an owner frees only the caller's own (USER) frames", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    const pool = await createPool("zsmalloc", pm);
    pool.malloc(3000);
    let zs = -1 as Pfn;
    for (let pfn = 0; pfn < pm.frames; pfn++) if (pm.frameOwner(pm.pfn(pfn)) === Owner.ZSMALLOC) { zs = pm.pfn(pfn); break; }
    expect(zs).toBeGreaterThanOrEqual(0);
    expect(errorCode(() => pm.freeFrame(zs))).toBe("EINVAL");
    expect(errorCode(() => pm.freeFrame(zs, 0))).toBe("EINVAL");
    expect(pm.frameOwner(zs)).toBe(Owner.ZSMALLOC);
    const mine = pm.allocFrame();
    pm.freeFrame(mine);
    expect(pm.frameOwner(mine)).toBe(0);
    pm.detach();
  });

  it("null and other non-values are errors, not defaults", async () => {
    for (const o of [{ frames: null }, { maxWorkers: null }, { build: null }, { frames: "4096" }, { frames: NaN }]) {
      expect(await errorCodeAsync(() => PhysicalMemory.create(o as never)), JSON.stringify(o)).toBe("EINVAL");
    }
    expect(await errorCodeAsync(() => PhysicalMemory.create(null as never))).toBe("EINVAL");
  });

  it("attaching to a memory too small or with a garbled control block is a clear error, before any wasm runs on it", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    const tiny = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    expect(await errorCodeAsync(() => PhysicalMemory.attach({ module: pm.module, memory: tiny }))).toBe("EINVAL");
    // A copy of pm's memory whose control block claims 300 frames where there is room for 256.
    const copy = new WebAssembly.Memory({ initial: pm.layout.wasmPages, maximum: pm.layout.wasmPages, shared: true });
    new Uint8Array(copy.buffer).set(new Uint8Array(pm.memory.buffer));
    new Uint32Array(copy.buffer, 65536, 16)[4] = 300;
    expect(await errorCodeAsync(() => PhysicalMemory.attach({ module: pm.module, memory: copy }))).toBe("EPROTO");
    new Uint32Array(copy.buffer, 65536, 16)[4] = 256;
    new Uint32Array(copy.buffer, 65536, 16)[9] = 0;
    expect(await errorCodeAsync(() => PhysicalMemory.attach({ module: pm.module, memory: copy }))).toBe("EPROTO");
    pm.detach();
  });
});
