// SPDX-License-Identifier: MIT
// What the README's "How it works" says about the wasm boundary, counted:
// over the built-in drivers a zcache store and a load are one wasm call each
// (plus a pool-size read every ROOM_CHECK_EVERY persistent stores, for the
// cap), and an invalidate of a stored page two (tmem_flush_page, then
// tmem_zcache_free: the free and its accounting in one call).
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import type { CoreExports } from "../bindings/wasm.js";
import { Frontswap } from "../src/frontswap.js";
import { Cleancache } from "../src/cleancache.js";
import { Zcache } from "../src/zcache.js";
import { corpusPage, loadCorpus } from "./helpers.js";

const anon = await loadCorpus("anon");
const compressible = [...anon.sizes.keys()].filter((k) => anon.sizes[k]! >= 100 && anon.sizes[k]! <= 3072);
const page = (i: number): Uint8Array => corpusPage(anon, compressible[(i * 13) % compressible.length]!).slice();
const N = 200;

/** A memory whose wasm exports count their calls (by name) while `on`. */
async function counted(): Promise<{ pm: PhysicalMemory; calls: Map<string, number>; count: <T>(f: () => T) => T }> {
  const pm = await PhysicalMemory.create({ frames: 2048 });
  const calls = new Map<string, number>();
  let on = false;
  const real = pm.core;
  // Installed before any layer caches pm.core (TmemCore, the zpools and Zcache take it at creation).
  (pm as { core: CoreExports }).core = new Proxy(real, {
    get(t, k: string) {
      const v = (t as unknown as Record<string, unknown>)[k];
      if (typeof v !== "function") return v;
      return (...a: unknown[]) => {
        if (on) calls.set(k, (calls.get(k) ?? 0) + 1);
        return (v as (...x: unknown[]) => unknown)(...a);
      };
    },
  });
  const count = <T>(f: () => T): T => {
    calls.clear();
    on = true;
    try { return f(); } finally { on = false; }
  };
  return { pm, calls, count };
}

describe("wasm calls per page through zcache on the built-in drivers", () => {
  for (const zpool of ["zsmalloc", "zbud"]) {
    it(`${zpool}: a store and a load are one call each, an invalidate two (frontswap and cleancache)`, async () => {
      const { pm, calls, count } = await counted();
      const z = await Zcache.create(pm, { zpool, maxPoolPercent: 100, acceptThresholdPercent: 100 });
      const fs = Frontswap.for(pm);
      await fs.registerOps(z);
      await fs.init(0);
      const cc = Cleancache.for(pm);
      await cc.registerOps(z);
      const fsId = await cc.initFs();
      const out = new Uint8Array(4096);
      for (let i = 0; i < N; i++) expect(fs.store(0, i, page(i))).toBe(true);
      // Overwrites: tmem_zcache_store per store; the persistent cap reads the pool size every 32 stores.
      count(() => { for (let i = 0; i < N; i++) expect(fs.store(0, i, page(i + 1))).toBe(true); });
      expect(calls.get("tmem_zcache_store")).toBe(N);
      const other = [...calls].filter(([k]) => k !== "tmem_zcache_store").reduce((a, [, v]) => a + v, 0);
      expect(other).toBeLessThanOrEqual(3 * Math.ceil(N / 32));
      count(() => { for (let i = 0; i < N; i++) expect(fs.load(0, i, out)).toBe(true); });
      expect(Object.fromEntries(calls)).toEqual({ tmem_zcache_load: N });
      count(() => { for (let i = 0; i < N; i++) expect(fs.invalidatePage(0, i)).toBe(true); });
      expect(Object.fromEntries(calls)).toEqual({ tmem_flush_page: N, tmem_zcache_free: N });
      // cleancache (ephemeral: no cap to read): put, exclusive get, invalidate.
      count(() => { for (let i = 0; i < N; i++) expect(cc.putPage(fsId, i, 0, page(i))).toBe(true); });
      expect(Object.fromEntries(calls)).toEqual({ tmem_zcache_store: N });
      count(() => { for (let i = 0; i < N / 2; i++) expect(cc.getPage(fsId, i, 0, out)).toBe(true); });
      expect(Object.fromEntries(calls)).toEqual({ tmem_zcache_load: N / 2 });
      count(() => { for (let i = N / 2; i < N; i++) expect(cc.invalidatePage(fsId, i, 0)).toBe(true); });
      expect(Object.fromEntries(calls)).toEqual({ tmem_flush_page: N / 2, tmem_zcache_free: N / 2 });
      pm.detach();
    });
  }
});
