// SPDX-License-Identifier: MIT
// Model-based test of the tmem index with reclaim as an operation: random
// sequences of the main thread's puts, gets and flushes, interleaved with
// bursts of a Worker's puts and flushes that end with the Worker terminated,
// either parked by the debug hook at a random logged store inside a stripe
// or LRU section, or at a random moment, and its slot reclaimed. The Worker
// publishes how many of its operations returned: those happened, the one in
// flight happened or not (both are accepted, then the model follows what the
// index says), the rest did not. After each burst tmem_check passes, and
// after every command the model and the index agree on every key.
//
// Shown to fail: with robust.ts's rollback disabled, the first parked burst
// breaks tmem_check or the model (a half-done put/flush survives).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Worker } from "node:worker_threads";
import { PhysicalMemory } from "../bindings/physmem.js";
import { sixWordOids } from "./helpers.js";

const workerUrl = new URL("./workers/reclaim-model.mjs", import.meta.url);
const KEYS = 24;
const NONE = -1;

type Cmd =
  | { t: "put"; key: number; val: number }
  | { t: "flush"; key: number }
  | { t: "burst"; ops: Array<[number, number, number]>; level: number; k: number; delayMs: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("put" as const), key: fc.nat(KEYS - 1), val: fc.integer({ min: 1, max: 1 << 30 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("flush" as const), key: fc.nat(KEYS - 1) }) },
  {
    weight: 1, arbitrary: fc.record({
      t: fc.constant("burst" as const),
      ops: fc.array(fc.tuple(fc.nat(2).map((x) => (x === 2 ? 1 : 0)), fc.nat(KEYS - 1), fc.integer({ min: 1, max: 1 << 30 })), { minLength: 1, maxLength: 40 }),
      // 0: terminate at a random moment; 4/5: park at the k-th logged store under a stripe / LRU lock.
      level: fc.constantFrom(0, 4, 4, 5),
      k: fc.integer({ min: 1, max: 12 }),
      delayMs: fc.nat(6),
    }),
  },
);

describe("tmem index model with reclaim as an operation", () => {
  it("puts, flushes and Workers killed mid-burst: the index follows the model", async () => {
    const pm = await PhysicalMemory.create({ frames: 512, maxWorkers: 4, build: "debug" });
    const c = sixWordOids(pm);
    expect(c.tmem_init()).toBe(0);
    const dom = c.tmem_new_domain();
    const out = (): Uint32Array => new Uint32Array(pm.memory.buffer, c.tmem_out_area(), 4);
    let bursts = 0, parked = 0, inFlight = 0;
    await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 12 }), fc.boolean(), async (cmds, persistent) => {
      // A persistent pool (no eviction: exact model) or an ephemeral one on an LRU (its pages stay: nothing evicts here).
      const pool = c.tmem_new_pool(persistent ? 1 : 0, 0, 0, 0, 0, persistent ? 0 : dom, 9);
      expect(pool).toBeGreaterThanOrEqual(0);
      const model: number[] = new Array(KEYS).fill(NONE);
      const actual = (key: number): number => {
        const r = c.tmem_get(pool, 5, key, 0, 0, 0, 0, 0, 2);
        if (r !== 1) return NONE;
        const v = out()[0]!;
        expect(c.tmem_unpin(out()[3]!)).toBe(0);
        return v;
      };
      const agree = (): void => { for (let k = 0; k < KEYS; k++) expect(actual(k), `key ${k}`).toBe(model[k]); };
      for (const m of cmds) {
        if (m.t === "put") {
          const r = c.tmem_put(pool, 5, m.key, 0, 0, 0, 0, 0, m.val, 0, 0, 0);
          expect(r).toBe(model[m.key] === NONE ? 0 : 1);
          if (r === 1) expect(out()[0]).toBe(model[m.key]);
          model[m.key] = m.val;
        } else if (m.t === "flush") {
          expect(c.tmem_flush_page(pool, 5, m.key, 0, 0, 0, 0, 0)).toBe(model[m.key] === NONE ? 0 : 1);
          model[m.key] = NONE;
        } else {
          bursts++;
          const ops = new Int32Array(new SharedArrayBuffer(m.ops.length * 12));
          m.ops.forEach(([kind, key, val], i) => ops.set([kind, key, val], i * 3));
          const progress = new Int32Array(new SharedArrayBuffer(12));
          const slot = pm.reserveSlot();
          const w = new Worker(workerUrl, { workerData: { handle: pm.handle, slot, pool, ops: ops.buffer, progress: progress.buffer } });
          let finished = false;
          await new Promise<void>((res, rej) => { w.once("error", rej); w.on("message", (msg) => { if (msg === "ready") res(); else finished = true; }); });
          if (m.level !== 0) expect(c.pm_park_arm(m.level, slot, m.k)).toBe(0);
          Atomics.store(progress, 1, 1);
          Atomics.notify(progress, 1);
          if (m.level !== 0) {
            const end = Date.now() + 5000;
            while (!finished && c.pm_parked() !== slot + 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
            if (c.pm_parked() === slot + 1) parked++;
          } else {
            await new Promise((r) => setTimeout(r, m.delayMs));
          }
          await w.terminate();
          c.pm_park_disarm();
          pm.reclaim(slot);
          expect(c.tmem_check(0), "tmem_check after the reclaim").toBe(0);
          const done = Atomics.load(progress, 0);
          for (let i = 0; i < done; i++) { const [kind, key, val] = m.ops[i]!; model[key] = kind === 0 ? val : NONE; }
          if (done < m.ops.length) {
            // The operation in flight: it happened or it did not, never half.
            const [kind, key, val] = m.ops[done]!;
            const now = actual(key);
            const after = kind === 0 ? val : NONE;
            expect([model[key], after], `in-flight op on key ${key}`).toContain(now);
            if (now !== model[key]) inFlight++;
            model[key] = now;
          }
        }
        agree();
      }
      // Clean up this run's pool: everything it holds drains away.
      expect(c.tmem_destroy_pool(pool)).toBe(1);
      while (c.tmem_pool_drain(pool, 64) > 0);
      expect(c.tmem_pool_release(pool)).toBe(0);
    }), { numRuns: 25, seed: 20261202 });
    expect(c.tmem_check(1), "every descriptor accounted for").toBe(0);
    console.log(`reclaim model: ${bursts} Worker bursts, ${parked} parked inside a section, ${inFlight} in-flight ops found done`);
    expect(parked).toBeGreaterThan(0);
    pm.detach();
  }, 240_000);
});
