// SPDX-License-Identifier: MIT
// Attacks on TmemCache (the attacker's pass over src/cache/): keys and values
// that are strings a UTF-8 round trip would change (lone surrogates), empty,
// expiring and over-budget values, bad TTLs and sweep counts, a cache used
// after its memory is detached or after another object destroyed it.
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemError } from "../bindings/status.js";
import { TmemCache } from "../src/cache/cache.js";
import { errorCode, noise } from "./helpers.js";

describe("strings UTF-8 cannot carry", () => {
  it("a key with a lone surrogate is a RangeError: it used to alias the key with U+FFFD in its place", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 2 << 20, sweepIntervalMs: 0 });
    cache.set("\uFFFD", "replacement char");
    for (const k of ["\uD800", "a\uDC00", "\uDBFF\uDBFF", "x\uD83D"]) {
      expect(() => cache.set(k, "lone"), JSON.stringify(k)).toThrow(RangeError);
      expect(() => cache.get(k)).toThrow(RangeError);
      expect(() => cache.delete(k)).toThrow(RangeError);
    }
    expect(cache.get("\uFFFD")).toBe("replacement char");
    // A well-formed pair is fine and distinct.
    cache.set("\uD83D\uDE00", "emoji");
    expect(cache.get("\uD83D\uDE00")).toBe("emoji");
    expect(cache.size).toBe(2);
    cache.destroy(); pm.detach();
  });

  it("a string value with a lone surrogate is a RangeError (it came back with U+FFFD in its place); nothing is stored", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 2 << 20, sweepIntervalMs: 0 });
    cache.set("k", "old");
    for (const v of ["x\uDC00y", "\uD800", "a".repeat(5000) + "\uD800"]) {
      expect(() => cache.set("k", v)).toThrow(RangeError);
      expect(cache.get("k")).toBe("old");
    }
    const ok = "\uD83D\uDE00".repeat(3000);
    cache.set("k", ok);
    expect(cache.get("k")).toBe(ok);
    cache.destroy(); pm.detach();
  });
});

describe("sizes, TTLs and lifetimes", () => {
  it("empty, expiring and over-budget values; bad TTLs and sweep counts change nothing", async () => {
    let now = 1_000_000;
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 256 << 10, sweepIntervalMs: 0, now: () => now });
    cache.set("", "");
    cache.set(new Uint8Array(0), new Uint8Array(0));
    expect(cache.get("")).toBe("");
    expect((cache.get(new Uint8Array(0)) as Uint8Array).length).toBe(0);
    for (const ttl of [NaN, -1, -Infinity]) expect(() => cache.set("t", "v", { ttl })).toThrow(RangeError);
    for (const ttl of ["5", null, {}]) expect(() => cache.set("t", "v", { ttl: ttl as number })).toThrow(TypeError);
    for (const n of [NaN, -1, 1.5, "3"]) expect(() => cache.sweep(n as number), String(n)).toThrow(RangeError);
    expect(cache.has("t")).toBe(false);
    cache.set("short", "x".repeat(3000), { ttl: 0.5 });
    cache.set("long", "y".repeat(3000), { ttl: Infinity });
    cache.set("huge-ttl", "z", { ttl: 1e308 });
    now += 1;
    expect(cache.get("short")).toBeUndefined();
    expect(cache.get("long")).toBe("y".repeat(3000));
    expect(cache.get("huge-ttl")).toBe("z");
    // Larger than the whole budget: E2BIG, and what was there stays.
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < 256; i++) big.set(noise(i + 1), i * 4096);
    expect(errorCode(() => cache.set("long", big))).toBe("E2BIG");
    expect(cache.get("long")).toBe("y".repeat(3000));
    cache.destroy(); pm.detach();
  });

  it("after pm.detach() get, has and delete are EINVAL too (get used to miss and count in the shared counters)", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const cache = await TmemCache.create(pm, { budget: 1 << 20, sweepIntervalMs: 0 });
    cache.set("a", "1");
    pm.detach();
    const before = new Int32Array(pm.memory.buffer).slice();
    expect(errorCode(() => cache.get("a"))).toBe("EINVAL");
    expect(errorCode(() => cache.get("missing"))).toBe("EINVAL");
    expect(errorCode(() => cache.has("a"))).toBe("EINVAL");
    expect(errorCode(() => cache.delete("a"))).toBe("EINVAL");
    expect(errorCode(() => cache.set("b", "2"))).toBe("EINVAL");
    expect(errorCode(() => cache.stats())).toBe("EINVAL");
    const after = new Int32Array(pm.memory.buffer);
    let changed = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed++;
    expect(changed, "words of the shared memory written after detach").toBe(0);
  });

  it("another object of the same cache destroyed it: every call is EINVAL, and a forged or foreign handle does not attach", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
    const pm2 = await PhysicalMemory.create({ frames: 512, maxWorkers: 2 });
    const a = await TmemCache.create(pm, { budget: 1 << 20, sweepIntervalMs: 0 });
    const b = await TmemCache.attach(pm, a.handle, { sweepIntervalMs: 0 });
    a.set("x", "1");
    expect(b.get("x")).toBe("1");
    const h = a.handle;
    a.destroy();
    for (const f of [() => b.get("x"), () => b.set("x", "2"), () => b.delete("x"), () => b.stats()]) expect(errorCode(f)).toBe("EINVAL");
    await expect(TmemCache.attach(pm, h)).rejects.toBeInstanceOf(TmemError);
    const c = await TmemCache.create(pm, { budget: 1 << 20, sweepIntervalMs: 0 });
    await expect(TmemCache.attach(pm, { ...c.handle, stamp: c.handle.stamp ^ 1 })).rejects.toBeInstanceOf(TmemError);
    await expect(TmemCache.attach(pm2, c.handle)).rejects.toBeInstanceOf(TmemError);
    c.destroy(); pm.detach(); pm2.detach();
  });
});
