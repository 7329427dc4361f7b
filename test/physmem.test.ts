import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory, type Pfn, type WorkerSlot } from "../bindings/physmem.js";
import { TmemError, Status } from "../bindings/status.js";
import { compileCore, instantiateCore, buildStamp } from "../bindings/wasm.js";
import { CTRL_BASE, DEFAULT_FRAMES, Owner, PAGE_SIZE, maxFrames } from "../bindings/layout.js";
import { errorCode as code, errorCodeAsync as codeAsync } from "./helpers.js";


describe("PhysicalMemory.create", () => {
  it("makes a memory of the default size with every frame free", async () => {
    const pm = await PhysicalMemory.create();
    expect(pm.frames).toBe(DEFAULT_FRAMES);
    const s = pm.stats();
    expect(s).toMatchObject({ totalFrames: DEFAULT_FRAMES, freeFrames: DEFAULT_FRAMES, usedFrames: 0, byOwner: {}, attachedWorkers: 1 });
    expect(pm.memory.buffer.byteLength).toBeGreaterThanOrEqual(pm.layout.framesBase + DEFAULT_FRAMES * PAGE_SIZE);
    expect(pm.core.pm_heap_base()).toBeLessThan(CTRL_BASE);
    pm.detach();
  });

  it("rejects bad frame counts and worker counts with EINVAL", async () => {
    for (const frames of [0, -1, 1.5, NaN, Infinity, maxFrames(16) + 1, "8" as unknown as number]) {
      expect(await codeAsync(() => PhysicalMemory.create({ frames }))).toBe("EINVAL");
    }
    for (const maxWorkers of [0, 257, 2.5]) {
      expect(await codeAsync(() => PhysicalMemory.create({ frames: 8, maxWorkers }))).toBe("EINVAL");
    }
    expect(await codeAsync(() => PhysicalMemory.create({ build: "fast" as "release" }))).toBe("EINVAL");
  });

  it("prefault: the frames are resident after create (touching them then costs no page faults; without it, one per 4 KiB)", async () => {
    const frames = 8192; // 32 MiB
    const touchFaults = (pm: PhysicalMemory): number => {
      const u8 = new Uint8Array(pm.memory.buffer, pm.layout.framesBase, frames * PAGE_SIZE);
      const f0 = process.resourceUsage().minorPageFault;
      for (let i = 0; i < u8.length; i += PAGE_SIZE) u8[i] = 1;
      return process.resourceUsage().minorPageFault - f0;
    };
    const lazy = await PhysicalMemory.create({ frames });
    const lazyFaults = touchFaults(lazy);
    lazy.detach();
    const pre = await PhysicalMemory.create({ frames, prefault: true });
    expect(pre.stats()).toMatchObject({ freeFrames: frames, usedFrames: 0 });
    const preFaults = touchFaults(pre);
    pre.detach();
    expect({ lazy: lazyFaults > frames / 2, pre: preFaults < frames / 10 }).toEqual({ lazy: true, pre: true });
    expect(await codeAsync(() => PhysicalMemory.create({ frames: 8, prefault: 1 as unknown as boolean }))).toBe("EINVAL");
  });

  it("the largest memory that fits wasm32 is accepted by the layout", () => {
    expect(maxFrames(16)).toBeGreaterThan(1_000_000);
    expect(maxFrames(16)).toBeLessThan(1_048_576);
  });
});

describe("frame allocator", () => {
  it("hands out every frame once, then ENOMEM, and takes them all back", async () => {
    const pm = await PhysicalMemory.create({ frames: 64 });
    const got = new Set<number>();
    for (let i = 0; i < 64; i++) got.add(pm.allocFrame(Owner.USER));
    expect(got.size).toBe(64);
    expect([...got].every((p) => p >= 0 && p < 64)).toBe(true);
    expect(code(() => pm.allocFrame(Owner.USER))).toBe("ENOMEM");
    expect(pm.stats()).toMatchObject({ usedFrames: 64, freeFrames: 0, byOwner: { [Owner.USER]: 64 } });
    for (const p of got) pm.freeFrame(pm.pfn(p));
    expect(pm.stats()).toMatchObject({ usedFrames: 0, freeFrames: 64, byOwner: {} });
    // After a full cycle every frame is available again.
    const again = new Set<number>();
    for (let i = 0; i < 64; i++) again.add(pm.allocFrame(Owner.USER + 1));
    expect(again).toEqual(got);
  });

  it("a freed frame freed again is EINVAL and changes nothing", async () => {
    const pm = await PhysicalMemory.create({ frames: 8 });
    const a = pm.allocFrame();
    const b = pm.allocFrame();
    pm.freeFrame(a);
    const before = pm.stats();
    expect(code(() => pm.freeFrame(a))).toBe("EINVAL");
    expect(pm.stats()).toEqual(before);
    expect(pm.frameOwner(b)).toBe(Owner.USER);
    // The double free did not push `a` twice: only 7 more frames can be had.
    let n = 0;
    while (pm.core.frame_alloc(Owner.USER) >= 0) n++;
    expect(n).toBe(7);
  });

  it("freeing another owner's frame, a frame out of range or a non-integer is EINVAL", async () => {
    const pm = await PhysicalMemory.create({ frames: 8 });
    const a = pm.allocFrame(Owner.ZBUD);
    expect(code(() => pm.freeFrame(a, Owner.ZSMALLOC))).toBe("EINVAL");
    expect(pm.frameOwner(a)).toBe(Owner.ZBUD);
    for (const bad of [-1, 8, 1e9, 0.5, NaN]) expect(code(() => pm.freeFrame(bad as Pfn))).toBe("EINVAL");
    for (const bad of [0, 256, -3, 1.5]) expect(code(() => pm.allocFrame(bad))).toBe("EINVAL");
    expect(pm.core.frame_free(5, 0)).toBe(Status.EINVAL); // never allocated
    expect(pm.core.frame_alloc(0)).toBe(Status.EINVAL);
    pm.freeFrame(a, Owner.ZBUD);
    expect(pm.stats().usedFrames).toBe(0);
  });

  it("frames are disjoint 4 KiB regions above the metadata", async () => {
    const pm = await PhysicalMemory.create({ frames: 16 });
    const pfns = Array.from({ length: 16 }, () => pm.allocFrame());
    pfns.forEach((p) => pm.frameBytes(p).fill(p + 1));
    pfns.forEach((p) => expect(pm.frameBytes(p).every((b) => b === p + 1)).toBe(true));
    expect(pm.frameAddress(pm.pfn(0))).toBe(pm.layout.framesBase);
    expect(pm.layout.framesBase).toBeGreaterThanOrEqual(pm.layout.metaBase + 16 * 16);
    expect(pm.layout.metaBase).toBeGreaterThanOrEqual(pm.layout.scratchBase + pm.layout.maxWorkers * 65536);
  });

  it("behaves like a model allocator under random operations (property)", async () => {
    const pm = await PhysicalMemory.create({ frames: 32 });
    await fc.assert(
      fc.property(
        fc.array(fc.oneof(
          fc.record({ op: fc.constant("alloc" as const), owner: fc.integer({ min: 1, max: 255 }) }),
          fc.record({ op: fc.constant("free" as const), pick: fc.nat(), wrongOwner: fc.boolean() }),
          fc.record({ op: fc.constant("freeBad" as const), pfn: fc.integer({ min: -2, max: 40 }) }),
        ), { maxLength: 200 }),
        (ops) => {
          const model = new Map<number, number>(); // pfn -> owner
          for (const o of ops) {
            if (o.op === "alloc") {
              const r = pm.core.frame_alloc(o.owner);
              if (model.size === 32) expect(r).toBe(Status.ENOMEM);
              else {
                expect(r).toBeGreaterThanOrEqual(0);
                expect(model.has(r)).toBe(false);
                model.set(r, o.owner);
              }
            } else if (o.op === "free") {
              if (model.size === 0) continue;
              const keys = [...model.keys()];
              const pfn = keys[o.pick % keys.length]!;
              const owner = model.get(pfn)!;
              if (o.wrongOwner) {
                expect(pm.core.frame_free(pfn, owner === 255 ? 1 : owner + 1)).toBe(Status.EINVAL);
              } else {
                expect(pm.core.frame_free(pfn, owner)).toBe(0);
                model.delete(pfn);
              }
            } else {
              const expected = o.pfn >= 0 && model.has(o.pfn) ? 0 : Status.EINVAL;
              expect(pm.core.frame_free(o.pfn >>> 0, 0)).toBe(expected);
              model.delete(o.pfn);
            }
            // Stats invariants after every step.
            expect(pm.core.frame_used()).toBe(model.size);
            for (const owner of new Set(model.values())) {
              expect(pm.core.frame_owned(owner)).toBe([...model.values()].filter((v) => v === owner).length);
            }
            for (const [pfn, owner] of model) expect(pm.core.frame_owner(pfn)).toBe(owner);
          }
          for (const pfn of model.keys()) pm.core.frame_free(pfn, 0);
          expect(pm.core.frame_used()).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("attach and detach", () => {
  it("a second attach gets its own scratch area and sees the same frames", async () => {
    const a = await PhysicalMemory.create({ frames: 16, maxWorkers: 2 });
    const p = a.allocFrame(Owner.USER);
    a.frameBytes(p).fill(0x5a);
    const b = await PhysicalMemory.attach(a.handle);
    expect(b.slot).not.toBe(a.slot);
    expect(b.scratch).not.toBe(a.scratch);
    expect(b.frameOwner(p)).toBe(Owner.USER);
    expect(b.frameBytes(p).every((x) => x === 0x5a)).toBe(true);
    expect(b.stats().attachedWorkers).toBe(2);
    // Every slot is taken now.
    expect(await codeAsync(() => PhysicalMemory.attach(a.handle))).toBe("EBUSY");
    b.freeFrame(p);
    expect(a.stats().usedFrames).toBe(0);
    b.detach();
    b.detach(); // idempotent
    expect(code(() => b.allocFrame())).toBe("EINVAL");
    expect(a.stats().attachedWorkers).toBe(1);
    const c = await PhysicalMemory.attach(a.handle);
    expect(c.slot).toBe(b.slot);
  });

  it("frames a Worker freed wait in its cache until it detaches (the per-Worker lists)", async () => {
    const a = await PhysicalMemory.create({ frames: 64, maxWorkers: 2 });
    const b = await PhysicalMemory.attach(a.handle);
    const got = Array.from({ length: 64 }, () => b.allocFrame());
    expect(code(() => a.allocFrame())).toBe("ENOMEM");
    for (const p of got) b.freeFrame(p);
    expect(a.stats().freeFrames).toBe(64);
    // b keeps up to 24 freed frames for itself; a gets the rest, then ENOMEM.
    const mine: number[] = [];
    for (;;) {
      const p = a.core.frame_alloc(Owner.USER);
      if (p < 0) break;
      mine.push(p);
    }
    expect(mine.length).toBeGreaterThanOrEqual(64 - 24);
    expect(mine.length).toBeLessThan(64);
    // b's own allocations still find its cached frames.
    const again = b.allocFrame();
    b.freeFrame(again);
    // Detaching b hands its cache back: a can now take every frame.
    b.detach();
    while (a.core.frame_alloc(Owner.USER) >= 0) mine.push(-1);
    expect(mine.length).toBe(64);
    expect(a.stats().freeFrames).toBe(0);
  });

  it("refuses a memory formatted by a different build with EPROTO", async () => {
    const a = await PhysicalMemory.create({ frames: 8, build: "release" });
    const debug = await compileCore("debug");
    expect(buildStamp(debug)).not.toEqual(buildStamp(a.module));
    const err = await PhysicalMemory.attach({ module: debug, memory: a.memory }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TmemError);
    expect((err as TmemError).code).toBe("EPROTO");
    expect((err as TmemError).message).toMatch(/different build/);
    expect(a.stats().attachedWorkers).toBe(1);
  });

  it("refuses a memory that was never formatted (ENODEV), a non-shared memory and a foreign module (EINVAL)", async () => {
    const module = await compileCore();
    const blank = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
    expect(await codeAsync(() => PhysicalMemory.attach({ module, memory: blank }))).toBe("ENODEV");
    const plain = new WebAssembly.Memory({ initial: 4, maximum: 4 });
    expect(await codeAsync(() => PhysicalMemory.attach({ module, memory: plain }))).toBe("EINVAL");
    const foreign = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    const a = await PhysicalMemory.create({ frames: 8 });
    expect(await codeAsync(() => PhysicalMemory.attach({ module: foreign, memory: a.memory }))).toBe("EINVAL");
    expect(await codeAsync(() => PhysicalMemory.attach(null as unknown as { module: WebAssembly.Module; memory: WebAssembly.Memory }))).toBe("EINVAL");
  });

  it("the debug build runs the same allocator", async () => {
    const pm = await PhysicalMemory.create({ frames: 8, build: "debug" });
    const a = pm.allocFrame();
    expect(pm.stats().usedFrames).toBe(1);
    pm.freeFrame(a);
    expect(code(() => pm.freeFrame(a))).toBe("EINVAL");
  });

  it("pm_format refuses an already formatted memory", async () => {
    const pm = await PhysicalMemory.create({ frames: 8 });
    const l = pm.layout;
    expect(pm.core.pm_format(8, l.framesBase, l.metaBase, l.scratchBase, 65536, l.maxWorkers, 0, 0)).toBe(Status.EBUSY);
    const fresh = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
    const core = await instantiateCore(pm.module, fresh);
    // Frames past the end of the memory are an inconsistent layout.
    expect(core.pm_format(1000, 196608, 131072 + 65536, 131072, 65536, 1, 0, 0)).toBe(Status.EINVAL);
  });
});

describe("reclaim of a dead Worker's slot", () => {
  const holdUrl = new URL("./workers/fault-hold.mjs", import.meta.url);
  const waitUrl = new URL("./workers/fault-wait.mjs", import.meta.url);
  const once = <T>(w: import("node:worker_threads").Worker, ev: string) =>
    new Promise<T>((res, rej) => { w.once(ev, res as (v: unknown) => void); if (ev !== "error") w.once("error", rej); });

  it("refuses this thread's own slot, a free slot and one out of range (EINVAL)", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 4 });
    expect(code(() => pm.reclaim(pm.slot))).toBe("EINVAL");
    expect(code(() => pm.reclaim(pm.workerSlot(3)))).toBe("EINVAL");
    // Past the brand (a cast, or plain JavaScript), reclaim checks the range itself.
    expect(code(() => pm.reclaim(4 as WorkerSlot))).toBe("EINVAL");
    expect(code(() => pm.reclaim(-1 as WorkerSlot))).toBe("EINVAL");
    expect(code(() => pm.reclaim(1.5 as WorkerSlot))).toBe("EINVAL");
    // A slot posted as a plain number becomes a WorkerSlot through workerSlot, range-checked.
    expect(pm.workerSlot(3)).toBe(3);
    for (const bad of [4, -1, 1.5, NaN]) expect(code(() => pm.workerSlot(bad)), String(bad)).toBe("EINVAL");
    pm.detach();
  });

  it("a terminated Worker's slot, frame cache, pending counts and lock come back", async () => {
    const { Worker } = await import("node:worker_threads");
    const pm = await PhysicalMemory.create({ frames: 256, maxWorkers: 2 });
    const lockAddr = pm.scratch + 8192; // a zeroed word of the main thread's scratch
    const park = new SharedArrayBuffer(4);
    const w = new Worker(holdUrl, { workerData: { handle: pm.handle, lockAddr, cached: 20, keep: 3, park } });
    const { slot, kept } = await once<{ slot: number; kept: number[] }>(w, "message");
    expect(slot).toBe(1);
    expect(pm.stats().attachedWorkers).toBe(2);
    expect(pm.stats().usedFrames).toBe(3);
    // Held by a live Worker: a bounded wait gives up.
    expect(pm.core.lock_acquire_timed(lockAddr, 30)).toBe(Status.ETIMEDOUT);
    // Every slot taken: attach is EBUSY.
    expect(await codeAsync(() => PhysicalMemory.attach(pm.handle))).toBe("EBUSY");
    await w.terminate();
    // Dead but not reclaimed: still refused.
    expect(pm.core.lock_acquire_timed(lockAddr, 30)).toBe(Status.ETIMEDOUT);
    const before = pm.lockTakeovers();
    pm.reclaim(pm.workerSlot(slot));
    expect(code(() => pm.reclaim(pm.workerSlot(slot)))).toBe("EINVAL");
    expect(pm.stats().attachedWorkers).toBe(1);
    expect(pm.core.lock_acquire_timed(lockAddr, 30)).toBe(1);
    expect(pm.core.lock_owner_died()).toBe(1);
    expect(pm.lockTakeovers()).toBe(before + 1);
    pm.core.lock_release(lockAddr);
    // Its pending count was published: only the 3 frames it kept are in use, and all others can be allocated.
    expect(pm.stats().usedFrames).toBe(3);
    expect(pm.stats().byOwner).toEqual({ 201: 3 });
    const got: number[] = [];
    for (let i = 0; i < 253; i++) got.push(pm.allocFrame());
    expect(code(() => pm.allocFrame())).toBe("ENOMEM");
    expect(new Set([...got, ...kept]).size).toBe(256);
    for (const p of got) pm.freeFrame(pm.pfn(p));
    for (const p of kept) pm.freeFrame(pm.pfn(p), 201);
    expect(pm.stats().usedFrames).toBe(0);
    // The slot can be attached again.
    const again = await PhysicalMemory.attach(pm.handle);
    expect(again.slot).toBe(slot);
    again.detach();
    pm.detach();
  });

  it("a Worker waiting for a dead Worker's lock takes it over once the slot is reclaimed", async () => {
    const { Worker } = await import("node:worker_threads");
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 4 });
    const lockAddr = pm.scratch + 8192;
    const park = new SharedArrayBuffer(4);
    const holder = new Worker(holdUrl, { workerData: { handle: pm.handle, lockAddr, cached: 0, keep: 0, park } });
    const { slot } = await once<{ slot: number }>(holder, "message");
    const waiter = new Worker(waitUrl, { workerData: { handle: pm.handle, lockAddr } });
    const msgs: Array<{ state: string; died?: number }> = [];
    const locked = new Promise<{ died: number }>((res) => waiter.on("message", (m: { state: string; died: number }) => {
      msgs.push(m); if (m.state === "locked") res(m);
    }));
    while (msgs.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    expect(msgs.map((m) => m.state)).toEqual(["waiting"]);
    await holder.terminate();
    pm.reclaim(pm.workerSlot(slot));
    const m = await locked;
    expect(m.died).toBe(1);
    await once(waiter, "exit");
    expect(pm.stats().attachedWorkers).toBe(1);
    pm.detach();
  });

  it("a reserved slot is attached by the Worker it was reserved for, and reclaimed if that Worker never attaches", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 4 });
    const s = pm.reserveSlot();
    expect(pm.stats().attachedWorkers).toBe(2);
    // Not reserved: EINVAL; reserved: attached there.
    expect(await codeAsync(() => PhysicalMemory.attach(pm.handle, { slot: s + 1 }))).toBe("EINVAL");
    const b = await PhysicalMemory.attach(pm.handle, { slot: s });
    expect(b.slot).toBe(s);
    expect(await codeAsync(() => PhysicalMemory.attach(pm.handle, { slot: s }))).toBe("EINVAL");
    b.detach();
    const r = pm.reserveSlot();
    pm.reclaim(r);
    expect(pm.stats().attachedWorkers).toBe(1);
    expect(await codeAsync(() => PhysicalMemory.attach(pm.handle, { slot: r }))).toBe("EINVAL");
    pm.detach();
  });
});
