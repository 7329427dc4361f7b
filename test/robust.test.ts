// SPDX-License-Identifier: MIT
// Robust critical sections (assembly/robust.ts): a Worker stopped inside a
// tmem critical section, at a chosen logged store, and terminated there. The
// debug build's park hook stops it exactly at the k-th logged store under a
// lock of the chosen level; the test then terminates it and reclaims its
// slot. The reclaim must roll the section back and release the lock: no lock
// stays held, the index and the LRU lists are consistent (tmem_check), the
// main thread's pages are all there with their exact descriptors, and after
// everything is flushed every descriptor is accounted for.
//
// Shown to fail: with the rollback loop in robust.ts recoverSlot disabled
// (entries not undone), tmem_check reports -3/-4 (LRU links or counts) or -7
// (a lock still held) within the first levels; with the lock release
// disabled, -7.
import { describe, expect, it } from "vitest";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { waitUntil, sixWordOids } from "./helpers.js";

const workerUrl = new URL("./workers/robust-park.mjs", import.meta.url);

/** Lock-order levels (assembly/robust.ts LV_*). */
const LV_TMEM_POOLS = 3, LV_STRIPE = 4, LV_LRU = 5;
const MAIN_KEYS = 200;
const WORKER_KEYS = 96;

const until = (what: string, ok: () => boolean, ms = 10_000): Promise<void> => waitUntil(what, ok, ms, 2);

describe("a Worker terminated inside a tmem critical section is rolled back by its reclaim", () => {
  it("at the k-th logged store under the pool-table, stripe and LRU locks", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 4, build: "debug" });
    const c = sixWordOids(pm);
    expect(c.tmem_init()).toBe(0);
    const dMain = c.tmem_new_domain();
    const dWorker = c.tmem_new_domain();
    expect(dMain).toBeGreaterThan(0);
    expect(dWorker).toBeGreaterThan(0);
    const mainPool = c.tmem_new_pool(0, 0, 0, 0, 0, dMain, 1);
    const workerPool = c.tmem_new_pool(0, 0, 0, 0, 0, dWorker, 2);
    const persPool = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 3);
    expect(Math.min(mainPool, workerPool, persPool)).toBeGreaterThanOrEqual(0);
    const out = (): Uint32Array => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
    // The main thread's pages: ephemeral ones on their own LRU, persistent ones, each with its own pampd.
    for (let k = 0; k < MAIN_KEYS; k++) {
      expect(c.tmem_put(mainPool, 1, k, 0, 0, 0, 0, 0, 0x5000 + k, 0, k, 0)).toBe(0);
      expect(c.tmem_put(persPool, 2, k, 0, 0, 0, 0, 0, 0x9000 + k, 0, k, 0)).toBe(0);
    }
    const mainIntact = (): void => {
      for (let k = 0; k < MAIN_KEYS; k++) {
        expect(c.tmem_get(mainPool, 1, k, 0, 0, 0, 0, 0, 2)).toBe(1);
        expect(out()[0]).toBe(0x5000 + k);
        expect(c.tmem_unpin(out()[3]!)).toBe(0);
        expect(c.tmem_get(persPool, 2, k, 0, 0, 0, 0, 0, 2)).toBe(1);
        expect(out()[0]).toBe(0x9000 + k);
        expect(c.tmem_unpin(out()[3]!)).toBe(0);
      }
    };
    let parkedRuns = 0;
    const recoveredBefore = pm.lockRecoveries();
    for (const level of [LV_TMEM_POOLS, LV_STRIPE, LV_LRU]) {
      for (const k of [1, 2, 3, 4, 5, 7, 9]) {
        const slot = pm.reserveSlot();
        const w = new Worker(workerUrl, { workerData: { handle: pm.handle, slot, pool: workerPool, domain: dWorker, keys: WORKER_KEYS } });
        let failed: unknown;
        w.on("error", (e) => { failed = e; });
        await new Promise<void>((res) => w.once("message", () => res()));
        expect(c.pm_park_arm(level, slot, k)).toBe(0);
        await until(`level ${level}, store ${k}: the Worker parks`, () => failed !== undefined || c.pm_parked() === slot + 1);
        expect(failed).toBeUndefined();
        parkedRuns++;
        await w.terminate();
        c.pm_park_disarm();
        pm.reclaim(slot);
        // Rolled back and released: nothing held, index and lists consistent.
        expect({ level, k, check: c.tmem_check(0) }).toEqual({ level, k, check: 0 });
        mainIntact();
      }
    }
    expect(parkedRuns).toBe(21);
    // Every park was inside a wasm lock: each reclaim released at least one.
    expect(pm.lockRecoveries() - recoveredBefore).toBeGreaterThanOrEqual(21);
    // The Worker's keys still work from here, and everything flushes away.
    for (let k = 0; k < WORKER_KEYS; k++) c.tmem_put(workerPool, 7, k >> 3, 0, 0, 0, 0, k & 7, 1, 0, 0, 0);
    for (const p of [mainPool, workerPool, persPool]) {
      expect(c.tmem_destroy_pool(p)).toBe(1);
      while (c.tmem_pool_drain(p, 64) > 0);
      expect(c.tmem_pool_release(p)).toBe(0);
    }
    expect(c.tmem_check(1)).toBe(0);
    expect(c.tmem_free_domain(dMain)).toBe(0);
    expect(c.tmem_free_domain(dWorker)).toBe(0);
    pm.detach();
  }, 120_000);

  it("descriptor frames reaped by three threads at once while two Workers put and flush, and are killed at random moments", async () => {
    const pm = await PhysicalMemory.create({ frames: 1024, maxWorkers: 6 });
    const c = sixWordOids(pm);
    expect(c.tmem_init()).toBe(0);
    const d = c.tmem_new_domain();
    const pools = [c.tmem_new_pool(0, 0, 0, 0, 0, d, 2), c.tmem_new_pool(0, 0, 0, 0, 0, d, 3)];
    const mine = c.tmem_new_pool(1, 0, 0, 0, 0, 0, 1);
    let reaped = 0;
    for (let round = 0; round < 6; round++) {
      const ws = pools.map((pool) => {
        const slot = pm.reserveSlot();
        return { slot, w: new Worker(workerUrl, { workerData: { handle: pm.handle, slot, pool, domain: d, keys: 400 } }) };
      });
      await Promise.all(ws.map(({ w }) => new Promise<void>((res) => w.once("message", () => res()))));
      const end = Date.now() + 150 + round * 40;
      let k = 0;
      while (Date.now() < end) {
        // The main thread's own pages come and go, so descriptor frames empty and refill.
        for (let i = 0; i < 200; i++) c.tmem_put(mine, 3, round, 0, 0, 0, 0, k + i, 0x7000 + i, 0, 0, 0);
        for (let i = 0; i < 200; i++) expect(c.tmem_flush_page(mine, 3, round, 0, 0, 0, 0, k + i)).toBe(1);
        reaped += c.tmem_slab_reap();
        k += 200;
        await new Promise((r) => setTimeout(r, 0));
      }
      for (const { w, slot } of ws) { await w.terminate(); pm.reclaim(slot); }
      expect(c.tmem_check(0), `round ${round}`).toBe(0);
    }
    for (const p of [...pools, mine]) {
      expect(c.tmem_destroy_pool(p)).toBe(1);
      while (c.tmem_pool_drain(p, 64) > 0);
      expect(c.tmem_pool_release(p)).toBe(0);
    }
    reaped += c.tmem_slab_reap();
    // Structure intact; descriptors accounted for up to a stated bound: a Worker
    // killed at a random moment OUTSIDE a critical section, between taking
    // descriptors from a shared stack and recording them in its cache (a refill
    // of up to 16, a freshly carved frame of 63, a trim), leaks those.
    const check = c.tmem_check(1);
    const leaked = c.tmem_check_unaccounted();
    console.log(`reap test: ${reaped} descriptor frames reaped; ${leaked} descriptors unaccounted after 12 random kills`);
    expect(check === 0 || (check === -6 && leaked > 0 && leaked <= 12 * 64), `tmem_check ${check}, ${leaked} unaccounted`).toBe(true);
    expect(reaped).toBeGreaterThan(0);
    pm.detach();
  }, 120_000);

  it("the park hook is a no-op in the release build", async () => {
    const pm = await PhysicalMemory.create({ frames: 64, maxWorkers: 2, build: "release" });
    expect(pm.core.pm_park_arm(4, 1, 1)).toBe(-22);
    expect(pm.core.pm_parked()).toBe(0);
    pm.detach();
  });
});
