// SPDX-License-Identifier: MIT
// One TmemCache shared by 2 Workers (and the main thread): values set in one
// are got in the others; concurrent sets of the same keys with
// version-stamped values of 0 B .. 150 KB, under a budget small enough to
// evict, never let a Worker read a torn or mixed value.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { TmemCache } from "../src/cache/index.js";

const workerUrl = new URL("./workers/cache-worker.mjs", import.meta.url);

describe("TmemCache across 2 Workers", () => {
  it("shares one cache; concurrent sets of one key leave one whole value", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
    const cache = await TmemCache.create(pm, { budget: 512 << 10, sweepIntervalMs: 0 });
    cache.set("hello", "from main");
    const barrier = new SharedArrayBuffer(4);
    const run = (id: number): Promise<{ hello: string; sets: number; hits: number; misses: number; errors: string[]; ms: number }> =>
      new Promise((resolve, reject) => {
        const w = new Worker(workerUrl, { workerData: { handle: cache.handle, id, ops: 4000, keys: 12, seed: 17 + id, barrier } });
        w.once("message", resolve);
        w.once("error", reject);
        w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker ${id} exited with ${code}`)); });
      });
    const rs = await Promise.all([run(1), run(2)]);
    for (const r of rs) {
      expect(r.errors).toEqual([]);
      expect(r.hello).toBe("from main");
      expect(r.hits).toBeGreaterThan(300);
      expect(r.sets).toBeGreaterThan(800);
    }
    expect(cache.get("from-worker-1")).toBe("hello from 1");
    expect(cache.get("from-worker-2")).toBe("hello from 2");
    const st = cache.stats();
    expect(st.sets).toBe(rs[0]!.sets + rs[1]!.sets + 3);
    expect(st.evictions.budget).toBeGreaterThan(0);
    expect(st.bytesHeld).toBeLessThanOrEqual(512 << 10);
    console.log(`2 Workers: ${rs.map((r) => `${r.sets} sets, ${r.hits} hits, ${r.misses} misses in ${r.ms.toFixed(0)} ms`).join("; ")}; ${st.evictions.budget} evictions`);
    cache.destroy();
    pm.detach();
  });
});
