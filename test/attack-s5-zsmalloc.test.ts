// SPDX-License-Identifier: MIT
// Attacks on zsmalloc (session 5, the attacker's pass over zsm's smaller
// metadata: 64-byte zspage descriptors from a pool-wide slab whose table
// frames go back as they empty, batched malloc/free logging): every size
// class at both of its edges filled past three zspages, thinned in a random
// order and compacted; compaction by two threads while a Worker frees the
// objects under it; stale handles after every descriptor leaf went back and
// was reused; forged handles (fast-check). After each: every survivor's bytes
// exact, zs_check 0, and every frame back at the end.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { zsmallocDriver, type ZsmallocBackend } from "../src/zpool/drivers/zsmalloc.js";
import { errorCode } from "./helpers.js";

const workerUrl = new URL("./workers/attack-s5-zsfree.mjs", import.meta.url);

const sign = (v: Uint8Array, h: number): void => { const s = (h * 31) & 255; for (let i = 0; i < v.length; i++) v[i] = (i ^ s) & 255; };
function intact(p: ZsmallocBackend, h: number, size: number): boolean {
  const v = p.map(h, "ro");
  const s = (h * 31) & 255;
  let ok = v.length === size;
  for (let i = 0; ok && i < v.length; i++) ok = v[i] === ((i ^ s) & 255);
  p.unmap(h);
  return ok;
}
function put(p: ZsmallocBackend, size: number): number {
  const h = p.malloc(size);
  const v = p.map(h, "wo");
  sign(v, h);
  p.unmap(h);
  return h;
}
/** A seeded shuffle (xorshift32). */
function shuffle<T>(a: T[], seed: number): T[] {
  let x = seed >>> 0 || 1;
  for (let i = a.length - 1; i > 0; i--) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const j = x % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe("every size class", () => {
  it("both edges of every class, past three zspages each, thinned at random and compacted: survivors exact, zs_check 0, all frames back", async () => {
    const pm = await PhysicalMemory.create({ frames: 16384, maxWorkers: 2 });
    const before = pm.stats().usedFrames;
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const classes = p.classStats();
    expect(classes.length).toBeGreaterThan(20);
    const live = new Map<number, number>();
    let lo = 1;
    for (const c of classes) {
      const n = c.objsPerZspage * 3 + 1;
      for (const size of [lo, c.size]) for (let i = 0; i < n; i++) live.set(put(p, size), size);
      lo = c.size + 1;
    }
    expect(pm.core.zs_check(p.id)).toBe(0);
    // Every class got its objects: its row counts them.
    for (const c of p.classStats()) expect(c.objUsed, `class ${c.index} (${c.size} B)`).toBeGreaterThan(c.objsPerZspage * 3);
    const order = shuffle([...live.keys()], 1234);
    for (const h of order.slice(0, Math.floor(order.length * 0.7))) { p.free(h); live.delete(h); }
    expect(pm.core.zs_check(p.id)).toBe(0);
    const freedFrames = p.compact();
    expect(freedFrames).toBeGreaterThan(0);
    expect(pm.core.zs_check(p.id)).toBe(0);
    const bad = [...live].filter(([h, size]) => !intact(p, h, size));
    expect(bad.length).toBe(0);
    // Fill again into the compacted pool, then everything goes.
    lo = 1;
    for (const c of classes) { live.set(put(p, c.size), c.size); live.set(put(p, lo), lo); lo = c.size + 1; }
    for (const [h, size] of live) { expect(intact(p, h, size)).toBe(true); p.free(h); }
    expect(pm.core.zs_check(p.id)).toBe(0);
    expect(p.stats()).toMatchObject({ objects: 0, objectBytes: 0, objectPages: 0 });
    for (const row of p.classStats()) expect(row.zspages).toBe(0);
    p.destroy();
    expect(pm.stats().usedFrames).toBe(before);
    pm.detach();
  });
});

describe("compaction under concurrent frees", () => {
  it("a Worker frees (after checking) half the objects while it and the main thread compact; the main thread frees and compacts too", async () => {
    const pm = await PhysicalMemory.create({ frames: 16384, maxWorkers: 4 });
    const before = pm.stats().usedFrames;
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const sizes = [24, 100, 200, 333, 500, 700, 1000, 1500, 2100, 3000, 3600, 4096];
    const live = new Map<number, number>();
    for (let i = 0; i < 6000; i++) { const size = sizes[i % sizes.length]! - (i % 7); live.set(put(p, size), size); }
    const all = shuffle([...live.keys()], 99);
    const theirs = all.slice(0, 3000), mine = all.slice(3000, 4500), keep = all.slice(4500);
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = 2;
    const w = new Worker(workerUrl, { workerData: { handle: pm.handle, pool: p.id, handles: theirs, compactEvery: 97, barrier } });
    const done = new Promise<{ freed: number; corrupt: number; compacted: number; errors: string[] }>((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    });
    Atomics.add(barrier, 0, 1);
    while (Atomics.load(barrier, 0) < 2) await new Promise((r) => setTimeout(r, 1));
    let mineFreed = 0;
    for (const h of mine) {
      expect(intact(p, h, live.get(h)!)).toBe(true);
      p.free(h);
      live.delete(h);
      if (++mineFreed % 50 === 0) { p.compact(); await new Promise((r) => setImmediate(r)); }
    }
    const r = await done;
    await w.terminate();
    expect(r).toMatchObject({ freed: theirs.length, corrupt: 0, errors: [] });
    for (const h of theirs) live.delete(h);
    // Their handles are dead here too.
    expect(errorCode(() => p.free(theirs[0]!))).toBe("EINVAL");
    p.compact();
    expect(pm.core.zs_check(p.id)).toBe(0);
    for (const h of keep) expect(intact(p, h, live.get(h)!)).toBe(true);
    for (const h of keep) p.free(h);
    expect(p.stats()).toMatchObject({ objects: 0 });
    p.destroy();
    expect(pm.stats().usedFrames).toBe(before);
    pm.detach();
  });
});

describe("stale and forged handles", () => {
  it("every handle of a fully emptied pool stays dead after its descriptor frames went back and were reused", async () => {
    const pm = await PhysicalMemory.create({ frames: 8192, maxWorkers: 2 });
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const old: number[] = [];
    for (let i = 0; i < 3000; i++) old.push(put(p, 40 + (i % 600)));
    for (const h of old) p.free(h);
    const fresh = new Map<number, number>();
    for (let i = 0; i < 3000; i++) { const size = 700 - (i % 600); fresh.set(put(p, size), size); }
    const oldSet = new Set(old);
    const stale = old.filter((h) => !fresh.has(h));
    // A reused handle value must be a new generation (else a stale holder frees a live object).
    expect(old.filter((h) => fresh.has(h)).length).toBe(0);
    for (const h of stale.slice(0, 500)) {
      expect(errorCode(() => p.free(h))).toBe("EINVAL");
      expect(errorCode(() => p.map(h, "ro"))).toBe("EINVAL");
      expect(errorCode(() => p.objSize(h))).not.toBe("no error");
    }
    expect(pm.core.zs_check(p.id)).toBe(0);
    for (const [h, size] of fresh) { expect(intact(p, h, size)).toBe(true); p.free(h); }
    expect(oldSet.size).toBe(3000);
    p.destroy();
    pm.detach();
  });

  it("forged handles (any u32, negatives, fractions, NaN) are refused without a trap and change nothing", async () => {
    const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 2 });
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const live = new Map<number, number>();
    for (let i = 0; i < 500; i++) { const size = 1 + ((i * 37) % 4096); live.set(put(p, size), size); }
    fc.assert(fc.property(
      fc.oneof(fc.nat({ max: 0xffff_ffff }), fc.integer({ min: -0x8000_0000, max: -1 }), fc.double(), fc.constantFrom(NaN, Infinity, 2 ** 32, 2 ** 53)),
      (h) => {
        if (live.has(h)) return;
        expect(errorCode(() => p.free(h as number))).not.toBe("no error");
        expect(errorCode(() => p.map(h as number, "rw"))).not.toBe("no error");
      }), { numRuns: 3000, seed: 5 });
    // Raw exports, below the TypeScript checks: no trap, nothing freed.
    for (let i = 0; i < 3000; i++) {
      const h = (Math.imul(i, 2654435761) ^ (i << 7)) >>> 0;
      if (live.has(h)) continue;
      expect(pm.core.zs_free(p.id, h)).toBeLessThan(0);
    }
    expect(pm.core.zs_check(p.id)).toBe(0);
    for (const [h, size] of live) { expect(intact(p, h, size)).toBe(true); p.free(h); }
    p.destroy();
    pm.detach();
  });
});
