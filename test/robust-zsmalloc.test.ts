// SPDX-License-Identifier: MIT
// Workers killed inside the allocators' critical sections (zsmalloc's class
// lock and grow lock, zbud's pool lock, lock-order level 6) are recovered by
// pm.reclaim: the debug build's park hook stops a Worker at the k-th logged
// store under a level-6 lock, the test terminates it there and reclaims its
// slot; then the pool's consistency checker (zs_check / zbud_check) passes,
// every object the main thread stored reads back exactly, and once the main
// thread freed its objects and destroyed the pool every frame is free. A
// randomized test does the same with Workers terminated at random moments.
// And a dead Worker's zsmalloc mapping no longer pins its object forever.
//
// Shown to fail: with a purpose-made bug (a store of the section written
// plainly instead of logged: allocSlot's bitmap store, listInsert's head
// store, zbud's objects counter) the checks after the kill fail, and with
// zs_reclaim_slot left out of PhysicalMemory.reclaim the pin test gets EBUSY
// (see the commit messages).
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory, type WorkerSlot } from "../bindings/physmem.js";
import { SCRATCH_SIZE } from "../bindings/layout.js";
import { SCRATCH_ROBUST } from "../bindings/layout.generated.js";
import { waitUntil } from "./helpers.js";

const workerUrl = new URL("./workers/robust-alloc.mjs", import.meta.url);
const LV_ALLOC = 6;
const STEP_MS = 20_000;
/** robust.ts area: nheld at +4, held lock addresses at +16 (its Layout drawing). */
const R_NHELD = 4;
const R_HELD = 16;

type Kind = "zs" | "zbud";
type Plan = "churn" | "malloc" | "free" | "compact" | "grow" | "zspage" | "lists" | "map-hold";

interface Stored { h: number; bytes: Uint8Array }

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** A pool with objects the main thread stored (known bytes), over one memory. */
class Fixture {
  readonly pool: number;
  readonly baseline: number;
  readonly stored: Stored[] = [];
  private readonly pfnMask: number;

  constructor(readonly pm: PhysicalMemory, readonly kind: Kind, seed: number, n: number) {
    this.baseline = pm.stats().usedFrames;
    const c = pm.core;
    this.pool = kind === "zs" ? c.zs_create_pool(8) : c.zbud_create_pool();
    expect(this.pool).toBeGreaterThanOrEqual(kind === "zs" ? 1 : 0);
    this.pfnMask = 2 ** c.zbud_pfn_bits() - 1;
    const r = rng(seed);
    for (let i = 0; i < n; i++) {
      const size = r(4) === 0 ? 1 + r(kind === "zs" ? 4096 : 3968) : 20 + r(1500);
      const bytes = new Uint8Array(size).map(() => r(256));
      const h = kind === "zs" ? c.zs_malloc(this.pool, size) : c.zbud_alloc(this.pool, size);
      expect(h).toBeGreaterThan(0);
      this.write(h, bytes);
      this.stored.push({ h, bytes });
    }
  }

  /** The object's bytes, copied out (zs: mapped read-only; zbud: in its frame). */
  read(h: number): Uint8Array | null {
    const c = this.pm.core;
    if (this.kind === "zs") {
      const a = c.zs_map_object(this.pool, h, 1);
      if (a === 0) return null;
      const size = new Uint32Array(this.pm.memory.buffer, this.pm.scratch + 16384 + 4096, 1)[0]!;
      const out = this.pm.u8.slice(a, a + size);
      expect(c.zs_unmap_object(this.pool, h)).toBe(0);
      return out;
    }
    const r = c.zbud_map(this.pool, h);
    if (r <= 0) return null;
    const pfn = (h >>> 1) & this.pfnMask;
    const a = this.pm.layout.framesBase + pfn * 4096 + (r & 0xfff);
    const out = this.pm.u8.slice(a, a + (r >>> 12));
    expect(c.zbud_unmap(this.pool, h)).toBe(0);
    return out;
  }

  private write(h: number, bytes: Uint8Array): void {
    const c = this.pm.core;
    if (this.kind === "zs") {
      const a = c.zs_map_object(this.pool, h, 2);
      expect(a).toBeGreaterThan(0);
      this.pm.u8.set(bytes, a);
      expect(c.zs_unmap_object(this.pool, h)).toBe(0);
    } else {
      const r = c.zbud_map(this.pool, h);
      expect(r).toBeGreaterThan(0);
      const pfn = (h >>> 1) & this.pfnMask;
      this.pm.u8.set(bytes, this.pm.layout.framesBase + pfn * 4096 + (r & 0xfff));
      expect(c.zbud_unmap(this.pool, h)).toBe(0);
    }
  }

  check(): number {
    return this.kind === "zs" ? this.pm.core.zs_check(this.pool) : this.pm.core.zbud_check(this.pool);
  }

  /** Objects whose bytes differ from what was stored (indices). */
  damaged(): number[] {
    const bad: number[] = [];
    this.stored.forEach((s, i) => {
      const got = this.read(s.h);
      if (got === null || Buffer.compare(got, s.bytes) !== 0) bad.push(i);
    });
    return bad;
  }

  /** Free the main thread's objects (statuses that were not 0), destroy the pool; frames still used beyond the baseline. */
  finish(): { badFrees: number[]; leaked: number } {
    const c = this.pm.core;
    const badFrees: number[] = [];
    for (const s of this.stored) {
      const r = this.kind === "zs" ? c.zs_free(this.pool, s.h) : c.zbud_free(this.pool, s.h);
      if (r !== 0) badFrees.push(r);
    }
    if (this.kind === "zs") expect(c.zs_destroy_pool(this.pool)).toBeGreaterThanOrEqual(0);
    else expect(c.zbud_destroy_pool(this.pool)).toBeGreaterThan(0);
    return { badFrees, leaked: this.pm.stats().usedFrames - this.baseline };
  }
}

function onMessage(w: Worker, cmd: string): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no "${cmd}" from the Worker within ${STEP_MS} ms`)), STEP_MS);
    const on = (m: Record<string, unknown>): void => {
      if (m.cmd === cmd) { clearTimeout(timer); w.off("message", on); res(m); }
    };
    w.on("message", on);
    w.once("error", (e) => { clearTimeout(timer); rej(e); });
  });
}

const until = (what: string, f: () => boolean): Promise<void> => waitUntil(what, f, STEP_MS, 2);

interface Started { w: Worker; slot: WorkerSlot; ctl: Int32Array; exited: Promise<number> }

function start(fx: Fixture, plan: Plan, seed: number, setup: number): Started {
  const slot = fx.pm.reserveSlot();
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const w = new Worker(workerUrl, {
    workerData: { handle: fx.pm.handle, slot, kind: fx.kind, pool: fx.pool, seed, setup, plan, ctl: ctl.buffer },
  });
  const exited = new Promise<number>((res) => w.once("exit", res));
  return { w, slot, ctl, exited };
}

/** Terminate the Worker, wait for its exit, reclaim its slot. */
async function kill(fx: Fixture, s: Started): Promise<void> {
  await s.w.terminate();
  await s.exited;
  fx.pm.reclaim(s.slot);
}

/** The lock addresses slot `slot` holds (its robust area), innermost last. */
function heldLocks(pm: PhysicalMemory, slot: number): number[] {
  const base = pm.layout.scratchBase + slot * SCRATCH_SIZE + SCRATCH_ROBUST;
  const v = new Uint32Array(pm.memory.buffer, base, 16);
  const n = Math.min(v[R_NHELD / 4]!, 8);
  return Array.from(v.subarray(R_HELD / 4, R_HELD / 4 + n));
}

/** zsmalloc pool root address (pool id = root pfn + 1) and its grow lock (ZsPool.growLock at byte 28). */
const growLockOf = (pm: PhysicalMemory, pool: number): number => pm.layout.framesBase + (pool - 1) * 4096 + 28;

/**
 * One park-and-kill: a Worker runs `plan` on a pool holding the main thread's
 * objects, parks at its k-th logged store under a level-6 lock, is killed
 * and reclaimed. Returns what the checks found.
 */
async function parkAndKill(kind: Kind, plan: Plan, k: number, seed: number, inspect?: (fx: Fixture, held: number[]) => void) {
  const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4, build: "debug" });
  try {
    const fx = new Fixture(pm, kind, seed, 120);
    const s = start(fx, plan, seed + 1, 300);
    const armed = onMessage(s.w, "arm");
    await armed;
    expect(pm.core.pm_park_arm(LV_ALLOC, s.slot, k)).toBe(0);
    Atomics.store(s.ctl, 0, 1);
    Atomics.notify(s.ctl, 0);
    await until(`Worker parked at store ${k} (${kind} ${plan})`, () => pm.core.pm_parked() === s.slot + 1);
    const held = heldLocks(pm, s.slot);
    expect(held.length).toBeGreaterThan(0);
    inspect?.(fx, held);
    const recovered0 = pm.lockRecoveries();
    await kill(fx, s);
    pm.core.pm_park_disarm();
    expect(pm.lockRecoveries()).toBeGreaterThan(recovered0);
    for (const l of held) expect(Atomics.load(new Int32Array(pm.memory.buffer, l, 1), 0)).toBe(0);
    const check = fx.check();
    const damaged = fx.damaged();
    const { badFrees, leaked } = fx.finish();
    return { check, damaged, badFrees, leaked };
  } finally {
    pm.detach();
  }
}

const clean = { check: 0, damaged: [], badFrees: [], leaked: 0 };
/** Kills per randomized test (each about 0.1 to 0.3 s here). */
const KILLS = 50;

describe("a Worker killed inside an allocator's critical section is rolled back by pm.reclaim", () => {
  const ks = [1, 2, 3, 5, 8, 13, 21, 40, 77];
  for (const plan of ["malloc", "free", "churn"] as const) {
    it(`zsmalloc class lock, ${plan}: parked at logged store k = ${ks.join(", ")}, killed, reclaimed: zs_check passes, the main thread's objects read back, every frame comes back`, async () => {
      for (const k of ks) {
        const r = await parkAndKill("zs", plan, k, 1000 + k);
        expect({ k, ...r }).toEqual({ k, ...clean });
      }
    });
  }

  it("zsmalloc class lock, mallocs and frees that move zspages between non-empty partial lists: parked at every logged store k = 1..60 in turn (every store of a batched or unbatched malloc, free and list move is a kill point), killed, reclaimed: the same checks", async () => {
    for (let k = 1; k <= 60; k++) {
      const r = await parkAndKill("zs", "lists", k, 9000 + k);
      expect({ k, ...r }).toEqual({ k, ...clean });
    }
  });

  it("zsmalloc compaction: parked at logged stores inside zs_compact (between and inside object moves), killed, reclaimed: the same checks", async () => {
    for (const k of [1, 4, 9, 17, 30, 55, 90, 150, 260, 420]) {
      const r = await parkAndKill("zs", "compact", k, 2000 + k);
      expect({ k, ...r }).toEqual({ k, ...clean });
    }
  });

  it("zsmalloc grow lock: a malloc that adds a handle-table leaf, parked inside the grow lock (k = 1, 2, 3) and just after it (k = 4), killed, reclaimed: the same checks", async () => {
    for (const k of [1, 2, 3, 4]) {
      let inGrow = false;
      const r = await parkAndKill("zs", "grow", k, 3000 + k, (fx, held) => {
        inGrow = held[held.length - 1] === growLockOf(fx.pm, fx.pool);
      });
      expect({ k, inGrow: k <= 3 }).toEqual({ k, inGrow });
      expect({ k, ...r }).toEqual({ k, ...clean });
    }
  });

  it("zsmalloc descriptor slab: a Worker whose every malloc builds a zspage with a descriptor in a new table frame and whose every free empties both (descriptors taken and given back, table frames made and freed under the grow lock), parked at logged stores k = 1..60 of a malloc+free, killed, reclaimed: the same checks", async () => {
    for (const k of [1, 2, 4, 6, 8, 10, 11, 13, 20, 24, 28, 31, 33, 36, 45, 50, 52, 54, 56, 58, 60]) {
      const r = await parkAndKill("zs", "zspage", k, 3500 + k);
      expect({ k, ...r }).toEqual({ k, ...clean });
    }
  });

  for (const plan of ["malloc", "free", "churn"] as const) {
    it(`zbud pool lock, ${plan}: parked at logged store k = ${ks.join(", ")}, killed, reclaimed: zbud_check passes, the main thread's objects read back, every frame comes back`, async () => {
      for (const k of ks) {
        const r = await parkAndKill("zbud", plan, k, 4000 + k, (fx, held) => {
          expect(held).toContain(fx.pm.layout.framesBase + fx.pool * 4096);
        });
        expect({ k, ...r }).toEqual({ k, ...clean });
      }
    });
  }
});

describe("the consistency checkers", () => {
  it("zs_check and zbud_check pass on a healthy pool and name a corrupted handle entry, counter or list", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 2 });
    try {
      const zs = new Fixture(pm, "zs", 11, 200);
      const zb = new Fixture(pm, "zbud", 12, 200);
      expect([zs.check(), zb.check()]).toEqual([0, 0]);
      const u32 = new Uint32Array(pm.memory.buffer);
      // zsmalloc: the first handle's entry (root + 64: direct leaves, pfn + 1) names another slot.
      const root = pm.layout.framesBase + (zs.pool - 1) * 4096;
      const idx = zs.stored[0]!.h & 0x7fffff;
      const leaf = u32[(root + 64 + (idx >> 9) * 4) / 4]! - 1;
      const w0 = (pm.layout.framesBase + leaf * 4096 + (idx & 511) * 8) / 4;
      const saved = u32[w0]!;
      u32[w0] = saved ^ (1 << 3);
      expect(zs.check()).toBeLessThan(0);
      u32[w0] = saved;
      expect(zs.check()).toBe(0);
      // zbud: the objects counter (ZbudPool.objects at byte 12), then an LRU cycle (head's LRU next = itself).
      const pool = (pm.layout.framesBase + zb.pool * 4096) / 4;
      u32[pool + 3]! += 1;
      expect(zb.check()).toBe(-17);
      u32[pool + 3]! -= 1;
      const head = u32[pool + 8]! - 1;
      const lruNext = (pm.layout.metaBase + head * 16 + 12) / 4;
      const keep = u32[lruNext]!;
      u32[lruNext] = (keep & 0xff000000) | (head + 1);
      expect(zb.check()).toBeLessThan(0);
      u32[lruNext] = keep;
      expect([zs.check(), zb.check()]).toEqual([0, 0]);
      expect(zb.finish()).toEqual({ badFrees: [], leaked: 0 });
      expect(zs.finish()).toEqual({ badFrees: [], leaked: 0 });
    } finally {
      pm.detach();
    }
  });
});

describe("a dead Worker's zsmalloc mapping", () => {
  it("an object a Worker mapped and never unmapped is EBUSY while the Worker lives and freeable after pm.reclaim of its slot", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4 });
    try {
      const fx = new Fixture(pm, "zs", 77, 40);
      const s = start(fx, "map-hold", 78, 50);
      const m = await onMessage(s.w, "mapped");
      const h = m.handle as number;
      expect(m.addr).not.toBe(0);
      expect(pm.core.zs_free(fx.pool, h)).toBe(-16);
      expect(pm.core.zs_check(fx.pool)).toBe(0);
      await kill(fx, s);
      expect(pm.core.zs_check(fx.pool)).toBe(0);
      expect(pm.core.zs_free(fx.pool, h)).toBe(0);
      expect(fx.damaged()).toEqual([]);
      expect(fx.finish()).toEqual({ badFrees: [], leaked: 0 });
    } finally {
      pm.detach();
    }
  });
});

describe("Workers parked at random logged stores", () => {
  for (const kind of ["zs", "zbud"] as const) {
    it(`${kind === "zs" ? "zsmalloc" : "zbud"}: one pool, ${KILLS} Workers each parked at a random logged store (random operation mix, k in 1..300), killed and reclaimed in turn: after each the checker passes and the main thread's objects read back; at the end every frame comes back`, async () => {
      const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4, build: "debug" });
      try {
        const fx = new Fixture(pm, kind, 7000, 150);
        const r = rng(7001);
        const plans: Plan[] = kind === "zs" ? ["malloc", "free", "churn", "compact"] : ["malloc", "free", "churn"];
        for (let i = 0; i < KILLS; i++) {
          const plan = plans[r(plans.length)]!;
          const k = 1 + r(300);
          const s = start(fx, plan, 8000 + i, 20 + r(200));
          await onMessage(s.w, "arm");
          expect(pm.core.pm_park_arm(LV_ALLOC, s.slot, k)).toBe(0);
          Atomics.store(s.ctl, 0, 1);
          Atomics.notify(s.ctl, 0);
          await until(`Worker ${i} parked at store ${k} (${plan})`, () => pm.core.pm_parked() === s.slot + 1);
          await kill(fx, s);
          pm.core.pm_park_disarm();
          expect({ i, plan, k, check: fx.check() }).toEqual({ i, plan, k, check: 0 });
          expect({ i, plan, k, damaged: fx.damaged() }).toEqual({ i, plan, k, damaged: [] });
        }
        expect(fx.finish()).toEqual({ badFrees: [], leaked: 0 });
      } finally {
        pm.detach();
      }
    });
  }
});

describe("Workers terminated at random moments", () => {
  for (const kind of ["zs", "zbud"] as const) {
    it(`${kind === "zs" ? "zsmalloc" : "zbud"}: 2 Workers doing malloc/free/map${kind === "zs" ? "/compact" : ""}, one terminated at a random moment again and again (${KILLS} kills, debug build): after each, the checker passes and the main thread's objects read back; at the end every frame comes back`, async () => {
      const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 6, build: "debug" });
      try {
        const fx = new Fixture(pm, kind, 5000, 150);
        const r = rng(5001);
        const live: Started[] = [];
        let kills = 0, inside = 0;
        let spawned = 0;
        const spawn = async (): Promise<void> => {
          // zsmalloc: every other Worker compacts a fragmented pool in a loop (long sections).
          const plan: Plan = kind === "zs" && spawned++ % 2 === 1 ? "compact" : "churn";
          const s = start(fx, plan, 6000 + kills * 7 + live.length, plan === "compact" ? 300 : 100);
          await onMessage(s.w, "arm");
          Atomics.store(s.ctl, 0, 1);
          Atomics.notify(s.ctl, 0);
          live.push(s);
        };
        await spawn();
        await spawn();
        while (kills < KILLS) {
          await new Promise((res) => setTimeout(res, 1 + r(25)));
          const s = live.splice(r(live.length), 1)[0]!;
          await s.w.terminate();
          await s.exited;
          if (heldLocks(pm, s.slot).length > 0) inside++;
          pm.reclaim(s.slot);
          kills++;
          // The survivor pauses between two operations: zs_check's pool-wide
          // counts are exact only while nobody else works on the pool.
          const other = live[0]!;
          Atomics.store(other.ctl, 1, 1);
          await until("the surviving Worker paused", () => Atomics.load(other.ctl, 2) === 1);
          const check = fx.check();
          expect({ kills, check }).toEqual({ kills, check: 0 });
          expect({ kills, damaged: fx.damaged() }).toEqual({ kills, damaged: [] });
          Atomics.store(other.ctl, 1, 0);
          Atomics.notify(other.ctl, 1);
          await spawn();
        }
        for (const s of live.splice(0)) await kill(fx, s);
        console.log(`${kind}: ${kills} kills, ${inside} inside a critical section`);
        expect(fx.check()).toBe(0);
        expect(fx.damaged()).toEqual([]);
        expect(fx.finish()).toEqual({ badFrees: [], leaked: 0 });
      } finally {
        pm.detach();
      }
    });
  }
});
