// zbud density against the kernel (reference/kernel.md §2.2): for the same
// allocation sequence our wasm zbud must use exactly the frames the kernel's
// online best fit uses (src/zpool/kernel-zbud.ts), with and without frees, on
// both corpus size distributions and on synthetic ones.
import { beforeAll, describe, expect, it } from "vitest";
import { PhysicalMemory } from "../bindings/physmem.js";
import { createPool } from "../src/zpool/index.js";
import type { ZbudStats } from "../src/zpool/drivers/zbud.js";
import { KernelZbud, kernelZbudPages, zbudStaticOptimum, KZBUD_MAX_SIZE } from "../src/zpool/kernel-zbud.js";
import { corpusSizes } from "./helpers.js";
import type { ZpoolHandle } from "../src/zpool/driver.js";

/** Every page's reference LZ4 size: the full corpus when ../shared is present, else the repo's sample. */
function loadSizes(name: "anon" | "file"): number[] {
  return Array.from(corpusSizes(name).sizes);
}

/** A small seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let pm: PhysicalMemory;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 12288, maxWorkers: 2 });
});

/** Allocate `sizes` in order (frees interleaved with probability `pFree`), comparing frames with the kernel's after every step. */
async function compare(sizes: number[], pFree: number, seed: number): Promise<{ ours: number; kernel: number; objects: number; peak: number }> {
  const pool = await createPool("zbud", pm);
  const k = new KernelZbud();
  const live: Array<[number, number]> = [];
  const rand = rng(seed);
  let mismatches = 0;
  for (const s of sizes) {
    if (s >= 1 && s <= KZBUD_MAX_SIZE) {
      live.push([pool.malloc(s), k.alloc(s)]);
    } else {
      k.alloc(s);
    }
    if (pFree > 0 && live.length > 0 && rand() < pFree) {
      const i = Math.floor(rand() * live.length);
      const [h, kid] = live[i]!;
      live[i] = live[live.length - 1]!;
      live.pop();
      pool.free(h as ZpoolHandle);
      k.free(kid);
    }
    if ((pool.stats() as ZbudStats).zbudPages !== k.pages) mismatches++;
  }
  expect(mismatches).toBe(0);
  const ours = (pool.stats() as ZbudStats).zbudPages;
  const out = { ours, kernel: k.pages, objects: live.length, peak: k.peakPages };
  for (const [h] of live) pool.free(h as ZpoolHandle);
  expect((pool.stats() as ZbudStats).zbudPages).toBe(0);
  pool.destroy();
  return out;
}

describe("zbud frames equal the kernel's online best fit", () => {
  for (const name of ["anon", "file"] as const) {
    it(`corpus ${name}: every page's LZ4 size in order, then with random frees`, async () => {
      const sizes = loadSizes(name);
      const fits = sizes.filter((s) => s <= KZBUD_MAX_SIZE);
      const r = await compare(sizes, 0, 1);
      const k = kernelZbudPages(sizes);
      expect(r.ours).toBe(k.pages);
      expect(k.rejected).toBe(sizes.length - fits.length);
      const optimum = zbudStaticOptimum(sizes);
      expect(r.ours).toBeGreaterThanOrEqual(optimum);
      console.log(`zbud ${name}: ${fits.length} objects (${k.rejected} rejected > 3968 B) in ${r.ours} frames = kernel ${k.pages}; static optimum ${optimum}; ${(fits.length / r.ours).toFixed(3)} objects/frame`);
      const f = await compare(sizes, 0.3, 7);
      expect(f.ours).toBe(f.kernel);
    });
  }

  it("synthetic distributions (uniform 200-3900, small 1-1984, same-size 2000) with and without frees", async () => {
    const rand = rng(42);
    const dists: Array<[string, () => number]> = [
      ["uniform 200..3900", () => 200 + Math.floor(rand() * 3701)],
      ["small 1..1984", () => 1 + Math.floor(rand() * 1984)],
      ["same 2000", () => 2000],
    ];
    for (const [name, gen] of dists) {
      const sizes = Array.from({ length: 3000 }, gen);
      const r = await compare(sizes, 0, 3);
      expect(r.ours, name).toBe(kernelZbudPages(sizes).pages);
      if (name.startsWith("small")) expect(r.ours).toBe(Math.ceil(sizes.length / 2)); // c <= 31 always pair
      if (name.startsWith("same")) expect(r.ours).toBe(sizes.length);                 // 32 + 32 > 63
      const f = await compare(sizes, 0.45, 5);
      expect(f.ours, `${name} with frees`).toBe(f.kernel);
    }
  });
});
