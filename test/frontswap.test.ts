// SPDX-License-Identifier: MIT
// frontswap over zcache: late registration, store/load/invalidate semantics,
// chaining, unuse/shrink/unregister draining, counters, real corpus pages.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap, type SwapType } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";
import { RawBackend } from "../src/tmem/raw.js";
import { registeredDrivers } from "../src/zpool/index.js";
import { loadCorpus, rejectsWith, throwsWith } from "./helpers.js";


const ZPOOL = registeredDrivers().includes("zsmalloc") ? "zsmalloc" : "zbud";

function page(seed: number, kind: "text" | "same" | "random" = "text"): Uint8Array {
  const p = new Uint8Array(4096);
  if (kind === "same") { p.fill(seed & 0xff); return p; }
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < 4096; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    p[i] = kind === "random" ? x & 0xff : 97 + (x % 7) + ((i >> 6) & 3);
  }
  return p;
}

/** Byte equality without vitest's slow deep diff of 4 KiB arrays. */
function expectSame(a: Uint8Array | undefined, b: Uint8Array | undefined): void {
  expect(a !== undefined && b !== undefined && a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0,
    "pages differ").toBe(true);
}

describe("frontswap", () => {
  it("remembers init before a backend registers; stores fail quietly until then", async () => {
    const pm = await PhysicalMemory.create({ frames: 4096 });
    const fs = Frontswap.for(pm);
    await fs.init(3);
    expect(fs.store(3, 10, page(1))).toBe(false);
    const out = new Uint8Array(4096);
    expect(fs.load(3, 10, out)).toBe(false);
    const z = await Zcache.create(pm, { zpool: ZPOOL });
    expect(await fs.registerOps(z)).toBeNull();
    expect(fs.store(3, 10, page(1))).toBe(true);
    expect(fs.load(3, 10, out)).toBe(true);
    expectSame(out, page(1));
    expect(fs.load(3, 10, out)).toBe(true); // loads keep the page
    expect(fs.store(3, 10, page(2))).toBe(true); // duplicate store replaces
    expect(fs.load(3, 10, out)).toBe(true);
    expectSame(out, page(2));
    expect(fs.curPages(3)).toBe(1);
    expect(fs.store(4, 1, page(1))).toBe(false); // type 4 never initialised
    await fs.init(4);
    expect(fs.store(4, 1, page(7, "same"))).toBe(true);
    expect(fs.load(4, 1, out)).toBe(true);
    expectSame(out, page(7, "same"));
    expect(z.stats().sameFilledPages).toBe(1);
    // An incompressible page is rejected, and the older copy goes with it.
    expect(fs.store(3, 10, page(9, "random"))).toBe(false);
    expect(fs.load(3, 10, out)).toBe(false);
    expect(z.stats().compressPoor).toBe(1);
    expect(fs.invalidatePage(4, 1)).toBe(true);
    expect(fs.invalidatePage(4, 1)).toBe(false);
    expect(fs.counters()).toEqual({ loads: 4, succStores: 3, failedStores: 3, invalidates: 1 });
    expect(fs.curPages()).toBe(0);
    pm.detach();
  });
});

describe("frontswap chaining and draining", () => {
  it("chains: rejected by the head goes to the next; loads fall through; invalidations reach all", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    const raw = RawBackend.create(pm, { maxPages: 4 });
    await fs.registerOps(raw);
    const z = await Zcache.create(pm, { zpool: ZPOOL });
    expect((await fs.registerOps(z))?.instance).toBe(raw.instance);
    const out = new Uint8Array(4096);
    // Incompressible pages: zcache refuses, raw (capacity 4) takes them.
    for (let i = 0; i < 6; i++) expect(fs.store(0, 100 + i, page(i, "random"))).toBe(i < 4);
    expect(raw.stats().pages).toBe(4);
    for (let i = 0; i < 4; i++) { expect(fs.load(0, 100 + i, out)).toBe(true); expectSame(out, page(i, "random")); }
    // A compressible page under an offset raw holds: zcache takes it, raw's copy goes.
    expect(fs.store(0, 100, page(50))).toBe(true);
    expect(raw.stats().pages).toBe(3);
    expect(fs.load(0, 100, out)).toBe(true);
    expectSame(out, page(50));
    expect(fs.curPages(0)).toBe(4);
    expect(fs.invalidatePage(0, 101)).toBe(true);
    expect(raw.stats().pages).toBe(2);
    // Rejected everywhere: no copy may survive.
    raw.setMaxPages(0);
    expect(fs.store(0, 102, page(77, "random"))).toBe(false);
    expect(fs.load(0, 102, out)).toBe(false);
    expect(fs.curPages(0)).toBe(2);
    await fs.invalidateArea(0);
    expect(fs.curPages(0)).toBe(0);
    expect(raw.stats().pages + z.stats().persistentPages).toBe(0);
    expect(fs.store(0, 1, page(1))).toBe(false); // area gone until init
    await fs.init(0);
    expect(fs.store(0, 1, page(1))).toBe(true);
    pm.detach();
  });

  it("unuse and shrink hand every page back exactly once before it leaves", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const fs = Frontswap.for(pm);
    const z = await Zcache.create(pm, { zpool: ZPOOL });
    await fs.registerOps(z);
    await fs.init(1);
    await fs.init(2);
    const want = new Map<string, Uint8Array>();
    for (let i = 0; i < 50; i++) {
      for (const t of [1, 2] as const) if (fs.store(t, i * 3, page(i * 10 + t))) want.set(`${t}/${i * 3}`, page(i * 10 + t));
    }
    expect(fs.curPages()).toBe(want.size);
    expect(fs.storedOffsets(1).length).toBe(fs.curPages(1));
    const got = new Map<string, Uint8Array>();
    const wb = (t: number, off: number, p: Uint8Array): void => {
      const k = `${t}/${off}`;
      expect(got.has(k)).toBe(false);
      got.set(k, p.slice());
    };
    expect(fs.unuse(1, wb, 10)).toBe(10);
    expect(fs.curPages(1)).toBe([...want.keys()].filter((k) => k.startsWith("1/")).length - 10);
    // A throwing callback keeps its page.
    let n = 0;
    expect(() => fs.unuse(1, () => { if (++n === 3) throw new Error("disk full"); })).toThrow("disk full");
    const left = fs.curPages();
    expect(fs.shrink(5, wb)).toBe(left - 5);
    expect(fs.curPages()).toBe(5);
    for (const [k, p] of got) expectSame(p, want.get(k));
    // 2 pages went to the callback that threw later (they left, as designed: handed back).
    expect(got.size + 2 + 5).toBe(want.size);
    pm.detach();
  });

  it("unregistering a backend drains it into the rest of the chain or the writeback", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const fs = Frontswap.for(pm);
    await fs.init(0);
    const raw = RawBackend.create(pm, { maxPages: 10 });
    await fs.registerOps(raw);
    const z = await Zcache.create(pm, { zpool: ZPOOL });
    await fs.registerOps(z);
    for (let i = 0; i < 30; i++) expect(fs.store(0, i, page(i))).toBe(true);
    expect(z.stats().persistentPages).toBe(30);
    // Without a writeback: raw takes 10, then EBUSY and zcache stays registered.
    await rejectsWith(fs.unregisterOps(z), "EBUSY");
    expect(fs.backends()).toEqual([z.instance, raw.instance]);
    expect(raw.stats().pages).toBe(10);
    expect(fs.curPages(0)).toBe(30);
    const out = new Uint8Array(4096);
    for (let i = 0; i < 30; i++) { expect(fs.load(0, i, out)).toBe(true); expectSame(out, page(i)); }
    // With one: the rest goes to the writeback; nothing is lost.
    const disk = new Map<number, Uint8Array>();
    await fs.unregisterOps(z, { writeback: (_t, off, p) => { disk.set(off, p.slice()); } });
    expect(fs.backends()).toEqual([raw.instance]);
    expect(disk.size).toBe(20);
    expect(fs.curPages(0)).toBe(10);
    for (let i = 0; i < 30; i++) {
      if (disk.has(i)) { expectSame(disk.get(i), page(i)); expect(fs.load(0, i, out)).toBe(false); }
      else { expect(fs.load(0, i, out)).toBe(true); expectSame(out, page(i)); }
    }
    z.destroy();
    await rejectsWith(fs.unregisterOps(z), "ENOENT");
    pm.detach();
  });

  it("rejects bad types, offsets and pages with EINVAL", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    const fs = Frontswap.for(pm);
    const out = new Uint8Array(4096);
    throwsWith(() => fs.store(32 as SwapType, 0, page(0)), "EINVAL"); // past the type checker: checked at run time
    throwsWith(() => fs.store(0, -1, page(0)), "EINVAL");
    throwsWith(() => fs.store(0, 2 ** 32, page(0)), "EINVAL");
    throwsWith(() => fs.store(0, 0, new Uint8Array(10)), "EINVAL");
    throwsWith(() => fs.load(0, 0.5, out), "EINVAL");
    await rejectsWith(fs.init(-1 as SwapType), "EINVAL");
    expect(fs.counters()).toEqual({ loads: 0, succStores: 0, failedStores: 0, invalidates: 0 });
    pm.detach();
  });

  it("stores and loads real anon pages byte-exact", async () => {
    // The full corpus (8192 pages) when ../shared is present, else the repo's 512-page sample.
    const { pages: file, count: n } = await loadCorpus("anon");
    const pm = await PhysicalMemory.create({ frames: 8192 });
    const fs = Frontswap.for(pm);
    const z = await Zcache.create(pm, { zpool: ZPOOL, maxPoolPercent: 100 });
    await fs.registerOps(z);
    await fs.init(0);
    const stored: number[] = [];
    for (let i = 0; i < n; i += 2) if (fs.store(0, i, file.subarray(i * 4096, i * 4096 + 4096))) stored.push(i);
    // Only poorly compressible pages (> 7/8 of a page) are rejected.
    const s = z.stats();
    expect(stored.length + s.compressPoor).toBe(n / 2);
    expect(s.compressPoor / (n / 2)).toBeLessThan(0.12);
    expect(s.sameFilledPages).toBeGreaterThan(0);
    const out = new Uint8Array(4096);
    for (const i of stored) {
      expect(fs.load(0, i, out)).toBe(true);
      if (!out.every((v, j) => v === file[i * 4096 + j])) throw new Error(`page ${i} came back different`);
    }
    pm.detach();
  });
});
