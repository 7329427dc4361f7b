import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { zsmallocDriver, type ZsmallocBackend } from "../src/zpool/drivers/zsmalloc.js";
import { kernelZsmallocUsage } from "../src/zpool/kernel-zsmalloc.js";
import { corpusSizes } from "./helpers.js";

// Density against the kernel (reference/kernel.md §2.1, issue 13): after
// freeing 30 % of the objects and compact(), every frame the pool holds,
// metadata frames included, must be at most 98 % of the frames the kernel's
// zsmalloc would hold for the same live objects fully compacted (objects
// only: the kernel's own handle and zspage slabs are not counted against
// it). Right after the fill (no compaction) the object frames must not exceed
// the kernel's. Pages LZ4 cannot shrink (reference size > 4096) are stored as
// 4096-byte huge objects, in our pool and in the kernel's figure alike.

function sizes(name: "anon" | "file"): number[] {
  return Array.from(corpusSizes(name).sizes, (s) => Math.min(Math.max(s, 1), 4096));
}

let pm: PhysicalMemory;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 12288, maxWorkers: 2 });
});
afterAll(() => pm?.detach());

describe("zsmalloc density vs the kernel on real size distributions", () => {
  it.each(["anon", "file"] as const)("%s: after fill, and after freeing 30 per cent and compacting (metadata included ≤ 0.98 × kernel)", (name) => {
    const all = sizes(name);
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const hs = all.map((s) => p.malloc(s));
    const fill = p.stats();
    const kFill = kernelZsmallocUsage(all, 8);
    // Free a pseudo-random 30 %.
    let x = 2024;
    const kept: number[] = [];
    for (let i = 0; i < all.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      if ((x >>> 16) % 10 < 3) p.free(hs[i]!);
      else kept.push(all[i]!);
    }
    const beforeCompact = p.stats().objectPages;
    const freed = p.compact();
    const after = p.stats();
    const kHalf = kernelZsmallocUsage(kept, 8);
    const row = (label: string, ours: number, meta: number, objects: number, kernel: ReturnType<typeof kernelZsmallocUsage>): string =>
      `${name} ${label}: ours ${ours} object frames (+${meta} metadata frames, ` +
      `${((meta * 4096) / objects).toFixed(1)} B metadata/object) vs kernel ${kernel.pages} ` +
      `(+${(kernel.extraBytes / kernel.objects).toFixed(1)} B/object outside the pool, +8 B/object header inside) → ${(100 * ours / kernel.pages).toFixed(2)} %, ` +
      `${(100 * (ours + meta) / kernel.pages).toFixed(2)} % with our metadata`;
    console.log(row("fill", fill.objectPages, fill.metaPages, fill.objects, kFill));
    console.log(row(`30 % freed, compact freed ${freed} of ${beforeCompact}`, after.objectPages, after.metaPages, after.objects, kHalf));
    expect(fill.objectPages).toBeLessThanOrEqual(kFill.pages);
    expect(after.objects).toBe(kept.length);
    expect(after.objectPages + after.metaPages).toBeLessThanOrEqual(Math.floor(kHalf.pages * 0.98));
    expect(freed).toBeGreaterThan(0);
    p.destroy();
  });
});
