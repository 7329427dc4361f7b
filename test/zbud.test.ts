// zbud (assembly/zbud.ts through src/zpool/drivers/zbud.ts and the zpool
// API): exact placement, every bad-handle path, LRU eviction, and a
// model-based property test that checks every live object's bytes, the stats
// and the frame count against the kernel's placement (src/zpool/kernel-zbud.ts).
import { beforeAll, describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Owner } from "../bindings/layout.js";
import { TmemError, Status } from "../bindings/status.js";
import { createPool, type Zpool } from "../src/zpool/index.js";
import type { ZbudStats } from "../src/zpool/drivers/zbud.js";
import { KernelZbud } from "../src/zpool/kernel-zbud.js";
import { throwsWith } from "./helpers.js";
import type { ZpoolHandle } from "../src/zpool/driver.js";

let pm: PhysicalMemory;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 2 });
});

/** Expect `fn` to throw a TmemError with `code`. */
function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, `expected ${code}`).toBeInstanceOf(TmemError);
  expect((err as TmemError).code).toBe(code);
}

function fill(pool: Zpool, h: number, seed: number): void {
  const v = pool.map(h as ZpoolHandle, "wo");
  for (let i = 0; i < v.length; i++) v[i] = (seed + i * 31) & 255;
  pool.unmap(h as ZpoolHandle);
}

function intact(pool: Zpool, h: number, size: number, seed: number): boolean {
  const v = pool.map(h as ZpoolHandle, "ro");
  let ok = v.length === size;
  for (let i = 0; ok && i < v.length; i++) if (v[i] !== ((seed + i * 31) & 255)) ok = false;
  pool.unmap(h as ZpoolHandle);
  return ok;
}

const zstats = (p: Zpool): ZbudStats => p.stats() as ZbudStats;

describe("zbud placement", () => {
  it("puts FIRST after the header chunk and LAST right-aligned at the frame's end, best fit by free chunks", async () => {
    const pool = await createPool("zbud", pm);
    const base = pm.layout.framesBase;
    const addr = (h: number, size: number): number => {
      const v = pool.map(h as ZpoolHandle, "ro");
      expect(v.length).toBe(size);
      const off = v.byteOffset - base;
      pool.unmap(h as ZpoolHandle);
      return off;
    };
    const a = pool.malloc(100);          // 2 chunks: new frame F1, FIRST
    const fa = addr(a, 100);
    expect(fa % 4096).toBe(64);
    const b = pool.malloc(2000);         // 32 chunks: F1 has 61 free -> LAST of F1
    expect(addr(b, 2000)).toBe(fa - 64 + 4096 - 32 * 64);
    const c = pool.malloc(3000);         // 47 chunks: no unbuddied frame -> F2
    const fc2 = addr(c, 3000);
    expect(Math.floor(fc2 / 4096)).not.toBe(Math.floor(fa / 4096));
    const d = pool.malloc(3900);         // 61 chunks: F3
    const e = pool.malloc(64);           // 1 chunk: best fit is F3 (2 free), not F2 (16 free)
    expect(Math.floor(addr(e, 64) / 4096)).toBe(Math.floor(addr(d, 3900) / 4096));
    expect(addr(e, 64) % 4096).toBe(4096 - 64);
    const s = zstats(pool);
    expect(s).toMatchObject({ zbudPages: 3, pages: 4, objects: 5, objectBytes: 100 + 2000 + 3000 + 3900 + 64 });
    expect(pool.totalSize()).toBe(4 * 4096);
    expect(pm.stats().byOwner[Owner.ZBUD]).toBe(4);
    // Freeing both buddies of F1 returns it.
    pool.free(a);
    pool.free(b);
    expect(zstats(pool).zbudPages).toBe(2);
    pool.destroy({ force: true });
  });

  it("rejects sizes: 0 and non-integers EINVAL, anything above 3968 ENOSPC (as zsmalloc above 4096); 3968 fits", async () => {
    const pool = await createPool("zbud", pm);
    const before = zstats(pool);
    for (const s of [0, -1, 1.5, NaN, Infinity]) expectCode(() => pool.malloc(s), "EINVAL");
    for (const s of [3969, 4000, 4096, 4097, 1e9, 2 ** 32 + 5]) expectCode(() => pool.malloc(s), "ENOSPC");
    // The wasm entry point says the same for sizes past a page.
    expect(pm.core.zbud_alloc(pool.backend.id, 5000)).toBe(Status.ENOSPC);
    expect(zstats(pool)).toEqual(before);
    const h = pool.malloc(3968);
    expect(pool.map(h).length).toBe(3968);
    pool.unmap(h);
    pool.free(h);
    pool.destroy();
  });
});

describe("zbud bad handles: EINVAL and nothing changes", () => {
  it("double free, stale after reuse, forged, foreign-pool and out-of-range handles", async () => {
    const pool = await createPool("zbud", pm);
    const other = await createPool("zbud", pm);
    const live: Array<[number, number, number]> = [];
    for (let i = 0; i < 20; i++) {
      const size = 50 + i * 173;
      const h = pool.malloc(size);
      fill(pool, h, i);
      live.push([h, size, i]);
    }
    const foreign = other.malloc(100);
    const freed = pool.malloc(300);
    pool.free(freed);
    const reused = pool.malloc(300);     // the same slot, a new generation
    expect(reused).not.toBe(freed);
    const snapshot = zstats(pool);
    const bad = [
      freed, freed ^ 1, foreign, foreign + 2, 1, 2, 3, 2 ** 31 - 1, 0x55555555,
      reused ^ 1, reused + (1 << 20), live[0]![0] + 2 ** 32,
    ];
    for (const h of bad) {
      if (h === reused) continue;
      if (h >= 2 ** 31) {
        expectCode(() => pool.free(h as ZpoolHandle), "EINVAL");
        continue;
      }
      expectCode(() => pool.free(h as ZpoolHandle), "EINVAL");
      expectCode(() => pool.map(h as ZpoolHandle, "ro"), "EINVAL");
    }
    for (const h of [0, -5, 1.5, NaN, "7" as unknown as number, 2 ** 31, 2 ** 32 + 3]) {
      expectCode(() => pool.free(h as ZpoolHandle), "EINVAL");
      expectCode(() => pool.map(h as ZpoolHandle), "EINVAL");
    }
    expect(zstats(pool)).toEqual(snapshot);
    for (const [h, size, seed] of live) expect(intact(pool, h, size, seed)).toBe(true);
    // A double free of a real handle.
    pool.free(reused);
    expectCode(() => pool.free(reused), "EINVAL");
    // The foreign handle is still good in its own pool.
    other.free(foreign);
    other.destroy();
    pool.destroy({ force: true });
    // After destroy every call is refused.
    expectCode(() => pool.malloc(10), "EINVAL");
    expectCode(() => pool.free(live[1]![0] as ZpoolHandle), "EINVAL");
    expectCode(() => pool.map(live[1]![0] as ZpoolHandle), "EINVAL");
    expectCode(() => pool.stats(), "EINVAL");
  });

  it("a stale handle is refused through thousands of reallocations of its slot", async () => {
    const pool = await createPool("zbud", pm);
    const stale = new Set<number>();
    let h = pool.malloc(1000);
    for (let i = 0; i < 5000; i++) {
      stale.add(h);
      pool.free(h);
      h = pool.malloc(1000);
      expect(stale.has(h)).toBe(false);
    }
    for (const s of [...stale].slice(0, 200)) expectCode(() => pool.free(s as ZpoolHandle), "EINVAL");
    pool.free(h);
    pool.destroy();
  });

  it("mapping discipline: one mapping per Worker, unmap must name it, a mapped handle cannot be freed", async () => {
    const pool = await createPool("zbud", pm);
    const a = pool.malloc(10), b = pool.malloc(20);
    const v = pool.map(a, "rw");
    expect(v.length).toBe(10);
    expectCode(() => pool.map(b, "ro"), "EBUSY");
    expectCode(() => pool.map(a, "ro"), "EBUSY");
    expectCode(() => pool.unmap(b), "EINVAL");
    expectCode(() => pool.free(a), "EBUSY");
    expectCode(() => pool.map(b, "xx" as "ro"), "EBUSY");
    pool.unmap(a);
    expectCode(() => pool.unmap(a), "EINVAL");
    expectCode(() => pool.map(b, "xx" as "ro"), "EINVAL");
    pool.free(a);
    pool.free(b);
    pool.destroy();
  });
});

describe("zbud eviction", () => {
  it("shrink evicts the least recently used frame first, FIRST buddy then LAST, and frees it", async () => {
    const order: number[] = [];
    let pool!: Zpool;
    pool = await createPool("zbud", pm, {
      evict: (h) => {
        order.push(h);
        pool.free(h);
        return true;
      },
    });
    // Frames F1 (a, b), F2 (c, d), F3 (e); then touch F1 again by reusing a freed slot.
    const a = pool.malloc(2000), b = pool.malloc(1900);
    const c = pool.malloc(2000), d = pool.malloc(1900);
    const e = pool.malloc(3000);
    pool.free(a);
    const a2 = pool.malloc(1500);        // best fit: F1 (32 free) -> F1 becomes most recent
    expect(pool.shrink(1)).toBe(1);
    expect(order).toEqual([c, d]);       // F2 is now the LRU tail
    expect(pool.shrink(5)).toBe(2);      // then F3, then F1
    expect(order).toEqual([c, d, e, a2, b]);
    expect(zstats(pool)).toMatchObject({ zbudPages: 0, objects: 0, objectBytes: 0 });
    expect(pool.shrink(1)).toBe(0);
    pool.destroy();
  });

  it("a callback that refuses keeps the frame (moved to the LRU head); one that throws leaves the pool consistent", async () => {
    let mode: "refuse" | "throw" | "free" = "refuse";
    let pool!: Zpool;
    const seen: number[] = [];
    pool = await createPool("zbud", pm, {
      evict: (h) => {
        seen.push(h);
        if (mode === "throw") throw new Error("writeback failed");
        if (mode === "refuse") return false;
        pool.free(h);
        return true;
      },
    });
    const x = pool.malloc(3000), y = pool.malloc(3000);
    fill(pool, x, 1);
    fill(pool, y, 2);
    expect(pool.shrink(1)).toBe(0);      // refusals: x's frame, then y's, ... gives up after 8
    expect(seen.slice(0, 2)).toEqual([x, y]);
    expect(zstats(pool)).toMatchObject({ zbudPages: 2, objects: 2 });
    mode = "throw";
    seen.length = 0;
    expect(() => pool.shrink(1)).toThrow(/writeback failed/);
    expect(zstats(pool)).toMatchObject({ zbudPages: 2, objects: 2 });
    expect(intact(pool, x, 3000, 1) && intact(pool, y, 3000, 2)).toBe(true);
    mode = "free";
    expect(pool.shrink(2)).toBe(2);
    expect(zstats(pool)).toMatchObject({ zbudPages: 0, objects: 0 });
    pool.destroy();
  });

  it("without an evict callback shrink reclaims nothing", async () => {
    const pool = await createPool("zbud", pm);
    const h = pool.malloc(10);
    expect(pool.shrink(3)).toBe(0);
    pool.free(h);
    pool.destroy();
  });
});

type Op =
  | { op: "malloc"; size: number }
  | { op: "free"; pick: number }
  | { op: "write"; pick: number; seed: number }
  | { op: "shrink"; pages: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("malloc" as const), size: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1900, max: 2100 })) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("write" as const), pick: fc.nat(), seed: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("shrink" as const), pages: fc.integer({ min: 0, max: 4 }) }) },
);

describe("zbud model-based property", () => {
  it("random malloc/map/write/unmap/free/shrink keeps every live object's bytes, the stats and the kernel's frame count", async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 250 }), async (ops) => {
      const model = new Map<number, { size: number; seed: number; kid: number }>();
      const kernel = new KernelZbud();
      let pool!: Zpool;
      pool = await createPool("zbud", pm, {
        evict: (h) => {
          const m = model.get(h);
          if (m === undefined) throw new Error(`evict of unknown handle ${h}`);
          if (!intact(pool, h, m.size, m.seed)) throw new Error(`evicted object ${h} was corrupt`);
          pool.free(h);
          kernel.free(m.kid);
          model.delete(h);
          return true;
        },
      });
      const check = (): void => {
        const s = zstats(pool);
        let bytes = 0;
        for (const m of model.values()) bytes += m.size;
        expect(s.objects).toBe(model.size);
        expect(s.objectBytes).toBe(bytes);
        expect(s.zbudPages).toBe(kernel.pages);
        expect(s.zbudPages).toBeGreaterThanOrEqual(Math.ceil(model.size / 2));
        expect(s.zbudPages).toBeLessThanOrEqual(model.size);
        expect(s.pages).toBe(s.zbudPages + 1);
        for (const [h, m] of model) expect(intact(pool, h, m.size, m.seed), `object ${h}`).toBe(true);
      };
      try {
        for (const o of ops) {
          const handles = [...model.keys()];
          if (o.op === "malloc") {
            if (o.size > 3968) {
              expectCode(() => pool.malloc(o.size), "ENOSPC");
              continue;
            }
            const h = pool.malloc(o.size);
            expect(model.has(h)).toBe(false);
            const seed = (h * 7) & 255;
            fill(pool, h, seed);
            model.set(h, { size: o.size, seed, kid: kernel.alloc(o.size) });
          } else if (o.op === "free" && handles.length > 0) {
            const h = handles[o.pick % handles.length]!;
            pool.free(h as ZpoolHandle);
            expectCode(() => pool.free(h as ZpoolHandle), "EINVAL");
            kernel.free(model.get(h)!.kid);
            model.delete(h);
          } else if (o.op === "write" && handles.length > 0) {
            const h = handles[o.pick % handles.length]!;
            fill(pool, h, o.seed);
            model.get(h)!.seed = o.seed;
          } else if (o.op === "shrink") {
            const before = kernel.pages;
            const got = pool.shrink(o.pages);
            expect(got).toBe(Math.min(o.pages, before));
          }
          check();
        }
      } finally {
        for (const h of model.keys()) pool.free(h as ZpoolHandle);
        pool.destroy();
      }
    }), { numRuns: 150 });
  });
});

describe("zbud wasm entry points refuse bad pools and frames with status codes", () => {
  it("bad pool ids, frames not under reclaim, and destroy during reclaim", async () => {
    const core = pm.core;
    const id = core.zbud_create_pool();
    expect(id).toBeGreaterThanOrEqual(0);
    const user = pm.allocFrame(Owner.USER);     // a frame that is not a zbud pool
    for (const bad of [user, pm.frames, pm.frames + 5, 0xffffffff]) {
      expect(core.zbud_alloc(bad, 10)).toBe(Status.EINVAL);
      expect(core.zbud_free(bad, 514)).toBe(Status.EINVAL);
      expect(core.zbud_map(bad, 514)).toBe(Status.EINVAL);
      expect(core.zbud_get_pool_size(bad)).toBe(Status.EINVAL);
      expect(core.zbud_reclaim_begin(bad)).toBe(Status.EINVAL);
      expect(core.zbud_destroy_pool(bad)).toBe(Status.EINVAL);
    }
    expect(core.zbud_alloc(id, 0)).toBe(Status.EINVAL);
    expect(core.zbud_alloc(id, 3969)).toBe(Status.ENOSPC);
    expect(core.zbud_reclaim_begin(id)).toBe(Status.ENOENT);   // empty LRU
    const h = core.zbud_alloc(id, 500);
    expect(h).toBeGreaterThan(0);
    // The data frame is not under reclaim: handle/end refuse it; so do foreign frames.
    const pfn = (h >>> 1) & (2 ** core.zbud_pfn_bits() - 1);
    expect(core.zbud_reclaim_handle(id, pfn, 0)).toBe(Status.EINVAL);
    expect(core.zbud_reclaim_end(id, pfn)).toBe(Status.EINVAL);
    expect(core.zbud_reclaim_handle(id, user, 0)).toBe(Status.EINVAL);
    expect(core.zbud_reclaim_begin(id)).toBe(pfn);
    expect(core.zbud_reclaim_handle(id, pfn, 0)).toBe(h);
    expect(core.zbud_reclaim_handle(id, pfn, 1)).toBe(0);
    expect(core.zbud_reclaim_handle(id, pfn, 2)).toBe(Status.EINVAL);
    expect(core.zbud_destroy_pool(id)).toBe(Status.EBUSY);    // busy while under reclaim
    expect(core.zbud_alloc(id, 500)).toBeGreaterThan(0);   // a new frame: the reclaimed one is on no list
    expect(core.zbud_get_pool_size(id)).toBe(2);
    expect(core.zbud_reclaim_end(id, pfn)).toBe(0);  // its buddy is live: kept
    expect(core.zbud_reclaim_end(id, pfn)).toBe(Status.EINVAL);
    expect(core.zbud_destroy_pool(id)).toBe(3);      // 2 data frames + the descriptor
    expect(core.zbud_alloc(id, 10)).toBe(Status.EINVAL);       // gone
    expect(core.zbud_destroy_pool(id)).toBe(Status.EINVAL);
    pm.freeFrame(user);
  });

  it("the driver layer enforces the mapping rules on its own (without the zpool layer)", async () => {
    const pool = await createPool("zbud", pm);
    const b = pool.backend;
    const x = b.malloc(40), y = b.malloc(50);
    b.map(x, "rw");
    expectCode(() => b.map(y, "ro"), "EBUSY");
    expectCode(() => b.unmap(y), "EINVAL");
    b.unmap(x);
    expectCode(() => b.unmap(x), "EINVAL");
    b.free(x);
    b.free(y);
    let self!: Zpool;
    self = await createPool("zbud", pm, {
      evict: () => {
        expectCode(() => self.destroy({ force: true }), "EBUSY");   // destroy from inside shrink
        return false;
      },
    });
    const z = self.malloc(10);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(self.shrink(1)).toBe(0);
    expect(warn).not.toHaveBeenCalled();     // the refused destroy did not warn
    warn.mockRestore();
    self.free(z);
    self.destroy();
    pool.destroy();
  });
});

describe("zbud out of frames", () => {
  it("ENOMEM when physical memory is full, nothing half-done; freeing one object makes room again", async () => {
    const small = await PhysicalMemory.create({ frames: 32, maxWorkers: 1 });
    const pool = await createPool("zbud", small);
    const hs: number[] = [];
    let err: unknown;
    for (;;) {
      try { hs.push(pool.malloc(3000)); } catch (e) { err = e; break; }
    }
    expect((err as TmemError).code).toBe("ENOMEM");
    expect(hs.length).toBe(31);                       // one frame each, the descriptor takes the 32nd
    expect(pool.malloc(900)).toBeGreaterThan(0);      // still fits beside a 3000-byte buddy (15 + 47 <= 63)
    const before = zstats(pool);
    throwsWith(() => pool.malloc(3000), "ENOMEM");
    expect(zstats(pool)).toEqual(before);
    pool.free(hs.pop()! as ZpoolHandle);
    expect(pool.malloc(3000)).toBeGreaterThan(0);
    pool.destroy({ force: true });
    expect(small.stats().usedFrames).toBe(0);
    small.detach();
  });
});
