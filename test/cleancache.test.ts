// SPDX-License-Identifier: MIT
// cleancache: placeholder pool ids before a backend (seed 000), shared pools
// by uuid, exclusive private gets, invalidations, chaining (seed 004), and a
// shared pool used by 2 Workers at once.
import { describe, expect, it } from "vitest";
import { errorCode, rejectsWith, throwsWith } from "./helpers.js";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Cleancache, type FsId } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { RawBackend } from "../src/tmem/raw.js";
import { corpusPage, loadCorpus, noise } from "./helpers.js";

// Real anon pages: ../shared/corpus when present, else the repo's 512-page sample.
const anon = await loadCorpus("anon");
function page(i: number): Uint8Array {
  return corpusPage(anon, i).slice();
}
const UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

/** Byte equality without vitest's slow deep diff of 4 KiB arrays. */
function expectSame(a: Uint8Array | undefined, b: Uint8Array | undefined): void {
  expect(a !== undefined && b !== undefined && a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0,
    "pages differ").toBe(true);
}

describe("cleancache", () => {
  it("hands out placeholder ids before a backend and maps them when one registers", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const cc = Cleancache.for(pm);
    const a = await cc.initFs();
    const s1 = await cc.initSharedFs(UUID);
    expect(a).toBeGreaterThanOrEqual(64);
    expect(s1).not.toBe(a);
    const out = new Uint8Array(4096);
    expect(cc.putPage(a, 7, 0, page(1))).toBe(false);
    expect(cc.getPage(a, 7, 0, out)).toBe(false);
    const z = await Zcache.create(pm, { zpool: "zbud" });
    expect(cc.realPool(a, z.instance)).toBeNull();
    await cc.registerOps(z);
    expect(cc.realPool(a, z.instance)).not.toBeNull();
    const s2 = await cc.initSharedFs(UUID); // a second mount of the same cluster fs
    expect(cc.realPool(s2, z.instance)).toBe(cc.realPool(s1, z.instance));
    // Private: exclusive get.
    expect(cc.putPage(a, 7, 0, page(1))).toBe(true);
    expect(cc.getPage(a, 7, 0, out)).toBe(true);
    expectSame(out, page(1));
    expect(cc.getPage(a, 7, 0, out)).toBe(false);
    // Shared: both mounts see it, gets keep it.
    expect(cc.putPage(s1, 1n << 100n, 3, page(2))).toBe(true);
    expect(cc.getPage(s2, 1n << 100n, 3, out)).toBe(true);
    expectSame(out, page(2));
    expect(cc.getPage(s1, 1n << 100n, 3, out)).toBe(true);
    // Put-put-get coherency.
    expect(cc.putPage(s1, 1n << 100n, 3, page(3))).toBe(true);
    expect(cc.getPage(s2, 1n << 100n, 3, out)).toBe(true);
    expectSame(out, page(3));
    // Inode invalidation drops every page of the inode, only of it.
    let accepted = 0;
    const kept: number[] = [];
    for (let i = 0; i < 20; i++) {
      if (cc.putPage(a, 9, i, page(i))) accepted++;
      if (cc.putPage(a, 10, i, page(i))) kept.push(i);
    }
    expect(accepted).toBeGreaterThan(10);
    expect(kept.length).toBeGreaterThan(10);
    expect(cc.invalidateInode(a, 9)).toBe(accepted);
    expect(cc.getPage(a, 9, kept[0]!, out)).toBe(false);
    expect(cc.getPage(a, 10, kept[0]!, out)).toBe(true);
    expectSame(out, page(kept[0]!));
    expect(cc.invalidatePage(a, 10, kept[1]!)).toBe(true);
    expect(cc.getPage(a, 10, kept[1]!, out)).toBe(false);
    // Unmount: one shared mount goes, the other keeps the pages.
    await cc.invalidateFs(s1);
    expect(cc.getPage(s2, 1n << 100n, 3, out)).toBe(true);
    await rejectsWith(cc.invalidateFs(s1), "EINVAL");
    await cc.invalidateFs(s2);
    await cc.invalidateFs(a);
    const c = cc.counters();
    expect(c.puts).toBe(44);
    expect(c.succGets + c.failedGets).toBe(10);
    expect(c.succGets).toBe(6);
    expect(c.invalidates).toBe(2);
    expect(z.stats().ephemeralPages).toBe(0);
    pm.detach();
  });

  it("rejects bad ids, keys, indexes and pages with EINVAL", async () => {
    const pm = await PhysicalMemory.create({ frames: 256 });
    const cc = Cleancache.for(pm);
    const a = await cc.initFs();
    const out = new Uint8Array(4096);
    throwsWith(() => cc.putPage(5 as FsId, 1, 0, page(0)), "EINVAL");
    throwsWith(() => cc.putPage(a, -1, 0, page(0)), "EINVAL");
    throwsWith(() => cc.putPage(a, new Uint8Array(25), 0, page(0)), "EINVAL");
    throwsWith(() => cc.putPage(a, 1, 2 ** 32, page(0)), "EINVAL");
    throwsWith(() => cc.putPage(a, 1, 0, new Uint8Array(100)), "EINVAL");
    throwsWith(() => cc.getPage(a, 1, 0, new Uint8Array(4095)), "EINVAL");
    await rejectsWith(cc.initSharedFs("not-a-uuid"), "EINVAL");
    expect(cc.counters().puts).toBe(0);
    void out;
    pm.detach();
  });

  it("chains: a page zcache rejects goes to the next backend; gets fall through; never two copies", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const cc = Cleancache.for(pm);
    const a = await cc.initFs();
    const raw = RawBackend.create(pm, { maxPages: 100 });
    expect(await cc.registerOps(raw)).toBeNull();
    const z = await Zcache.create(pm, { zpool: "zbud" });
    expect((await cc.registerOps(z))?.instance).toBe(raw.instance);
    await rejectsWith(cc.registerOps(z), "EEXIST");
    const out = new Uint8Array(4096);
    // Incompressible: zcache refuses (compress_poor), raw takes it.
    expect(cc.putPage(a, 1, 0, noise(5))).toBe(true);
    expect(z.stats().compressPoor).toBe(1);
    expect(raw.stats().pages).toBe(1);
    // Compressible under the same key: zcache takes it and the raw copy is gone first.
    expect(cc.putPage(a, 1, 0, page(4))).toBe(true);
    expect(raw.stats().pages).toBe(0);
    expect(z.stats().ephemeralPages).toBe(1);
    // And back: the zcache copy is flushed when the page goes to raw.
    expect(cc.putPage(a, 1, 0, noise(6))).toBe(true);
    expect(z.stats().ephemeralPages).toBe(0);
    expect(cc.getPage(a, 1, 0, out)).toBe(true);
    expectSame(out, noise(6));
    expect(raw.stats().pages).toBe(0); // exclusive get took it
    // Invalidations reach both.
    cc.putPage(a, 2, 0, noise(7));
    cc.putPage(a, 2, 1, page(8));
    expect(cc.invalidateInode(a, 2)).toBe(2);
    expect(raw.stats().pages + z.stats().ephemeralPages).toBe(0);
    // Unregistering the head leaves the chain working.
    cc.putPage(a, 3, 0, noise(9));
    await cc.unregisterOps(z);
    expect(cc.backends()).toEqual([raw.instance]);
    expect(cc.getPage(a, 3, 0, out)).toBe(true);
    z.destroy();
    pm.detach();
  });

  it("a shared pool used by 2 Workers at once returns exact bytes or misses", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 4 });
    const sab = new SharedArrayBuffer(64 * 4096);
    for (let i = 0; i < 64; i++) new Uint8Array(sab, i * 4096, 4096).set(page(i));
    const cc = Cleancache.for(pm);
    const z = await Zcache.create(pm, { zpool: "zsmalloc" });
    await cc.registerOps(z);
    const id = await cc.initSharedFs(UUID);
    // Pages put here are visible to both Workers (shared pools are not exclusive).
    let stored = 0;
    for (let i = 0; i < 64; i++) if (cc.putPage(id, 42, i, page(i))) stored++;
    expect(stored).toBeGreaterThan(40);
    const url = new URL("../build/test-workers/frontswap-stress-worker.js", import.meta.url);
    const ws = [0, 1].map(() => new Worker(url, { workerData: { handle: pm.handle, corpus: sab, zpool: "zbud" } }));
    await Promise.all(ws.map((w) => new Promise((r) => w.once("message", r))));
    const rs = await Promise.all(ws.map((w, i) => new Promise<Record<string, number | string>>((resolve) => {
      w.once("message", resolve);
      w.postMessage({ cmd: "cleancache", fs: id, key: 42, count: 64, rounds: 40, seed: 99 + i });
    })));
    for (const r of rs) {
      expect(r.error).toBeUndefined();
      expect(r.bad).toBe(0);
      expect(r.hits as number).toBeGreaterThan(100);
    }
    for (const w of ws) { w.postMessage({ cmd: "exit" }); await new Promise((r) => w.once("exit", r)); }
    const out = new Uint8Array(4096);
    for (let i = 0; i < 64; i++) if (cc.getPage(id, 42, i, out)) expectSame(out, page(i));
    pm.detach();
  });

  it("filesystem ids carry a generation: no alias between private and shared, no stale id reaching a later mount", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048 });
    const cc = Cleancache.for(pm);
    const z = await Zcache.create(pm, { zpool: "zbud" });
    await cc.registerOps(z);
    const a = await cc.initFs();
    expect(cc.putPage(a, 1, 0, page(1))).toBe(true);
    // An id never issued is EINVAL, whatever slot it would name.
    for (const forged of [a + 32, a + 64, a ^ 32, 1000, 2000, 2001, 0, -1, 1.5]) {
      expect(errorCode(() => cc.putPage(forged as FsId, 1, 0, page(2))), `id ${forged}`).toBe("EINVAL");
    }
    const out = new Uint8Array(4096);
    // The forged puts changed nothing.
    expect(cc.getPage(a, 1, 0, out)).toBe(true);
    expectSame(out, page(1));
    // After an unmount the slot's next mount gets a new id; the old one misses and never reads it.
    expect(cc.putPage(a, 2, 0, page(3))).toBe(true);
    await cc.invalidateFs(a);
    const s = await cc.initSharedFs(UUID);
    expect(s & 31).toBe(a & 31); // the same slot, reused
    expect(s).not.toBe(a);
    expect(cc.putPage(s, 2, 0, page(4))).toBe(true);
    expect(cc.getPage(a, 2, 0, out)).toBe(false);
    expect(cc.putPage(a, 2, 0, page(5))).toBe(false);
    expect(cc.invalidatePage(a, 2, 0)).toBe(false);
    expect(cc.getPage(s, 2, 0, out)).toBe(true);
    expectSame(out, page(4));
    await expect(cc.invalidateFs(a)).rejects.toMatchObject({ code: "EINVAL" });
    await cc.invalidateFs(s);
    await cc.unregisterOps(z);
    z.destroy();
    pm.detach();
  });
});
