// SPDX-License-Identifier: MIT
// zcache policies: same-filled pages, poor-compression rejection, the
// persistent cap with zswap's hysteresis, LRU eviction of ephemeral pages
// (never blocking persistent ones), per-client accounting, drivers by name.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { registerJsDrivers } from "./js-driver.js";
import { registeredDrivers } from "../src/zpool/index.js";
import { corpusPage, loadCorpus, noise, rejectsWith, throwsWith } from "./helpers.js";

// Real anon pages: ../shared/corpus when present, else the repo's 512-page sample.
const anon = await loadCorpus("anon");
const DRIVERS = registeredDrivers().includes("zsmalloc") ? ["zsmalloc", "zbud"] : ["zbud"];

// Pages that compress (reference LZ4 size 100..3072 B): same-filled and poorly compressible pages are tested separately.
const compressible = [...anon.sizes.keys()].filter((k) => anon.sizes[k]! >= 100 && anon.sizes[k]! <= 3072);
/** A compressible real anon page: the i-th of them (modulo their number), spread over the corpus. */
function page(i: number): Uint8Array {
  return corpusPage(anon, compressible[(i * 13) % compressible.length]!).slice();
}

async function setup(frames: number, options: Parameters<typeof Zcache.create>[1] = {}) {
  const pm = await PhysicalMemory.create({ frames });
  const z = await Zcache.create(pm, { zpool: "zbud", ...options });
  const fs = Frontswap.for(pm);
  const cc = Cleancache.for(pm);
  await fs.registerOps(z);
  await cc.registerOps(z);
  await fs.init(0);
  return { pm, z, fs, cc };
}

/** Byte equality without vitest's slow deep diff of 4 KiB arrays. */
function expectSame(a: Uint8Array | undefined, b: Uint8Array | undefined): void {
  expect(a !== undefined && b !== undefined && a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0,
    "pages differ").toBe(true);
}

describe("zcache", () => {
  // The built-in drivers store in one wasm call; "-js" is the same allocator behind a JavaScript driver (the generic path).
  const js = registerJsDrivers();
  for (const driver of [...DRIVERS, js.zsmalloc, js.zbud]) {
    it(`stores through a ${driver} zpool${driver.endsWith("-js") ? " (generic zpool path)" : ""}`, async () => {
      const { pm, z, fs } = await setup(1024, { zpool: driver });
      expect(z.zpoolType).toBe(driver);
      const out = new Uint8Array(4096);
      let n = 0;
      for (let i = 0; i < 200; i++) if (fs.store(0, i, page(i))) n++;
      expect(n).toBeGreaterThan(150);
      for (let i = 0; i < 200; i++) if (fs.load(0, i, out)) expectSame(out, page(i));
      const s = z.stats();
      expect(s.persistentPages).toBe(n);
      expect(s.persistentZbytes).toBeGreaterThan(0);
      expect(s.zpoolPages.persistent).toBeGreaterThan(0);
      expect(s.core.descriptors).toBe(n);
      pm.detach();
    });
  }

  it("stores same-filled pages as one word, with no allocation", async () => {
    const { pm, z, fs } = await setup(512);
    const out = new Uint8Array(4096);
    const before = z.stats().zpoolPages.persistent;
    const pats = [0, 0xff, 0x5a];
    const word = new Uint8Array(4096);
    const dv = new DataView(word.buffer);
    for (let i = 0; i < 512; i++) dv.setBigUint64(i * 8, 0x0102030405060708n, true);
    for (let i = 0; i < pats.length; i++) expect(fs.store(0, i, new Uint8Array(4096).fill(pats[i]!))).toBe(true);
    expect(fs.store(0, 9, word)).toBe(true);
    const almost = word.slice(); almost[4095] = almost[4095]! ^ 1; // not same-filled: last word differs
    expect(fs.store(0, 10, almost)).toBe(true);
    const s = z.stats();
    expect(s.sameFilledPages).toBe(4);
    expect(s.persistentZbytes).toBeGreaterThan(0); // only `almost` was compressed
    for (let i = 0; i < pats.length; i++) { expect(fs.load(0, i, out)).toBe(true); expectSame(out, new Uint8Array(4096).fill(pats[i]!)); }
    expect(fs.load(0, 9, out)).toBe(true);
    expectSame(out, word);
    expect(fs.load(0, 10, out)).toBe(true);
    expectSame(out, almost);
    expect(z.stats().zpoolPages.persistent - before).toBeLessThanOrEqual(1);
    for (const off of [0, 1, 2, 9]) fs.invalidatePage(0, off);
    expect(z.stats().sameFilledPages).toBe(0);
    pm.detach();
  });

  it("rejects poorly compressible pages, with a configurable threshold, and counts them", async () => {
    const { pm, z, fs } = await setup(512, { maxZsizeFraction: 0.25 });
    let rejected = 0, stored = 0;
    for (let i = 0; i < 100; i++) if (fs.store(0, i, page(i))) stored++; else rejected++;
    expect(fs.store(0, 1000, noise(3))).toBe(false);
    const s = z.stats();
    expect(s.compressPoor).toBe(rejected + 1);
    expect(s.failedPersistentPuts).toBe(rejected + 1);
    expect(stored).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
    expect(s.persistentZbytes / Math.max(1, stored - s.sameFilledPages)).toBeLessThanOrEqual(1024);
    pm.detach();
  });

  it("caps the persistent pool with zswap's hysteresis", async () => {
    // 1024 frames, cap 10% = 102 frames, accept again below 50% of that = 51.
    const { pm, z, fs } = await setup(1024, { maxPoolPercent: 10, acceptThresholdPercent: 50 });
    let i = 0;
    for (; z.stats().poolLimitHit === 0 && i < 5000; i++) fs.store(0, i, page(i));
    const s = z.stats();
    expect(s.reachedFull).toBe(true);
    expect(s.poolLimitHit).toBe(1);
    expect(s.zpoolPages.persistent).toBeGreaterThanOrEqual(102);
    // Still refused after freeing a little: usage is above the accept threshold.
    for (let k = 0; k < 10; k++) fs.invalidatePage(0, k);
    expect(fs.store(0, 100000, page(1))).toBe(false);
    expect(z.stats().poolLimitHit).toBe(2);
    // Free (nearly) everything, so usage drops below the threshold: accepted again.
    for (let k = 0; k < i; k++) fs.invalidatePage(0, k);
    z.persistent.compact();
    expect(z.stats().zpoolPages.persistent).toBeLessThan(51);
    expect(fs.store(0, 100001, page(2))).toBe(true);
    expect(z.stats().reachedFull).toBe(false);
    pm.detach();
  });

  it("evicts ephemeral pages in LRU order, and they never block persistent ones", async () => {
    const { pm, z, fs, cc } = await setup(160);
    const shared = await cc.initSharedFs("00112233445566778899aabbccddeeff");
    const out = new Uint8Array(4096);
    // Fill memory with clean pages.
    let puts = 0;
    for (let i = 0; i < 400; i++) if (cc.putPage(shared, 1, i, page(i))) puts++;
    expect(puts).toBeGreaterThan(300);
    const ev0 = z.stats().evictedPages;
    expect(ev0).toBeGreaterThan(0); // memory ran out: older clean pages made room
    // The oldest are gone, the newest are there (LRU).
    expect(cc.getPage(shared, 1, 0, out)).toBe(false);
    expect(cc.getPage(shared, 1, 399, out)).toBe(true);
    expectSame(out, page(399));
    // Touch a few old survivors, evict some: the untouched older ones go first.
    const survivors: number[] = [];
    for (let i = 0; i < 400; i++) if (cc.getPage(shared, 1, i, out)) survivors.push(i);
    const touched = survivors.slice(0, 5);
    for (const i of touched) expect(cc.getPage(shared, 1, i, out)).toBe(true);
    expect(z.shrink(survivors.length - 10)).toBe(survivors.length - 10);
    for (const i of touched) expect(cc.getPage(shared, 1, i, out)).toBe(true);
    // Persistent stores always win over clean pages: fill with swap pages.
    for (let i = 400; i < 800; i++) if (cc.putPage(shared, 1, i, page(i))) puts++;
    let stored = 0;
    for (let i = 0; i < 150; i++) if (fs.store(0, i, page(1000 + i))) stored++;
    expect(stored).toBeGreaterThan(100);
    // No persistent store failed for lack of memory: clean pages made way.
    expect(z.stats().rejectAllocFail).toBe(0);
    expect(z.stats().poolLimitHit).toBe(0);
    for (let i = 0; i < 150; i++) if (fs.load(0, i, out)) expectSame(out, page(1000 + i));
    expect(z.stats().evictedPages).toBeGreaterThan(ev0);
    pm.detach();
  });

  it("accounts per client and refuses to be destroyed while it holds pages", async () => {
    const { pm, z, fs } = await setup(512);
    for (let i = 0; i < 20; i++) fs.store(0, i, page(i));
    const s = z.stats();
    const me = s.clients.find((c) => c.client === pm.slot)!;
    expect(me.persistentPages).toBe(s.persistentPages);
    expect(me.zbytes).toBe(s.persistentZbytes);
    expect(me.puts).toBe(s.persistentPuts);
    throwsWith(() => z.destroy(), "EBUSY"); // its pools are still registered with frontswap
    await fs.unregisterOps(z, { writeback: () => {} });
    await Cleancache.for(pm).unregisterOps(z);
    z.destroy();
    // Nothing leaked: only the tmem index's own metadata (descriptor slab and
    // bucket table, kept for reuse) still holds frames.
    const st = pm.stats();
    expect(st.byOwner[3] ?? 0).toBe(0); // zbud
    expect(st.byOwner[2] ?? 0).toBe(0); // zsmalloc
    expect(st.usedFrames).toBe(st.byOwner[4]);
    pm.detach();
  });

  it("a load while this Worker has a zsmalloc object mapped fails with EBUSY and keeps the page", async () => {
    const { pm, z, fs } = await setup(512, { zpool: "zsmalloc" });
    expect(fs.store(0, 1, page(1))).toBe(true);
    const h = z.persistent.malloc(100);
    z.persistent.map(h, "rw");
    const out = new Uint8Array(4096);
    throwsWith(() => fs.load(0, 1, out), "EBUSY");
    z.persistent.unmap(h);
    z.persistent.free(h);
    expect(fs.load(0, 1, out)).toBe(true);
    expectSame(out, page(1));
    pm.detach();
  });

  it("checks its options and driver name", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    await rejectsWith(Zcache.create(pm, { zpool: "no-such-driver" }), "ENODEV");
    await rejectsWith(Zcache.create(pm, { maxZsizeFraction: 0 }), "EINVAL");
    await rejectsWith(Zcache.create(pm, { maxPoolPercent: 150 }), "EINVAL");
    await rejectsWith(Zcache.create(pm, { acceleration: 0 }), "EINVAL");
    // Nothing leaked: a valid one still fits.
    const z = await Zcache.create(pm, { zpool: "zbud" });
    expect(await Zcache.open(pm, z.instance)).toBe(z);
    z.destroy();
    pm.detach();
  });
});
