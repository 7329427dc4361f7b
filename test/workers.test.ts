// Several instances over one memory: the 2-Worker frame stress test, the
// second-instantiation test and the lock test.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { buildStamp, instantiateCore } from "../bindings/wasm.js";
import { CTRL_BASE, Owner } from "../bindings/layout.js";
import { arriveAndWait, type FrameStressResult } from "../src/demo/frames.js";

function run<T>(url: URL, workerData: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const w = new Worker(url, { workerData });
    w.once("message", (m: T) => resolve(m));
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`worker exited with ${code}`)); });
  });
}

describe("2 worker_threads on one physical memory", () => {
  it("each does 100,000 random allocate/free: no frame handed out twice, every signature intact, all free at the end", async () => {
    const frames = 2048;
    const pm = await PhysicalMemory.create({ frames, maxWorkers: 4 });
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = 2;
    const url = new URL("../dist/demo-frames-worker.js", import.meta.url);
    const results = await Promise.all([0, 1].map((i) =>
      run<FrameStressResult & { ms: number; slot: number }>(url, {
        handle: pm.handle, barrier,
        // maxHeld above frames/2 makes the two workers fight over the last frames (ENOMEM paths too).
        options: { ops: 100_000, seed: 1 + i, maxHeld: 1500, owner: Owner.USER + i },
      })));
    for (const r of results) {
      expect(r.ops).toBe(100_000);
      expect(r.corrupt).toBe(0);
      expect(r.duplicates).toBe(0);
      expect(r.wrongOwner).toBe(0);
      expect(r.allocs).toBe(r.frees);
      expect(r.allocs).toBeGreaterThan(40_000);
    }
    expect(new Set(results.map((r) => r.slot)).size).toBe(2);
    const s = pm.stats();
    expect(s.usedFrames).toBe(0);
    expect(s.freeFrames).toBe(frames);
    expect(s.byOwner).toEqual({});
    expect(s.attachedWorkers).toBe(1);
  });

  it("the mutex keeps a non-atomic read-modify-write exact under contention", async () => {
    const pm = await PhysicalMemory.create({ frames: 4, maxWorkers: 4 });
    const pfn = pm.allocFrame();
    const base = pm.frameAddress(pfn);
    new Int32Array(pm.memory.buffer, base, 4).fill(0);
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = 2;
    const iterations = 200_000;
    const url = new URL("./workers/lock-contend.mjs", import.meta.url);
    await Promise.all([0, 1].map(() => run(url, { handle: pm.handle, lockAddr: base, dataAddr: base + 8, iterations, barrier })));
    const v = new Int32Array(pm.memory.buffer, base, 4);
    expect(v[0]).toBe(0); // lock word released
    expect(v[2]).toBe(2 * iterations);
    expect(v[3]).toBe(4 * iterations);
  });
});

describe("locks on an instance that may not block (a browser main thread)", () => {
  it("spin instead of waiting, and stay exact against a blocking Worker", async () => {
    const pm = await PhysicalMemory.create({ frames: 4, maxWorkers: 4 });
    const pfn = pm.allocFrame();
    const base = pm.frameAddress(pfn);
    new Int32Array(pm.memory.buffer, base, 4).fill(0);
    const core = await instantiateCore(pm.module, pm.memory);
    const stamp = buildStamp(pm.module)!;
    expect(core.pm_attach(stamp[0], stamp[1], false)).toBeGreaterThan(0);
    const barrier = new Int32Array(new SharedArrayBuffer(8));
    barrier[1] = 2;
    const iterations = 100_000;
    const done = run(new URL("./workers/lock-contend.mjs", import.meta.url), { handle: pm.handle, lockAddr: base, dataAddr: base + 8, iterations, barrier });
    arriveAndWait(barrier);
    const i32 = new Int32Array(pm.memory.buffer);
    const a = (base + 8) >> 2;
        for (let i = 0; i < iterations; i++) {
      if (core.lock_try(base) === 0) core.lock_acquire(base);
      i32[a] = i32[a]! + 1;
      i32[a + 1] = i32[a + 1]! + 2;
      core.lock_release(base);
    }
    await done;
    expect(i32[a]).toBe(2 * iterations);
    expect(i32[a + 1]).toBe(4 * iterations);
    expect(i32[base >> 2]).toBe(0);
    expect(core.pm_detach()).toBe(0);
  });
});

describe("a second instantiation", () => {
  it("does not re-apply static data that an earlier instance changed", async () => {
    const pm = await PhysicalMemory.create({ frames: 8 });
    const probe = pm.core.pm_static_probe();
    expect(probe).toBeGreaterThanOrEqual(1024);
    expect(probe).toBeLessThan(CTRL_BASE);
    // The first instantiation copied the segment: "tmem" + ABI.
    expect([...pm.u8.subarray(probe, probe + 4)]).toEqual([0x74, 0x6d, 0x65, 0x6d]);
    pm.u8[probe] = 0xee;
    await instantiateCore(pm.module, pm.memory);
    const seen = await run<{ first: number }>(new URL("./workers/attach-probe.mjs", import.meta.url),
      { handle: pm.handle, pfn: 0, allocate: false });
    expect(seen.first).toBeTypeOf("number");
    expect(pm.u8[probe]).toBe(0xee);
  });

  it("leaves the first instance's state intact, in the same thread and in a Worker", async () => {
    const pm = await PhysicalMemory.create({ frames: 32, maxWorkers: 4 });
    const held = Array.from({ length: 5 }, () => pm.allocFrame(Owner.USER + 3));
    held.forEach((p) => pm.frameBytes(p).fill(0xc3));
    pm.freeFrame(held.pop()!, Owner.USER + 3);
    const snapshot = (): Uint8Array => new Uint8Array(pm.memory.buffer).slice(0, pm.layout.framesBase + 32 * 4096);
    const before = snapshot();
    // Same thread: a raw instantiation (no attach) must write nothing at all.
    const again = await instantiateCore(pm.module, pm.memory);
    expect(again.frame_used()).toBe(4);
    expect(snapshot()).toEqual(before);
    // A Worker attaches (claims a slot: that one bit changes), looks, allocates, detaches.
    const seen = await run<{ slot: number; owner: number; first: number; used: number; mine: number }>(
      new URL("./workers/attach-probe.mjs", import.meta.url), { handle: pm.handle, pfn: held[0], allocate: true });
    expect(seen).toMatchObject({ owner: Owner.USER + 3, first: 0xc3, used: 4 });
    expect(seen.slot).toBe(1);
    const mine = pm.pfn(seen.mine); // posted by the Worker: a Pfn again, checked
    expect(pm.frameOwner(mine)).toBe(200);
    pm.freeFrame(mine, 200);
    const after = snapshot();
    // Everything but the frame the worker used and freed is byte-identical.
    const workerFrame = pm.frameAddress(mine);
    const ctrl = CTRL_BASE;
    let diffs = 0;
    for (let i = 0; i < after.length; i++) {
      if (after[i] === before[i]) continue;
      const inWorkerFrame = i >= workerFrame && i < workerFrame + 4096;
      // The metadata of a frame that is free now: free-list links the allocator moved.
      const metaPfn = Math.floor((i - pm.layout.metaBase) / 16);
      const inFreeFrameMeta = i >= pm.layout.metaBase && metaPfn < 32 && pm.frameOwner(pm.pfn(metaPfn)) === 0;
      const inFreeList = (i >= ctrl + 48 && i < ctrl + 64) // free-list head, ABA tag, brk
        || (i >= ctrl + 128 && i < ctrl + 1152) // per-owner counters (Workers publish batched counts)
        || (i >= ctrl + 1152 && i < ctrl + 2176) // slot generations (every attach bumps its slot's: frames.ts)
        || (i >= ctrl + 36864 && i < ctrl + 65536); // the Workers' frame caches (pcp lists)
      const inScratch = i >= pm.layout.scratchBase + 65536 && i < pm.layout.scratchBase + 2 * 65536;
      if (!(inWorkerFrame || inFreeFrameMeta || inFreeList || inScratch)) diffs++;
    }
    expect(diffs).toBe(0);
    for (const p of held) expect(pm.frameBytes(p).every((b) => b === 0xc3)).toBe(true);
  });
});
