// SPDX-License-Identifier: MIT
// KeyvTmem under Keyv's own compliance suite, unmodified (@keyv/test-suite
// 2.1.2 with keyv 5.6.0), plus what the suite does not reach: the store's
// iterator by namespace, TTLs reaching the cache, and values over a page.
import * as vitest from "vitest";
import { describe, expect, it } from "vitest";
import Keyv from "keyv";
import keyvTestSuite from "@keyv/test-suite";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCache } from "../src/cache/index.js";
import { KeyvTmem } from "../src/cache/keyv.js";

const pm = await PhysicalMemory.create({ frames: 4096 });
const cache = await TmemCache.create(pm, { budget: 8 << 20, sweepIntervalMs: 0 });

// The suite makes a new store for every Keyv it builds; they share one cache, as stores sharing one server do.
keyvTestSuite(vitest, Keyv, () => new KeyvTmem(cache));

describe("KeyvTmem beyond the suite", () => {
  it("iterates one namespace's keys through the store, and clear() keeps other namespaces", async () => {
    cache.clear();
    const a = new Keyv({ store: new KeyvTmem(cache), namespace: "a" });
    const b = new Keyv({ store: new KeyvTmem(cache), namespace: "b" });
    for (let i = 0; i < 5; i++) { await a.set(`k${i}`, { i }); await b.set(`k${i}`, `b${i}`); }
    const store = new KeyvTmem(cache);
    const seen: string[] = [];
    for await (const [k, raw] of store.iterator("a")) {
      seen.push(k);
      expect(JSON.parse(raw as string).value.i).toBe(Number(k.slice(3)));
    }
    expect(seen.sort()).toEqual(["a:k0", "a:k1", "a:k2", "a:k3", "a:k4"]);
    await a.clear();
    expect(await a.get("k1")).toBeUndefined();
    expect(await b.get("k1")).toBe("b1");
    expect(cache.size).toBe(5);
  });

  it("passes Keyv's TTL to the cache, which frees the entry; values over a page round-trip", async () => {
    cache.clear();
    let now = 1000;
    const timed = await TmemCache.create(pm, { budget: 2 << 20, sweepIntervalMs: 0, now: () => now });
    const keyv = new Keyv({ store: new KeyvTmem(timed) });
    const big = { text: "lorem ipsum ".repeat(20_000), n: [1, 2, 3] };
    // Keyv also checks the TTL itself, on the real clock: long enough that a
    // loaded machine never expires it between set and get (it failed with 50 ms).
    await keyv.set("big", big, 600_000);
    expect(await keyv.get("big")).toEqual(big);
    expect(timed.stats().bytesStored).toBeLessThan(JSON.stringify(big).length / 4);
    now += 600_001;
    timed.sweep(1 << 20);
    expect(timed.size).toBe(0);
    expect(timed.stats().expirations).toBe(1);
    // Bad values reach Keyv as errors, and nothing is stored.
    const store = new KeyvTmem(timed);
    await expect(store.set("x", 42)).rejects.toThrow(TypeError);
    expect(timed.size).toBe(0);
    timed.destroy();
  });
});
