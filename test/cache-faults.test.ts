// SPDX-License-Identifier: MIT
// TmemCache with Workers that die: Workers doing set/get/delete/clear/sweep
// on one cache are terminated (a) at random moments, and (b) parked by the
// debug build's hook at the k-th logged store under the cache lock (level
// LV_CACHE = 2) and terminated exactly there. After each death the test
// reclaims the slot and then, on the main thread: its cache calls complete
// (no ETIMEDOUT/EBUSY, no hang), every key it sets reads back exactly, every
// Worker key that is present holds one whole stamped value, and check()
// (index, LRU list, slot free list, counters, frames, the record in flight)
// finds nothing wrong; the pool's objects equal what the entries hold (the
// parked deaths, exactly; the random ones may leak one object each: the
// essay's window between zs_malloc's return and its record). At the end,
// clear() and destroy() give every frame back.
//
// Shown to fail: with st() storing without the log (a plain store instead of
// pm_ustore32), the parked run fails at its first park inside an index
// section (check() reports the LRU list or the counters off); with the old
// ticket lock, the first Worker killed inside a cache call leaves the lock
// held and the main thread's next call throws EBUSY after LOCK_TIMEOUT_MS
// (the park hook never fires under it: the Worker never parks).
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory, type WorkerSlot } from "../bindings/physmem.js";
import { TmemCache } from "../src/cache/index.js";
import { makeValue, checkValue } from "./workers/cache-stamp.mjs";
import { waitUntil } from "./helpers.js";

const workerUrl = new URL("./workers/cache-fault-worker.mjs", import.meta.url);
const LV_CACHE = 2;
const WORKER_KEYS = 24;

const until = (what: string, ok: () => boolean, ms = 20_000): Promise<void> => waitUntil(what, ok, ms);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Started { w: Worker; slot: WorkerSlot; errors: string[]; ready: Promise<void>; exited: Promise<void> }

function start(pm: PhysicalMemory, cache: TmemCache, id: number, seed: number, extra: Record<string, unknown> = {}): Started {
  const slot = pm.reserveSlot();
  const w = new Worker(workerUrl, { workerData: { handle: cache.handle, slot, id, seed, keys: WORKER_KEYS, ...extra } });
  const errors: string[] = [];
  let readyRes!: () => void;
  const ready = new Promise<void>((r) => { readyRes = r; });
  w.on("message", (m: { ready?: boolean; error?: string }) => {
    if (m.ready) readyRes();
    if (m.error !== undefined) errors.push(m.error);
  });
  w.on("error", (e) => { errors.push(`worker ${id} died of its own: ${String(e)}`); readyRes(); });
  const exited = new Promise<void>((r) => w.once("exit", () => r()));
  return { w, slot, errors, ready, exited };
}

/** The main thread's checklist after a death: its own keys, the Workers' keys, check(). */
function checklist(cache: TmemCache, round: number, exactObjects: boolean): { leaked: number } {
  const sizes = [0, 33, 900, 4000, 9000, 20000];
  for (let i = 0; i < 12; i++) cache.set(`m:${i}`, makeValue(0, round, i, sizes[i % sizes.length]!, i % 3 === 0));
  for (let i = 0; i < 12; i++) {
    const got = cache.get(`m:${i}`);
    expect(got, `round ${round}: main key m:${i}`).toEqual(makeValue(0, round, i, sizes[i % sizes.length]!, i % 3 === 0));
  }
  for (const id of [1, 2]) {
    for (let k = 0; k < WORKER_KEYS; k++) {
      const got = cache.get(`w${id}:${k}`);
      if (got !== undefined) expect(checkValue(k, got), `round ${round}: w${id}:${k}`).toBeNull();
    }
  }
  const c = cache.check();
  expect(c.problems, `round ${round}`).toEqual([]);
  if (exactObjects) expect(c.objects, `round ${round}: pool objects`).toBe(c.expectedObjects);
  else expect(c.objects, `round ${round}: pool objects`).toBeGreaterThanOrEqual(c.expectedObjects);
  return { leaked: c.objects - c.expectedObjects };
}

describe("TmemCache: a Worker that dies inside or around a cache call costs only its own operation", () => {
  it("2 Workers terminated at random moments, 60 kills: the main thread's calls complete, its keys read back, check() passes", async () => {
    const pm = await PhysicalMemory.create({ frames: 6144, maxWorkers: 6 });
    const freeBefore = pm.stats().freeFrames;
    const cache = await TmemCache.create(pm, { budget: 8 << 20, sweepIntervalMs: 0 });
    let rng = 0x2545f491;
    const rand = (n: number): number => { rng ^= rng << 13; rng ^= rng >>> 17; rng ^= rng << 5; return (rng >>> 0) % n; };
    let kills = 0;
    let maxLeak = 0;
    const errors: string[] = [];
    for (let round = 1; kills < 60; round++) {
      const ws = [start(pm, cache, 1, 11 * round, { big: true }), start(pm, cache, 2, 13 * round + 5, { big: true })];
      await Promise.all(ws.map((x) => x.ready));
      // The main thread works beside them for a while (its calls must complete too), then each is killed at a random moment.
      const end = Date.now() + 5 + rand(40);
      while (Date.now() < end) {
        const i = rand(8);
        cache.set(`m:${i}`, makeValue(0, 1000 + round, i, 100 * i, false));
        const got = cache.get(`m:${i}`);
        if (got !== undefined) expect(checkValue(i, got)).toBeNull();
        await sleep(rand(3));
      }
      await ws[0]!.w.terminate();
      await sleep(rand(15));
      await ws[1]!.w.terminate();
      await Promise.all(ws.map((x) => x.exited));
      kills += 2;
      for (const x of ws) { pm.reclaim(x.slot); errors.push(...x.errors); }
      expect(errors).toEqual([]);
      maxLeak = Math.max(maxLeak, checklist(cache, round, false).leaked);
    }
    const st = cache.stats();
    console.log(`cache faults: ${kills} kills, ${st.recoveries} operations in flight recovered, pool objects beyond the entries' at most ${maxLeak}, ${st.evictions.budget} evictions, ${st.sets} sets`);
    expect(maxLeak).toBeLessThanOrEqual(kills);
    cache.clear();
    expect(cache.check().problems).toEqual([]);
    cache.destroy();
    expect(pm.stats().freeFrames).toBe(freeBefore);
    pm.detach();
  }, 600_000);

  it("parked at the k-th logged store under the cache lock (debug build) and terminated there: rolled back, freed, consistent", async () => {
    const pm = await PhysicalMemory.create({ frames: 4096, maxWorkers: 4, build: "debug" });
    const freeBefore = pm.stats().freeFrames;
    const cache = await TmemCache.create(pm, { budget: 4 << 20, sweepIntervalMs: 0 });
    const c = pm.core;
    const ks = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 24, 26, 28, 30, 33, 36, 40, 45, 50, 55, 60, 70, 80, 95, 110, 130, 150, 180, 220, 270, 330];
    let parks = 0;
    const recoveredBefore = pm.lockRecoveries();
    for (const k of ks) {
      checklist(cache, k, true);
      const gate = new SharedArrayBuffer(4);
      const x = start(pm, cache, 1, 7 * k + 3, { gate });
      await x.ready;
      expect(c.pm_park_arm(LV_CACHE, x.slot, k)).toBe(0);
      Atomics.store(new Int32Array(gate), 0, 1);
      await until(`store ${k}: the Worker parks`, () => x.errors.length > 0 || c.pm_parked() === x.slot + 1);
      expect(x.errors).toEqual([]);
      parks++;
      await x.w.terminate();
      await x.exited;
      c.pm_park_disarm();
      pm.reclaim(x.slot);
      checklist(cache, k, true);
    }
    expect(parks).toBe(ks.length);
    // Every park was inside the cache lock: each reclaim released it.
    expect(pm.lockRecoveries() - recoveredBefore).toBeGreaterThanOrEqual(ks.length);
    const st = cache.stats();
    console.log(`cache parks: ${parks} parks, ${st.recoveries} operations in flight recovered, ${st.leakedObjects} objects leaked`);
    expect(st.recoveries).toBeGreaterThan(0);
    expect(st.leakedObjects).toBe(0);
    cache.clear();
    const end = cache.check();
    expect(end.problems).toEqual([]);
    expect(end.objects).toBe(0);
    cache.destroy();
    expect(pm.stats().freeFrames).toBe(freeBefore);
    pm.detach();
  }, 600_000);

  it("tickets of dead Workers in the FIFO gate (one holding the lock, one waiting) are skipped: the next call completes", async () => {
    const pm = await PhysicalMemory.create({ frames: 2048, maxWorkers: 4, build: "debug" });
    const cache = await TmemCache.create(pm, { budget: 2 << 20, sweepIntervalMs: 0 });
    const root = new Int32Array(pm.memory.buffer, pm.frameAddress(pm.pfn(cache.handle.root)), 16);
    const LW_NEXT = 1, LW_SERVING = 14;
    cache.set("before", "main");
    // P parks inside the lock (it holds the mutex and the turn); D takes the next ticket and waits in the gate.
    const gate = new SharedArrayBuffer(4);
    const p = start(pm, cache, 1, 5, { gate });
    await p.ready;
    expect(pm.core.pm_park_arm(LV_CACHE, p.slot, 3)).toBe(0);
    Atomics.store(new Int32Array(gate), 0, 1);
    await until("P parks", () => p.errors.length > 0 || pm.core.pm_parked() === p.slot + 1);
    const pTicket = Atomics.load(root, LW_SERVING);
    expect(Atomics.load(root, LW_NEXT)).toBe(pTicket + 1);
    const d = start(pm, cache, 2, 9);
    await d.ready;
    await until("D waits for its turn", () => Atomics.load(root, LW_NEXT) === pTicket + 2);
    await d.w.terminate();
    await p.w.terminate();
    await Promise.all([d.exited, p.exited]);
    pm.core.pm_park_disarm();
    pm.reclaim(p.slot);
    pm.reclaim(d.slot);
    expect([...p.errors, ...d.errors]).toEqual([]);
    // The main thread's ticket comes after both dead ones: each is skipped once it has stood still for SKIP_MS with the mutex free.
    expect(cache.get("before")).toBe("main");
    expect(Atomics.load(root, LW_SERVING)).toBe(pTicket + 3);
    cache.set("after", "main");
    expect(cache.get("after")).toBe("main");
    expect(cache.check().problems).toEqual([]);
    cache.destroy();
    pm.detach();
  }, 120_000);
});
