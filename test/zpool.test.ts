// The zpool API (src/zpool/zpool.ts): the shared pool table (ids with
// generations, a full table, listing), the mapping discipline across pools,
// one pool used by 2 Workers by id, and the zsmalloc driver through the API
// once it is in the tree.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../bindings/physmem.js";
import { Owner } from "../bindings/layout.js";
import {
  createPool, createPoolSync, openPool, listPools, registerDriver, unregisterDriver, zbudDriver, MAX_POOLS,
  type Zpool,
} from "../src/zpool/index.js";
import type { ZbudStats } from "../src/zpool/drivers/zbud.js";
import type { ZpoolStressResult } from "./workers/zpool-stress-worker.js";
import { rejectsWith, throwsWith } from "./helpers.js";
import type { ZpoolHandle } from "../src/zpool/driver.js";

let pm: PhysicalMemory;
beforeAll(async () => {
  pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
});

describe("zpool pool table", () => {
  it("a destroyed pool's id is refused, and its slot's next pool gets a new id", async () => {
    const a = await createPool("zbud", pm);
    const id = a.id;
    expect(listPools(pm).map((p) => p.id)).toContain(id);
    a.destroy();
    expect(listPools(pm).map((p) => p.id)).not.toContain(id);
    await rejectsWith(openPool(pm, id), "EINVAL");
    const b = await createPool("zbud", pm);
    expect(b.id % 256).toBe(id % 256);      // same slot
    expect(b.id).not.toBe(id);              // new generation
    await rejectsWith(openPool(pm, id), "EINVAL");
    for (const forged of [0, -1, 1, 255, 256 + 255, b.id + 1, b.id + 256, 2 ** 31, 1.5, NaN]) {
      await rejectsWith(openPool(pm, forged), "EINVAL");
    }
    b.destroy();
  });

  it(`holds ${MAX_POOLS} pools; one more is ENOSPC; destroying one makes room`, () => {
    const before = listPools(pm).length;
    const pools: Zpool[] = [];
    for (let i = before; i < MAX_POOLS; i++) pools.push(createPoolSync("zbud", pm));
    throwsWith(() => createPoolSync("zbud", pm), "ENOSPC");
    expect(pm.stats().byOwner[Owner.ZBUD]).toBe(pools.length);     // the failed create leaked nothing
    pools.pop()!.destroy();
    pools.push(createPoolSync("zbud", pm));
    for (const p of pools) p.destroy();
    expect(listPools(pm).length).toBe(before);
    expect(pm.stats().byOwner[Owner.ZBUD] ?? 0).toBe(0);
  });

  it("one mapping per Worker across pools: map in a second pool is EBUSY until unmap", async () => {
    const a = await createPool("zbud", pm), b = await createPool("zbud", pm);
    const ha = a.malloc(100), hb = b.malloc(200);
    a.map(ha, "rw");
    const e = throwsWith(() => b.map(hb, "ro"), "EBUSY");
    expect(e.message).toContain(String(ha));
    throwsWith(() => b.unmap(ha), "EINVAL");
    a.unmap(ha);
    const v = b.map(hb, "ro");
    expect(v.length).toBe(200);
    b.unmap(hb);
    a.free(ha);
    b.free(hb);
    a.destroy();
    b.destroy();
  });

  it("a second attached instance in the same thread opens the pool by id and sees the same objects", async () => {
    const pm2 = await PhysicalMemory.attach(pm.handle);
    const pool = await createPool("zbud", pm);
    const h = pool.malloc(300);
    pool.map(h, "wo").fill(0x5a);
    pool.unmap(h);
    const other = await openPool(pm2, pool.id);
    const v = other.map(h, "ro");           // its own mapping slot: pm's is free, pm2's is separate
    expect(v.length).toBe(300);
    expect(v.every((x) => x === 0x5a)).toBe(true);
    pool.map(h, "ro");                      // a different instance may map concurrently
    pool.unmap(h);
    other.unmap(h);
    other.free(h);
    throwsWith(() => pool.free(h), "EINVAL");
    other.close();
    pool.destroy();
    pm2.detach();
  });
});

async function twoWorkers(poolId: number, probeId: number | undefined, maxSize: number): Promise<ZpoolStressResult[]> {
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = 2;
  const url = new URL("../build/test-workers/zpool-stress-worker.js", import.meta.url);
  return Promise.all([1, 2].map((seed) => new Promise<ZpoolStressResult>((resolve, reject) => {
    const w = new Worker(url, {
      workerData: { handle: pm.handle, poolId, ops: 40_000, seed, maxLive: 600, maxSize, barrier, probeId },
    });
    w.once("message", resolve);
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited with ${code}`)); });
  })));
}

describe("one zbud pool, 2 Workers, by id", () => {
  it("both Workers malloc/write/verify/free concurrently: no corruption, nothing leaked", async () => {
    const pool = await createPool("zbud", pm);
    // A pool whose driver the Workers do not have registered.
    registerDriver({ type: "main-only", create: (p, o) => zbudDriver.create(p, o), open: (p, id, o) => zbudDriver.open(p, id, o) });
    const probe = await createPool("main-only", pm);
    const results = await twoWorkers(pool.id, probe.id, 3968);
    for (const r of results) {
      expect(r.firstError).toBe("");
      expect(r.errors).toBe(0);
      expect(r.corrupt).toBe(0);
      expect(r.mallocs).toBe(r.frees);
      expect(r.mallocs).toBeGreaterThan(10_000);
      expect(r.probe?.code).toBe("ENODEV");
      expect(r.probe?.message).toContain("main-only");
    }
    expect(new Set(results.map((r) => r.slot)).size).toBe(2);
    const s = pool.stats() as ZbudStats;
    expect(s).toMatchObject({ objects: 0, objectBytes: 0, zbudPages: 0 });
    expect(listPools(pm).find((p) => p.id === pool.id)?.opens).toBe(1);   // the Workers closed theirs
    pool.destroy();
    probe.destroy();
    unregisterDriver("main-only");
    expect(pm.stats().byOwner[Owner.ZBUD] ?? 0).toBe(0);
  });
});

const zsmallocPresent = existsSync(fileURLToPath(new URL("../src/zpool/drivers/zsmalloc.ts", import.meta.url)));

describe.skipIf(!zsmallocPresent)("the zsmalloc driver through the zpool API", () => {
  it("2 Workers open one zsmalloc pool by id (the driver loads lazily in each) and share it without corruption", async () => {
    const pool = await createPool("zsmalloc", pm);
    const results = await twoWorkers(pool.id, undefined, 4096);
    for (const r of results) {
      expect(r.firstError).toBe("");
      expect(r.corrupt).toBe(0);
      expect(r.mallocs).toBe(r.frees);
      expect(r.verified).toBeGreaterThan(10_000);
    }
    expect(pool.stats().objects).toBe(0);
    pool.destroy();
  });

  it("is loaded lazily, keeps bytes through random malloc/write/free/compact, and refuses bad handles", async () => {
    const pool = await createPool("zsmalloc", pm);
    expect(pool.type).toBe("zsmalloc");
    await fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ op: fc.constant("m" as const), size: fc.integer({ min: 1, max: 4096 }) }),
      fc.record({ op: fc.constant("f" as const), pick: fc.nat() }),
      fc.record({ op: fc.constant("c" as const) }),
    ), { maxLength: 150 }), (ops) => {
      const live = new Map<number, { size: number; seed: number }>();
      const write = (h: number, size: number, seed: number): void => {
        const v = pool.map(h as ZpoolHandle, "wo");
        expect(v.length).toBe(size);
        for (let i = 0; i < size; i++) v[i] = (seed + i) & 255;
        pool.unmap(h as ZpoolHandle);
      };
      const ok = (h: number, m: { size: number; seed: number }): boolean => {
        const v = pool.map(h as ZpoolHandle, "ro");
        let good = v.length === m.size;
        for (let i = 0; good && i < m.size; i++) good = v[i] === ((m.seed + i) & 255);
        pool.unmap(h as ZpoolHandle);
        return good;
      };
      for (const o of ops) {
        if (o.op === "m") {
          const h = pool.malloc(o.size);
          expect(live.has(h)).toBe(false);
          const seed = h & 255;
          write(h, o.size, seed);
          live.set(h, { size: o.size, seed });
        } else if (o.op === "f" && live.size > 0) {
          const h = [...live.keys()][o.pick % live.size]!;
          pool.free(h as ZpoolHandle);
          live.delete(h);
          throwsWith(() => pool.free(h as ZpoolHandle), "EINVAL");
          throwsWith(() => pool.map(h as ZpoolHandle, "ro"), "EINVAL");
        } else if (o.op === "c") {
          pool.compact();
        }
        const s = pool.stats();
        expect(s.objects).toBe(live.size);
      }
      for (const [h, m] of live) expect(ok(h, m)).toBe(true);
      for (const h of live.keys()) pool.free(h as ZpoolHandle);
    }), { numRuns: 20 });
    throwsWith(() => pool.free(0x12345 as ZpoolHandle), "EINVAL");
    const h = pool.malloc(100);
    throwsWith(() => pool.destroy(), "EBUSY");
    pool.free(h);
    pool.destroy();
  });
});
