// Two worker_threads on one zsmalloc pool (build/test-workers/zsmalloc-stress-worker.js,
// built by `npm run build`): each allocates, signs, verifies, rewrites and
// frees objects in its own size band and in a band both use, and compacts the
// whole pool now and then, so objects move under the other worker unless it
// has them mapped.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PhysicalMemory } from "../bindings/physmem.js";
import { zsmallocDriver, type ZsmallocBackend } from "../src/zpool/drivers/zsmalloc.js";
import type { ZsStressOptions, ZsStressResult } from "./workers/zsmalloc-stress-worker.js";

const url = new URL("../build/test-workers/zsmalloc-stress-worker.js", import.meta.url);

function run(workerData: unknown): Promise<ZsStressResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(url, { workerData });
    w.once("message", (m: ZsStressResult) => resolve(m));
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited with ${code}`)); });
  });
}

describe("2 Workers on one zsmalloc pool", () => {
  it.skipIf(!existsSync(fileURLToPath(url)))("own and shared classes, concurrent compaction: every signature intact, all frames back", async () => {
    const pm = await PhysicalMemory.create({ frames: 16384, maxWorkers: 4 });
    const p = zsmallocDriver.create(pm, {}) as ZsmallocBackend;
    const before = pm.stats().usedFrames;
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = 2;
    // Worker 1 compacts often, worker 2 rarely: objects of both move under
    // the other, except those mapped (pinned) at that moment.
    const opts = (id: number, own: [number, number], compactEvery: number): ZsStressOptions => ({
      id, ops: 60_000, seed: 11 + id * 7, own, shared: [1400, 1700], maxLive: 3000, compactEvery,
    });
    const results = await Promise.all([
      run({ zsStress: true, handle: pm.handle, pool: p.id, barrier, options: opts(1, [20, 400], 300) }),
      run({ zsStress: true, handle: pm.handle, pool: p.id, barrier, options: opts(2, [2400, 4096], 5_000) }),
    ]);
    for (const r of results) {
      expect(r.errors).toEqual([]);
      expect(r.corrupt).toBe(0);
      expect(r.ops).toBe(60_000);
      expect(r.allocs).toBe(r.frees);
      expect(r.allocs).toBeGreaterThan(10_000);
      expect(r.verified).toBeGreaterThan(r.frees);
    }
    expect(results[0]!.slot).not.toBe(results[1]!.slot);
    expect(results[0]!.compacted + results[1]!.compacted).toBeGreaterThan(0);
    console.log(results.map((r) => `worker ${r.slot}: ${r.ops} ops in ${r.ms.toFixed(0)} ms, ${r.allocs} allocs, ${r.verified} verified, compaction freed ${r.compacted} frames`).join("\n"));
    expect(p.stats()).toMatchObject({ objects: 0, objectBytes: 0, objectPages: 0 });
    for (const row of p.classStats()) expect(row.zspages).toBe(0);
    p.destroy();
    expect(pm.stats().usedFrames).toBe(before - 5); // the pool's root and class frames are gone too
    expect(pm.stats().usedFrames).toBe(0);
  });
});
